//! The tiered log read as one log across both tiers: a partition whose older segments
//! were uploaded and freed locally answers reads and ListOffsets from whichever tier
//! holds the offset, and the remote log manager uploads what its leaders seal.
//! (The object store is in memory here; the end-to-end suite runs the same against a
//! loopback S3 server.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use object_store::memory::InMemory;
use object_store::ObjectStore;
use strata_cache::{CacheOptions, RemoteReader};
use strata_log::testing::one_record_batch;
use strata_log::LogConfig;
use strata_proto::{SystemClock, TopicId, TopicPartition};
use strata_remote::{ObjectStoreRsm, RemoteLogMetadataStore, RetryPolicy};
use strata_tiered::{
    LogManager, OffsetSpec, RemoteLogManager, RemoteTier, TieredError, TieredLog, TieredRead,
    TieringConfig,
};

/// Record timestamps start here: recent, so no retention removes them mid-test.
fn t0() -> i64 {
    use strata_proto::Clock;
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| SystemClock.now_ms() - 60_000)
}

struct Node {
    logs: Arc<LogManager>,
    rlm: Arc<RemoteLogManager>,
}

async fn node(dir: &std::path::Path, store: Arc<dyn ObjectStore>) -> Node {
    let policy = RetryPolicy::default();
    let rsm = Arc::new(ObjectStoreRsm::new(store.clone(), "", policy.clone()));
    let meta = Arc::new(RemoteLogMetadataStore::new(
        store.clone(),
        "",
        policy.clone(),
    ));
    let reader = RemoteReader::new(
        Arc::new(ObjectStoreRsm::new(store, "", policy)),
        CacheOptions {
            memory_bytes: 16 << 20,
            chunk_bytes: 4096,
            ..CacheOptions::default()
        },
        tokio::runtime::Handle::current(),
    )
    .await
    .expect("reader");
    let tier = Arc::new(RemoteTier::new(
        meta,
        Arc::new(reader),
        Duration::from_secs(30),
    ));
    let logs = Arc::new(LogManager::new(dir, Some(tier.clone())).expect("logs"));
    let cfg = TieringConfig {
        broker_id: 0,
        task_interval: Duration::from_secs(3600),
        copy_max_bytes_per_second: i64::MAX,
        copier_concurrency: 2,
        stats_file: None,
        deletions_file: None,
        url: "memory://".into(),
        clock: SystemClock::shared(),
    };
    let rlm = Arc::new(RemoteLogManager::new(logs.clone(), tier, rsm, cfg));
    Node { logs, rlm }
}

/// Every batch in a segment of its own; tiered; nothing kept locally once remote.
fn tiered_config() -> LogConfig {
    let base = LogConfig {
        segment_bytes: 100,
        ..LogConfig::default()
    };
    base.with_overrides(&BTreeMap::from([
        ("remote.storage.enable".to_string(), "true".to_string()),
        ("local.retention.bytes".to_string(), "1".to_string()),
    ]))
    .expect("config")
}

fn open(n: &Node, tp: &TopicPartition, id: TopicId) -> Arc<TieredLog> {
    n.logs
        .ensure_partition(tp, id, tiered_config(), t0())
        .expect("open")
}

/// Appends `count` batches at timestamps t0() + offset; publishes the HW as a sole
/// leader's (the log end).
fn append(log: &TieredLog, count: i64) {
    for _ in 0..count {
        let ts = t0() + log.log_end_offset();
        log.append_as_leader(&one_record_batch(ts), 0, ts)
            .expect("append");
    }
    log.publish_high_watermark(log.log_end_offset());
}

/// Waits (bounded) until the local log starts at `offset`: the uploads and the local
/// retention after them happen on the remote log manager's tasks.
async fn local_start_reaches(log: &TieredLog, offset: i64) {
    for _ in 0..500 {
        if log.local_log_start_offset() >= offset {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "local log start stayed at {} (wanted {offset})",
        log.local_log_start_offset()
    );
}

async fn read(log: &Arc<TieredLog>, offset: i64) -> (bool, Vec<u8>) {
    let hw = log.published_high_watermark();
    match log.read(offset, 1 << 20, hw, true).await.expect("read") {
        TieredRead::Local(b) => (false, b.to_vec()),
        TieredRead::Remote(f) => {
            let parts = f.fetch(true).await.expect("fetch").expect("in time");
            (true, parts.concat())
        }
    }
}

fn base_offset(batch: &[u8]) -> i64 {
    i64::from_be_bytes(batch[..8].try_into().expect("8 bytes"))
}

async fn offset(log: &TieredLog, spec: OffsetSpec) -> (i64, i64) {
    let o = log
        .list_offset(spec, log.published_high_watermark())
        .await
        .expect("list")
        .expect("found");
    (o.timestamp, o.offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_list_offsets_span_both_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let n = node(dir.path(), store.clone()).await;
    let (tp, id) = (TopicPartition::new("t", 0), TopicId::random());
    let log = open(&n, &tp, id);
    append(&log, 5);
    // A partition this node does not lead is never uploaded.
    let follower = open(&n, &TopicPartition::new("t", 1), id);
    append(&follower, 5);

    n.rlm.on_leader(&log, 0);
    local_start_reaches(&log, 4).await;
    assert_eq!(follower.local_log_start_offset(), 0);

    for o in 0..4 {
        let (remote, bytes) = read(&log, o).await;
        assert!(remote, "offset {o} is in the remote tier");
        assert_eq!(base_offset(&bytes), o, "whole batches as stored");
    }
    let (remote, bytes) = read(&log, 4).await;
    assert!(!remote);
    assert_eq!(base_offset(&bytes), 4);
    let err = log.read(6, 1 << 20, 5, true).await.err();
    assert!(
        matches!(err, Some(TieredError::Log(_))),
        "past the end: {err:?}"
    );

    assert_eq!(offset(&log, OffsetSpec::Earliest).await, (-1, 0));
    assert_eq!(offset(&log, OffsetSpec::EarliestLocal).await, (-1, 4));
    assert_eq!(offset(&log, OffsetSpec::LatestTiered).await, (-1, 3));
    assert_eq!(offset(&log, OffsetSpec::Latest).await, (-1, 5));
    assert_eq!(
        offset(&log, OffsetSpec::Timestamp(t0() + 2)).await,
        (t0() + 2, 2),
        "found in the remote tier"
    );
    assert_eq!(
        offset(&log, OffsetSpec::Timestamp(t0() + 4)).await,
        (t0() + 4, 4),
        "found locally"
    );
    assert_eq!(offset(&log, OffsetSpec::MaxTimestamp).await, (t0() + 4, 4));

    // A sealed segment is uploaded as it is sealed, with no periodic sweep due.
    let run = tokio::spawn(n.rlm.clone().run());
    append(&log, 3);
    local_start_reaches(&log, 7).await;
    let (remote, bytes) = read(&log, 6).await;
    assert!(remote);
    assert_eq!(base_offset(&bytes), 6);

    n.rlm.shutdown_and_wait().await;
    run.await.unwrap();
    drop((log, follower));
    n.logs.close_all();

    // A restart finds the remote tier again: its view loads on the first read.
    let n = node(dir.path(), store).await;
    let log = open(&n, &tp, id);
    log.publish_high_watermark(log.log_end_offset());
    assert_eq!(offset(&log, OffsetSpec::Earliest).await, (-1, 0));
    let (remote, bytes) = read(&log, 1).await;
    assert!(remote);
    assert_eq!(base_offset(&bytes), 1);
}
