//! The RemoteStorageManager contract, run against every backend: object_store's
//! InMemory and LocalFileSystem here, and a real S3-compatible server when
//! `STRATA_TEST_S3_BUCKET` is set (with the `AWS_*` variables that
//! `localstack/s3-emulator.sh start` prints).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::ObjectStore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::*;

fn meta(start: i64, size: u64) -> RemoteLogSegmentMetadata {
    RemoteLogSegmentMetadata {
        segment_id: RemoteLogSegmentId {
            tp: TopicIdPartition {
                topic_id: Uuid::new_v4(),
                topic: "orders".into(),
                partition: 3,
            },
            id: Uuid::new_v4(),
        },
        start_offset: start,
        end_offset: start + 99,
        max_timestamp_ms: 1,
        broker_id: 1,
        event_timestamp_ms: 1,
        segment_size_bytes: size,
        segment_leader_epochs: BTreeMap::from([(0, start)]),
        state: RemoteLogSegmentState::CopySegmentStarted,
    }
}

fn segment_files(dir: &std::path::Path, size: usize, with_optional: bool) -> LogSegmentData {
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("s.log"), &data).unwrap();
    std::fs::write(dir.join("s.index"), b"offset-index").unwrap();
    std::fs::write(dir.join("s.timeindex"), b"time-index").unwrap();
    std::fs::write(dir.join("s.txnindex"), b"txn-index").unwrap();
    std::fs::write(dir.join("s.snapshot"), b"producer-snapshot").unwrap();
    LogSegmentData {
        log_segment: dir.join("s.log"),
        offset_index: dir.join("s.index"),
        time_index: dir.join("s.timeindex"),
        transaction_index: with_optional.then(|| dir.join("s.txnindex")),
        producer_snapshot: with_optional.then(|| dir.join("s.snapshot")),
        leader_epoch_index: Bytes::from_static(b"0 0\n"),
    }
}

/// The whole contract against one store.
async fn conformance(store: Arc<dyn ObjectStore>, prefix: &str) {
    let rsm = ObjectStoreRsm::new(store, prefix, RetryPolicy::default());
    let cancel = CancellationToken::new();
    let dir = tempfile::tempdir().unwrap();
    for (size, optional) in [(10_000usize, true), (MULTIPART_PART_SIZE + 12_345, false)] {
        let data = segment_files(dir.path(), size, optional);
        let m = meta(1000, size as u64);
        let original = std::fs::read(&data.log_segment).unwrap();
        rsm.copy_log_segment_data(&m, &data, &cancel).await.unwrap();
        // Idempotent copy.
        rsm.copy_log_segment_data(&m, &data, &cancel).await.unwrap();
        // Ranges: whole, start, middle, end (inclusive), open end.
        let all = rsm.fetch_log_segment(&m, 0, None, &cancel).await.unwrap();
        assert_eq!(all.len(), size);
        assert_eq!(&all[..], &original[..]);
        let start = rsm
            .fetch_log_segment(&m, 0, Some(99), &cancel)
            .await
            .unwrap();
        assert_eq!(&start[..], &original[..100]);
        let mid = rsm
            .fetch_log_segment(&m, 5000, Some(5999), &cancel)
            .await
            .unwrap();
        assert_eq!(&mid[..], &original[5000..6000]);
        let last = size as u64 - 1;
        let end = rsm
            .fetch_log_segment(&m, last - 9, Some(last), &cancel)
            .await
            .unwrap();
        assert_eq!(&end[..], &original[size - 10..]);
        let tail = rsm
            .fetch_log_segment(&m, last - 9, None, &cancel)
            .await
            .unwrap();
        assert_eq!(tail, end);
        // Indexes.
        let idx = |t| rsm.fetch_index(&m, t, &cancel);
        assert_eq!(&idx(IndexType::Offset).await.unwrap()[..], b"offset-index");
        assert_eq!(&idx(IndexType::Timestamp).await.unwrap()[..], b"time-index");
        assert_eq!(&idx(IndexType::LeaderEpoch).await.unwrap()[..], b"0 0\n");
        if optional {
            assert_eq!(
                &idx(IndexType::Transaction).await.unwrap()[..],
                b"txn-index"
            );
            assert_eq!(
                &idx(IndexType::ProducerSnapshot).await.unwrap()[..],
                b"producer-snapshot"
            );
        } else {
            assert!(matches!(
                idx(IndexType::Transaction).await,
                Err(RemoteStorageError::NotFound(_))
            ));
        }
        // Delete, idempotently; then everything is gone.
        rsm.delete_log_segment_data(&m, &cancel).await.unwrap();
        rsm.delete_log_segment_data(&m, &cancel).await.unwrap();
        assert!(matches!(
            rsm.fetch_log_segment(&m, 0, Some(10), &cancel).await,
            Err(RemoteStorageError::NotFound(_))
        ));
        assert!(matches!(
            idx(IndexType::Offset).await,
            Err(RemoteStorageError::NotFound(_))
        ));
    }
    // A cancelled call returns promptly.
    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let m = meta(0, 1);
    assert!(matches!(
        rsm.fetch_index(&m, IndexType::Offset, &cancelled).await,
        Err(RemoteStorageError::Cancelled)
    ));
}

