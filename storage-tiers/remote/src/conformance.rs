//! The contract of [`RemoteStorageManager`] and [`RemoteLogMetadataStore`], as
//! functions every backend runs (InMemory, LocalFileSystem, a real S3-compatible
//! server; see `conformance_tests.rs`). Each function panics on a broken contract and
//! uses a fresh topic id, so several may share one bucket and prefix.
//!
//! Enabled by the `testing` feature for other crates' tests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::ObjectStore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::*;

/// Quick retries, so a flaky emulator does not fail a run but a bug does not hang it.
pub fn test_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(200),
    }
}

/// A partition of a new topic incarnation named `topic`.
pub fn new_partition(topic: &str, partition: i32) -> TopicIdPartition {
    TopicIdPartition::new(TopicId::random(), topic.to_string(), partition)
}

/// A segment of `tp` covering `start..start+100` in leader epoch `epoch`.
pub fn segment(
    tp: &TopicIdPartition,
    start: i64,
    size: u64,
    epoch: i32,
) -> RemoteLogSegmentMetadata {
    RemoteLogSegmentMetadata {
        segment_id: RemoteLogSegmentId {
            tp: tp.clone(),
            id: Uuid::new_v4(),
        },
        start_offset: start,
        end_offset: start + 99,
        max_timestamp_ms: 1_700_000_000_000 + start,
        broker_id: 1,
        event_timestamp_ms: 1_700_000_000_000,
        segment_size_bytes: size,
        segment_leader_epochs: BTreeMap::from([(epoch, start)]),
        state: RemoteLogSegmentState::CopySegmentStarted,
    }
}

