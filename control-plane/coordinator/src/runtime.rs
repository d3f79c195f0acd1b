//! The shards of one coordinator, by partition.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use strata_proto::SharedClock;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::machine::StateMachine;
use crate::shard::{load, Envelope, LoadError, PartitionWriter, Shard};

/// Requests a shard holds before callers wait.
const QUEUE: usize = 1024;

/// This node does not (or no longer) coordinate the partition: Kafka's NOT_COORDINATOR.
#[derive(Debug, thiserror::Error)]
#[error("partition {0} is not coordinated here")]
pub struct NotCoordinator(pub i32);

struct Handle<S: StateMachine> {
    tx: mpsc::Sender<Envelope<S>>,
    stop: CancellationToken,
}

/// The loaded shards of one coordinator.
pub struct CoordinatorRuntime<S: StateMachine> {
    shards: RwLock<HashMap<i32, Handle<S>>>,
    clock: SharedClock,
    stop: CancellationToken,
    /// Every shard task, so shutdown can wait for them.
    tasks: TaskTracker,
}

impl<S: StateMachine> CoordinatorRuntime<S> {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            shards: RwLock::new(HashMap::new()),
            clock,
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// Takes over `partition` (this node now leads it): replays it into `machine` and
    /// starts its shard. A partition already loaded is replaced. Needs a Tokio runtime.
    pub fn load(
        &self,
        partition: i32,
        mut machine: S,
        writer: Arc<dyn PartitionWriter<S::Record>>,
    ) -> Result<usize, LoadError> {
        let n = load(&mut machine, writer.as_ref(), self.clock.now_ms())?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let stop = self.stop.child_token();
        let shard = Shard {
            partition,
            machine,
            writer,
            rx,
            clock: self.clock.clone(),
        };
        self.tasks.spawn(shard.run(stop.clone()));
        if let Some(old) = self.shards.write().insert(partition, Handle { tx, stop }) {
            old.stop.cancel();
        }
        Ok(n)
    }

    /// Gives up `partition` (leadership moved): its shard stops; calls for it answer
    /// [`NotCoordinator`], and waiting ones are dropped.
    pub fn unload(&self, partition: i32) {
        if let Some(h) = self.shards.write().remove(&partition) {
            h.stop.cancel();
        }
    }

    /// The partitions loaded here, ascending.
    pub fn partitions(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.shards.read().keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Sends `request` to `partition`'s shard and waits for its reply (which may come
    /// only after a later request or timer, e.g. the end of a rebalance).
    pub async fn call(
        &self,
        partition: i32,
        request: S::Request,
    ) -> Result<S::Reply, NotCoordinator> {
        let tx = self
            .shards
            .read()
            .get(&partition)
            .map(|h| h.tx.clone())
            .ok_or(NotCoordinator(partition))?;
        let (reply, rx) = oneshot::channel();
        tx.send((request, reply))
            .await
            .map_err(|_| NotCoordinator(partition))?;
        rx.await.map_err(|_| NotCoordinator(partition))
    }

    /// Stops every shard and waits until their tasks have ended (a step in progress
    /// finishes its append first).
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.shards.write().clear();
        self.tasks.close();
        self.tasks.wait().await;
    }
}
