//! The runtime with a toy coordinator: a counter whose additions are records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use strata_proto::{ManualClock, SharedClock};

use crate::*;

#[derive(Default)]
struct Counter {
    total: i64,
}

#[derive(Debug, PartialEq)]
enum Reply {
    Total(i64),
    Failed,
}

impl StateMachine for Counter {
    type Request = i64;
    type Reply = Reply;
    type Record = i64;

    fn handle(&mut self, id: RequestId, add: i64, _now: i64) -> Output<i64, Reply> {
        self.total += add;
        Output {
            records: if add == 0 { vec![] } else { vec![add] },
            replies: vec![(id, Reply::Total(self.total))],
        }
    }
    fn tick(&mut self, _now: i64) -> Output<i64, Reply> {
        Output::default()
    }
    fn next_deadline(&self) -> Option<i64> {
        None
    }
    fn replay(&mut self, add: i64, _now: i64) {
        self.total += add;
    }
    fn reset(&mut self) {
        self.total = 0;
    }
    fn failed(_: Reply, _: &WriteError) -> Reply {
        Reply::Failed
    }
}

#[derive(Default)]
struct Log {
    records: Mutex<Vec<i64>>,
    fail: AtomicBool,
}

impl PartitionWriter<i64> for Log {
    fn append(&self, records: &[i64], _now: i64) -> Result<(), WriteError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(WriteError::new(WriteFailure::Unavailable, "disk full"));
        }
        self.records.lock().extend_from_slice(records);
        Ok(())
    }
    fn read_all(&self) -> Result<Vec<i64>, LoadError> {
        Ok(self.records.lock().clone())
    }
}

fn runtime() -> CoordinatorRuntime<Counter> {
    let clock: SharedClock = ManualClock::new(0);
    CoordinatorRuntime::new(clock)
}

#[tokio::test]
async fn a_reply_comes_only_after_its_records_are_in_the_log() {
    let rt = runtime();
    let log = Arc::new(Log::default());
    rt.load(3, Counter::default(), log.clone()).unwrap();
    assert_eq!(rt.call(3, 5).await.unwrap(), Reply::Total(5));
    assert_eq!(*log.records.lock(), vec![5], "durable before the reply");
    assert_eq!(rt.call(3, 2).await.unwrap(), Reply::Total(7));
    assert_eq!(*log.records.lock(), vec![5, 2]);
}

#[tokio::test]
async fn a_failed_append_fails_the_reply_and_memory_follows_the_log() {
    let rt = runtime();
    let log = Arc::new(Log::default());
    rt.load(0, Counter::default(), log.clone()).unwrap();
    rt.call(0, 5).await.unwrap();
    log.fail.store(true, Ordering::SeqCst);
    assert_eq!(rt.call(0, 100).await.unwrap(), Reply::Failed);
    log.fail.store(false, Ordering::SeqCst);
    // The failed addition is gone from memory too: 5 + 1, not 105 + 1.
    assert_eq!(rt.call(0, 1).await.unwrap(), Reply::Total(6));
}

#[tokio::test]
async fn shards_load_from_their_partition_and_unload_on_loss() {
    let rt = runtime();
    let log = Arc::new(Log::default());
    log.records.lock().extend([1, 2, 3]);
    assert!(matches!(rt.call(7, 1).await, Err(NotCoordinator(7))));
    assert_eq!(rt.load(7, Counter::default(), log.clone()).unwrap(), 3);
    assert_eq!(rt.call(7, 0).await.unwrap(), Reply::Total(6));
    assert_eq!(rt.partitions(), vec![7]);
    rt.unload(7);
    assert!(matches!(rt.call(7, 1).await, Err(NotCoordinator(7))));
    // Loaded again (leadership came back): the state is the log's, nothing more.
    rt.load(7, Counter::default(), log).unwrap();
    assert_eq!(rt.call(7, 0).await.unwrap(), Reply::Total(6));
    rt.shutdown().await;
    assert!(rt.partitions().is_empty());
}

#[tokio::test]
async fn shards_are_independent() {
    let rt = runtime();
    let (a, b) = (Arc::new(Log::default()), Arc::new(Log::default()));
    rt.load(0, Counter::default(), a.clone()).unwrap();
    rt.load(1, Counter::default(), b.clone()).unwrap();
    rt.call(0, 10).await.unwrap();
    assert_eq!(rt.call(1, 1).await.unwrap(), Reply::Total(1));
    b.fail.store(true, Ordering::SeqCst);
    assert_eq!(rt.call(1, 1).await.unwrap(), Reply::Failed);
    assert_eq!(rt.call(0, 1).await.unwrap(), Reply::Total(11));
    assert_eq!((a.records.lock().len(), b.records.lock().len()), (2, 1));
}