#[tokio::test]
async fn in_memory_store() {
    let (store, prefix) = store_from_url("memory://").unwrap();
    conformance(store, &prefix).await;
}

#[tokio::test]
async fn local_file_system_store() {
    let dir = tempfile::tempdir().unwrap();
    let (store, prefix) = store_from_url(&format!("file://{}", dir.path().display())).unwrap();
    conformance(store, &prefix).await;
}

/// Against a real S3-compatible server: `eval "$(localstack/s3-emulator.sh start 4599
/// strata-test)"` then `STRATA_TEST_S3_BUCKET=strata-test cargo test -p strata-remote`.
#[tokio::test]
async fn s3_compatible_store_when_configured() {
    let Ok(bucket) = std::env::var("STRATA_TEST_S3_BUCKET") else {
        eprintln!("STRATA_TEST_S3_BUCKET not set: skipping the S3 conformance run");
        return;
    };
    let (store, prefix) = store_from_url(&format!("s3://{bucket}/conformance")).unwrap();
    conformance(store, &prefix).await;
}

#[tokio::test]
async fn retry_retries_retryable_errors_only() {
    let policy = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    let cancel = CancellationToken::new();
    let calls = AtomicU32::new(0);
    let r = retry("flaky", &policy, &cancel, || async {
        if calls.fetch_add(1, Ordering::SeqCst) < 3 {
            Err(RemoteStorageError::Store {
                message: "503 slow down".into(),
                retryable: true,
            })
        } else {
            Ok(7)
        }
    })
    .await;
    assert_eq!(r.unwrap(), 7);
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    let calls = AtomicU32::new(0);
    let r: Result<(), _> = retry("permanent", &policy, &cancel, || async {
        calls.fetch_add(1, Ordering::SeqCst);
        Err(RemoteStorageError::NotFound("x".into()))
    })
    .await;
    assert!(matches!(r, Err(RemoteStorageError::NotFound(_))));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "permanent errors are not retried"
    );

    let r: Result<(), _> = retry("always", &policy, &cancel, || async {
        Err(RemoteStorageError::Store {
            message: "timeout".into(),
            retryable: true,
        })
    })
    .await;
    assert!(r.is_err(), "gives up after max_attempts");
}

#[tokio::test]
async fn cancellation_stops_a_retry_loop() {
    let policy = RetryPolicy {
        max_attempts: 1000,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(1),
    };
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c2.cancel();
    });
    let started = std::time::Instant::now();
    let r: Result<(), _> = retry("forever", &policy, &cancel, || async {
        Err(RemoteStorageError::Store {
            message: "503".into(),
            retryable: true,
        })
    })
    .await;
    assert!(matches!(r, Err(RemoteStorageError::Cancelled)));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn state_transitions() {
    use RemoteLogSegmentState::*;
    assert!(CopySegmentStarted.can_move_to(CopySegmentFinished));
    assert!(CopySegmentFinished.can_move_to(DeleteSegmentStarted));
    assert!(DeleteSegmentStarted.can_move_to(DeleteSegmentFinished));
    assert!(!CopySegmentFinished.can_move_to(CopySegmentStarted));
    assert!(!DeleteSegmentFinished.can_move_to(CopySegmentFinished));
    assert!(!CopySegmentStarted.can_move_to(DeleteSegmentFinished));
}