/// Deterministic segment bytes.
pub fn segment_bytes(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Writes a segment of `size` bytes and its indexes into `dir`; the optional
/// transaction index and producer snapshot only if `with_optional`.
pub fn segment_files(dir: &std::path::Path, size: usize, with_optional: bool) -> LogSegmentData {
    std::fs::write(dir.join("s.log"), segment_bytes(size)).expect("write segment");
    std::fs::write(dir.join("s.index"), b"offset-index").expect("write index");
    std::fs::write(dir.join("s.timeindex"), b"time-index").expect("write index");
    std::fs::write(dir.join("s.txnindex"), b"txn-index").expect("write index");
    std::fs::write(dir.join("s.snapshot"), b"producer-snapshot").expect("write snapshot");
    LogSegmentData {
        log_segment: dir.join("s.log"),
        offset_index: dir.join("s.index"),
        time_index: dir.join("s.timeindex"),
        transaction_index: with_optional.then(|| dir.join("s.txnindex")),
        producer_snapshot: with_optional.then(|| dir.join("s.snapshot")),
        leader_epoch_index: Bytes::from_static(b"0\n1\n0 0\n"),
    }
}

fn rsm(store: Arc<dyn ObjectStore>, prefix: &str) -> ObjectStoreRsm {
    ObjectStoreRsm::new(store, prefix, test_policy())
}

fn rlmm(store: Arc<dyn ObjectStore>, prefix: &str) -> RemoteLogMetadataStore {
    RemoteLogMetadataStore::new(store, prefix, test_policy())
}

/// Copy, fetch ranges (start, middle, end; `end_position` inclusive), fetch every
/// index, idempotent copy and delete, fetch after delete is `NotFound`, for a segment
/// of `size` bytes (use one above [`MULTIPART_PART_SIZE`] for the multipart path).
pub async fn copy_fetch_delete(store: Arc<dyn ObjectStore>, prefix: &str, size: usize) {
    let rsm = rsm(store, prefix);
    let cancel = CancellationToken::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let tp = new_partition("orders", 3);
    for optional in [true, false] {
        let data = segment_files(dir.path(), size, optional);
        let m = segment(&tp, 1000, size as u64, 0);
        let original = segment_bytes(size);
        rsm.copy_log_segment_data(&m, &data, &cancel)
            .await
            .expect("copy");
        rsm.copy_log_segment_data(&m, &data, &cancel)
            .await
            .expect("copy again (idempotent)");

        let fetch = |start, end| rsm.fetch_log_segment(&m, start, end, &cancel);
        let all = fetch(0, None).await.expect("fetch all");
        assert_eq!(all.len(), size);
        assert!(all[..] == original[..], "whole segment differs");
        assert_eq!(
            &fetch(0, Some(0)).await.expect("first byte")[..],
            &original[..1]
        );
        assert_eq!(
            &fetch(0, Some(99)).await.expect("start")[..],
            &original[..100]
        );
        let mid = size / 2;
        assert_eq!(
            &fetch(mid as u64, Some(mid as u64 + 999))
                .await
                .expect("middle")[..],
            &original[mid..mid + 1000]
        );
        let last = size as u64 - 1;
        let end = fetch(last - 9, Some(last)).await.expect("end, inclusive");
        assert_eq!(&end[..], &original[size - 10..]);
        assert_eq!(fetch(last - 9, None).await.expect("open end"), end);
        assert_eq!(
            &fetch(last, Some(last)).await.expect("last byte")[..],
            &original[size - 1..]
        );
        assert!(matches!(
            fetch(size as u64, None).await,
            Err(RemoteStorageError::InvalidRange(_))
        ));
        // Paced reads return the same bytes (a limiter fast enough to take no time).
        let pace = crate::RateLimiter::new(1 << 40);
        let paced = rsm
            .fetch_log_segment_paced(&m, mid as u64, None, &pace, &cancel)
            .await
            .expect("paced fetch");
        assert!(paced[..] == original[mid..], "paced fetch differs");
        assert!(matches!(
            fetch(10, Some(9)).await,
            Err(RemoteStorageError::InvalidRange(_))
        ));

        let idx = |t| rsm.fetch_index(&m, t, &cancel);
        assert_eq!(
            &idx(IndexType::Offset).await.expect("offset index")[..],
            b"offset-index"
        );
        assert_eq!(
            &idx(IndexType::Timestamp).await.expect("time index")[..],
            b"time-index"
        );
        assert_eq!(
            &idx(IndexType::LeaderEpoch).await.expect("leader epoch")[..],
            b"0\n1\n0 0\n"
        );
        if optional {
            assert_eq!(
                &idx(IndexType::Transaction).await.expect("txn")[..],
                b"txn-index"
            );
            assert_eq!(
                &idx(IndexType::ProducerSnapshot).await.expect("snapshot")[..],
                b"producer-snapshot"
            );
        } else {
            assert!(matches!(
                idx(IndexType::Transaction).await,
                Err(RemoteStorageError::NotFound(_))
            ));
            assert!(matches!(
                idx(IndexType::ProducerSnapshot).await,
                Err(RemoteStorageError::NotFound(_))
            ));
        }

        rsm.delete_log_segment_data(&m, &cancel)
            .await
            .expect("delete");
        rsm.delete_log_segment_data(&m, &cancel)
            .await
            .expect("delete again (idempotent)");
        assert!(matches!(
            fetch(0, Some(10)).await,
            Err(RemoteStorageError::NotFound(_))
        ));
        for t in IndexType::ALL {
            assert!(
                matches!(idx(t).await, Err(RemoteStorageError::NotFound(_))),
                "{t:?}"
            );
        }
    }
}

/// Copying over an existing copy of the same segment id replaces it (a retried
/// upload with different bytes).
pub async fn copy_overwrites(store: Arc<dyn ObjectStore>, prefix: &str) {
    let rsm = rsm(store, prefix);
    let cancel = CancellationToken::new();
    let tp = new_partition("overwrite", 0);
    let m = segment(&tp, 0, 5000, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = segment_files(dir.path(), 5000, true);
    rsm.copy_log_segment_data(&m, &data, &cancel)
        .await
        .expect("copy");
    std::fs::write(&data.log_segment, b"replaced").expect("rewrite");
    rsm.copy_log_segment_data(&m, &data, &cancel)
        .await
        .expect("copy again");
    let got = rsm
        .fetch_log_segment(&m, 0, None, &cancel)
        .await
        .expect("fetch");
    assert_eq!(&got[..], b"replaced");
    rsm.delete_log_segment_data(&m, &cancel)
        .await
        .expect("delete");
}

/// Every call returns `Cancelled` promptly on a cancelled token.
pub async fn cancellation(store: Arc<dyn ObjectStore>, prefix: &str) {
    let rsm = rsm(store.clone(), prefix);
    let meta = rlmm(store, prefix);
    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let tp = new_partition("cancel", 0);
    let m = segment(&tp, 0, 10, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = segment_files(dir.path(), 10, false);
    let is_cancelled =
        |r: Result<(), RemoteStorageError>| matches!(r, Err(RemoteStorageError::Cancelled));
    assert!(is_cancelled(
        rsm.copy_log_segment_data(&m, &data, &cancelled).await
    ));
    assert!(is_cancelled(
        rsm.fetch_log_segment(&m, 0, None, &cancelled)
            .await
            .map(drop)
    ));
    assert!(is_cancelled(
        rsm.fetch_index(&m, IndexType::Offset, &cancelled)
            .await
            .map(drop)
    ));
    assert!(is_cancelled(
        rsm.delete_log_segment_data(&m, &cancelled).await
    ));
    assert!(is_cancelled(meta.add_segment(&m, 0, &cancelled).await));
    assert!(is_cancelled(
        meta.list_segments(&tp, &cancelled).await.map(drop)
    ));
}

/// The segment state machine: add, legal moves, illegal moves (`InvalidState`),
/// repeated moves are no-ops, unknown segments are `NotFound`, re-adding the same
/// record is Ok and a different one is `InvalidState`.
pub async fn metadata_state_machine(store: Arc<dyn ObjectStore>, prefix: &str) {
    use RemoteLogSegmentState::*;
    let meta = rlmm(store, prefix);
    let cancel = CancellationToken::new();
    let tp = new_partition("states", 0);
    let m = segment(&tp, 0, 1000, 1);
    let id = &m.segment_id;

    let mut finished = m.clone();
    finished.state = CopySegmentFinished;
    assert!(matches!(
        meta.add_segment(&finished, 1, &cancel).await,
        Err(RemoteStorageError::InvalidState(_))
    ));
    meta.add_segment(&m, 1, &cancel).await.expect("add");
    meta.add_segment(&m, 1, &cancel)
        .await
        .expect("add again (idempotent)");
    let mut other = m.clone();
    other.end_offset += 1;
    assert!(matches!(
        meta.add_segment(&other, 1, &cancel).await,
        Err(RemoteStorageError::InvalidState(_))
    ));

    let update = |state, ts| meta.update_segment_state(id, state, ts, 1, &cancel);
    assert!(matches!(
        update(DeleteSegmentFinished, 5).await,
        Err(RemoteStorageError::InvalidState(_))
    ));
    let got = update(CopySegmentFinished, 10)
        .await
        .expect("copy finished");
    assert_eq!(got.state, CopySegmentFinished);
    assert_eq!(got.event_timestamp_ms, 10);
    assert_eq!(got.end_offset, m.end_offset);
    update(CopySegmentFinished, 11)
        .await
        .expect("same state again");
    assert!(matches!(
        update(CopySegmentStarted, 12).await,
        Err(RemoteStorageError::InvalidState(_))
    ));
    update(DeleteSegmentStarted, 13)
        .await
        .expect("delete started");
    assert!(matches!(
        update(CopySegmentFinished, 14).await,
        Err(RemoteStorageError::InvalidState(_))
    ));
    update(DeleteSegmentFinished, 15)
        .await
        .expect("delete finished");
    assert!(matches!(
        update(DeleteSegmentStarted, 16).await,
        Err(RemoteStorageError::InvalidState(_))
    ));

    // A failed copy goes straight from STARTED to DELETE_SEGMENT_STARTED.
    let failed = segment(&tp, 100, 1000, 1);
    meta.add_segment(&failed, 1, &cancel).await.expect("add");
    meta.update_segment_state(&failed.segment_id, DeleteSegmentStarted, 20, 1, &cancel)
        .await
        .expect("started -> delete started");

    let unknown = RemoteLogSegmentId {
        tp: tp.clone(),
        id: Uuid::new_v4(),
    };
    assert!(matches!(
        meta.update_segment_state(&unknown, CopySegmentFinished, 1, 1, &cancel)
            .await,
        Err(RemoteStorageError::NotFound(_))
    ));

    let listed = meta.list_segments(&tp, &cancel).await.expect("list");
    let states: Vec<_> = listed.iter().map(|s| s.state).collect();
    assert_eq!(states, vec![DeleteSegmentFinished, DeleteSegmentStarted]);
}

/// Fencing: a write from a leader epoch older than the partition's recorded one fails
/// with `Fenced` (adds and updates), a newer epoch takes over, and the old one stays
/// fenced out even for records it wrote itself.
pub async fn metadata_fencing(store: Arc<dyn ObjectStore>, prefix: &str) {
    use RemoteLogSegmentState::*;
    let meta = rlmm(store, prefix);
    let cancel = CancellationToken::new();
    let tp = new_partition("fencing", 1);
    assert_eq!(meta.leader_epoch(&tp, &cancel).await.expect("epoch"), None);

    let a = segment(&tp, 0, 10, 5);
    meta.add_segment(&a, 5, &cancel)
        .await
        .expect("add at epoch 5");
    assert_eq!(
        meta.leader_epoch(&tp, &cancel).await.expect("epoch"),
        Some(5)
    );

    // A new leader at epoch 6 writes; epoch 5 is fenced from now on.
    let b = segment(&tp, 100, 10, 6);
    meta.add_segment(&b, 6, &cancel)
        .await
        .expect("add at epoch 6");
    assert_eq!(
        meta.leader_epoch(&tp, &cancel).await.expect("epoch"),
        Some(6)
    );
    let c = segment(&tp, 200, 10, 5);
    assert!(matches!(
        meta.add_segment(&c, 5, &cancel).await,
        Err(RemoteStorageError::Fenced {
            writer: 5,
            current: 6
        })
    ));
    assert!(matches!(
        meta.update_segment_state(&a.segment_id, CopySegmentFinished, 1, 5, &cancel)
            .await,
        Err(RemoteStorageError::Fenced { .. })
    ));
    // The new leader may finish the old leader's copy.
    meta.update_segment_state(&a.segment_id, CopySegmentFinished, 2, 6, &cancel)
        .await
        .expect("epoch 6 finishes epoch 5's copy");
    // A newer leader still; the record remembers its last writer.
    meta.update_segment_state(&b.segment_id, CopySegmentFinished, 3, 7, &cancel)
        .await
        .expect("epoch 7");
    assert!(matches!(
        meta.update_segment_state(&b.segment_id, DeleteSegmentStarted, 4, 6, &cancel)
            .await,
        Err(RemoteStorageError::Fenced {
            writer: 6,
            current: 7
        })
    ));
    assert!(RemoteStorageError::Fenced {
        writer: 1,
        current: 2
    }
    .is_permanent());
}

/// `list_segments` sorts by start offset whatever the insertion order; lookups by
/// offset (and epoch) see only finished copies; `highest_copied_offset` follows.
pub async fn metadata_listing_and_lookup(store: Arc<dyn ObjectStore>, prefix: &str) {
    use RemoteLogSegmentState::*;
    let meta = rlmm(store, prefix);
    let cancel = CancellationToken::new();
    let tp = new_partition("listing", 2);
    assert!(meta
        .list_segments(&tp, &cancel)
        .await
        .expect("empty")
        .is_empty());
    assert_eq!(
        meta.highest_copied_offset(&tp, &cancel)
            .await
            .expect("none"),
        None
    );

    let mut segs = Vec::new();
    // 11 segments, starts 1000 apart, out of order; offsets >= 10^4 check the padding.
    for i in [7i64, 2, 9, 0, 4, 10, 1, 3, 8, 5, 6] {
        let mut m = segment(&tp, i * 1000, 100, 0);
        m.end_offset = i * 1000 + 999;
        if i >= 5 {
            m.segment_leader_epochs = BTreeMap::from([(0, i * 1000), (1, i * 1000 + 500)]);
        }
        meta.add_segment(&m, 1, &cancel).await.expect("add");
        segs.push(m);
    }
    let listed = meta.list_segments(&tp, &cancel).await.expect("list");
    let starts: Vec<i64> = listed.iter().map(|m| m.start_offset).collect();
    assert_eq!(starts, (0..=10).map(|i| i * 1000).collect::<Vec<_>>());

    // Nothing is served before COPY_SEGMENT_FINISHED.
    assert!(meta
        .segment_for_offset(&tp, 1500, None, &cancel)
        .await
        .expect("lookup")
        .is_none());
    for m in &segs {
        if m.start_offset != 10_000 {
            meta.update_segment_state(&m.segment_id, CopySegmentFinished, 1, 1, &cancel)
                .await
                .expect("finish");
        }
    }
    let found = meta
        .segment_for_offset(&tp, 1500, None, &cancel)
        .await
        .expect("lookup")
        .expect("a segment holds 1500");
    assert_eq!(found.start_offset, 1000);
    assert_eq!(found.state, CopySegmentFinished);
    let epoch1 = meta
        .segment_for_offset(&tp, 6700, Some(1), &cancel)
        .await
        .expect("lookup");
    assert_eq!(epoch1.map(|m| m.start_offset), Some(6000));
    assert!(meta
        .segment_for_offset(&tp, 6200, Some(1), &cancel)
        .await
        .expect("lookup")
        .is_none());
    assert!(meta
        .segment_for_offset(&tp, 10_500, None, &cancel)
        .await
        .expect("lookup")
        .is_none());
    assert_eq!(
        meta.highest_copied_offset(&tp, &cancel)
            .await
            .expect("highest"),
        Some(9999)
    );
    // Deleting moves the segment out of lookups.
    let first = &listed[0].segment_id;
    meta.update_segment_state(first, DeleteSegmentStarted, 2, 1, &cancel)
        .await
        .expect("delete");
    assert!(meta
        .segment_for_offset(&tp, 10, None, &cancel)
        .await
        .expect("lookup")
        .is_none());
}

/// Partition deletion: Marked -> Started -> Finished, idempotent, no skipping or
/// going back.
pub async fn partition_deletion(store: Arc<dyn ObjectStore>, prefix: &str) {
    use RemotePartitionDeleteState::*;
    let meta = rlmm(store, prefix);
    let cancel = CancellationToken::new();
    let tp = new_partition("deleted", 0);
    assert_eq!(
        meta.partition_delete_state(&tp, &cancel)
            .await
            .expect("state"),
        None
    );
    assert!(matches!(
        meta.update_partition_delete_state(&tp, DeletePartitionStarted, 1, &cancel)
            .await,
        Err(RemoteStorageError::NotFound(_))
    ));
    assert_eq!(
        meta.mark_partition_deleted(&tp, 1, &cancel)
            .await
            .expect("mark"),
        DeletePartitionMarked
    );
    assert_eq!(
        meta.mark_partition_deleted(&tp, 2, &cancel)
            .await
            .expect("mark again"),
        DeletePartitionMarked
    );
    assert!(matches!(
        meta.update_partition_delete_state(&tp, DeletePartitionFinished, 3, &cancel)
            .await,
        Err(RemoteStorageError::InvalidState(_))
    ));
    meta.update_partition_delete_state(&tp, DeletePartitionStarted, 4, &cancel)
        .await
        .expect("started");
    meta.update_partition_delete_state(&tp, DeletePartitionStarted, 5, &cancel)
        .await
        .expect("again");
    meta.update_partition_delete_state(&tp, DeletePartitionFinished, 6, &cancel)
        .await
        .expect("finished");
    assert_eq!(
        meta.partition_delete_state(&tp, &cancel)
            .await
            .expect("state"),
        Some(DeletePartitionFinished)
    );
    assert_eq!(
        meta.mark_partition_deleted(&tp, 7, &cancel)
            .await
            .expect("mark after"),
        DeletePartitionFinished
    );
    assert!(matches!(
        meta.update_partition_delete_state(&tp, DeletePartitionMarked, 8, &cancel)
            .await,
        Err(RemoteStorageError::InvalidState(_))
    ));
}

/// Losing every local disk: upload segments and metadata through one store instance,
/// then with a fresh instance from `open` (same bucket or folder) and fresh managers,
/// find the topic, its partitions, every segment's metadata and its data and indexes.
pub async fn rebuild_from_bucket(open: &dyn Fn() -> Arc<dyn ObjectStore>, prefix: &str) {
    use RemoteLogSegmentState::*;
    let cancel = CancellationToken::new();
    let topic = format!("rebuild-{}", Uuid::new_v4().simple());
    let topic_id = TopicId::random();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut uploaded = Vec::new();
    {
        let store = open();
        let rsm = rsm(store.clone(), prefix);
        let meta = rlmm(store, prefix);
        for partition in 0..3 {
            let tp = TopicIdPartition::new(topic_id, topic.clone(), partition);
            for i in 0..2i64 {
                let size = 3000 + partition as usize * 10 + i as usize;
                let data = segment_files(dir.path(), size, i == 0);
                let mut m = segment(&tp, i * 100, size as u64, 2);
                m.segment_leader_epochs = BTreeMap::from([(1, i * 100), (2, i * 100 + 50)]);
                meta.add_segment(&m, 2, &cancel).await.expect("add");
                rsm.copy_log_segment_data(&m, &data, &cancel)
                    .await
                    .expect("copy");
                let m = meta
                    .update_segment_state(&m.segment_id, CopySegmentFinished, 99, 2, &cancel)
                    .await
                    .expect("finish");
                uploaded.push(m);
            }
        }
    }

    // Everything local is gone; only the bucket and the topic name prefix are known.
    let store = open();
    let rsm = rsm(store.clone(), prefix);
    let meta = rlmm(store, prefix);
    let partitions = meta
        .list_partitions(&topic, &cancel)
        .await
        .expect("partitions");
    assert_eq!(partitions.len(), 3, "{partitions:?}");
    let mut rebuilt = Vec::new();
    for (i, tp) in partitions.iter().enumerate() {
        assert_eq!(tp.topic(), topic);
        assert_eq!(tp.topic_id, topic_id);
        assert_eq!(tp.partition(), i as i32);
        assert_eq!(
            meta.leader_epoch(tp, &cancel).await.expect("epoch"),
            Some(2)
        );
        rebuilt.extend(meta.list_segments(tp, &cancel).await.expect("segments"));
    }
    assert_eq!(rebuilt, uploaded);
    for m in &rebuilt {
        let bytes = rsm
            .fetch_log_segment(m, 0, None, &cancel)
            .await
            .expect("data");
        assert!(bytes[..] == segment_bytes(m.segment_size_bytes as usize)[..]);
        rsm.fetch_index(m, IndexType::Offset, &cancel)
            .await
            .expect("index");
    }
    // The fresh instance can carry on writing (no LIST-free cache needed).
    let first = &rebuilt[0];
    meta.update_segment_state(&first.segment_id, DeleteSegmentStarted, 100, 2, &cancel)
        .await
        .expect("update through a fresh instance");
    for m in &rebuilt {
        rsm.delete_log_segment_data(m, &cancel)
            .await
            .expect("cleanup");
    }
}

/// Whether the backend has conditional updates (`PutMode::Update`); if it has, an
/// update conditioned on a stale version must be rejected as a `Conflict`, and a
/// create of an existing object too. The metadata store relies on both.
pub async fn conditional_puts(store: Arc<dyn ObjectStore>, prefix: &str) -> bool {
    use object_store::{ObjectStoreExt, PutMode, PutPayload, UpdateVersion};
    let key = object_store::path::Path::from(format!(
        "{}/cas-{}",
        if prefix.is_empty() { "root" } else { prefix },
        Uuid::new_v4().simple()
    ));
    let put = |mode: PutMode, body: &'static [u8]| {
        let (store, key) = (store.clone(), key.clone());
        async move {
            store
                .put_opts(&key, PutPayload::from_static(body), mode.into())
                .await
                .map_err(RemoteStorageError::from)
        }
    };
    let first = put(PutMode::Create, b"1").await.expect("create");
    assert!(matches!(
        put(PutMode::Create, b"x").await,
        Err(RemoteStorageError::Conflict(_))
    ));
    let stale = UpdateVersion {
        e_tag: first.e_tag,
        version: first.version,
    };
    let supported = match put(PutMode::Update(stale.clone()), b"2").await {
        Ok(_) => true,
        Err(RemoteStorageError::Unsupported(_)) => false,
        Err(e) => panic!("update: {e}"),
    };
    if supported {
        assert!(matches!(
            put(PutMode::Update(stale), b"3").await,
            Err(RemoteStorageError::Conflict(_))
        ));
        let got = store
            .get(&key)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        assert_eq!(&got[..], b"2");
    }
    store.delete(&key).await.expect("delete");
    supported
}

/// Every function above, for a backend `open` returns (it must return a handle to the
/// same storage each time).
pub async fn run_all(open: &dyn Fn() -> Arc<dyn ObjectStore>, prefix: &str) {
    copy_fetch_delete(open(), prefix, 10_000).await;
    copy_fetch_delete(open(), prefix, MULTIPART_PART_SIZE + 12_345).await;
    copy_overwrites(open(), prefix).await;
    cancellation(open(), prefix).await;
    conditional_puts(open(), prefix).await;
    metadata_state_machine(open(), prefix).await;
    metadata_fencing(open(), prefix).await;
    metadata_listing_and_lookup(open(), prefix).await;
    partition_deletion(open(), prefix).await;
    rebuild_from_bucket(open, prefix).await;
}
