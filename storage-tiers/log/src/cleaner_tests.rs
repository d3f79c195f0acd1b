//! Compaction: latest value per key, offsets unchanged, tombstones, keyless records,
//! partial cleans, and a crash at every step of the swap.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as KTimestampType,
};

use crate::cleaner::{CleanStep, CleanerOptions, Throttle};
use crate::{LogConfig, LogError, PartitionLog};

const NOW: i64 = 1_700_000_000_000;

fn compact_config() -> LogConfig {
    let mut c = LogConfig {
        segment_bytes: 4096,
        cleanup_policy: "compact".into(),
        ..LogConfig::default()
    };
    c.other_overrides
        .insert("delete.retention.ms".into(), "1000".into());
    c
}

/// One batch of (key, value) records with timestamp `ts`.
pub(crate) fn kv_batch(
    items: &[(Option<&str>, Option<&str>)],
    ts: i64,
    compression: Compression,
) -> Vec<u8> {
    let records: Vec<Record> = items
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: KTimestampType::Creation,
            offset: i as i64,
            sequence: -1 + i as i32,
            timestamp: ts,
            key: k.map(|k| Bytes::from(k.to_string())),
            value: v.map(|v| Bytes::from(v.to_string())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.to_vec()
}

/// Every record in the log: offset -> (key, value).
fn contents(log: &PartitionLog) -> BTreeMap<i64, (String, Option<String>)> {
    let mut out = BTreeMap::new();
    let mut off = log.log_start_offset();
    while off < log.log_end_offset() {
        let b = log.read(off, 1 << 20, i64::MAX, true).unwrap();
        if b.is_empty() {
            break;
        }
        let mut buf = b.clone();
        let mut last = off;
        while !buf.is_empty() {
            let set = RecordBatchDecoder::decode(&mut buf).unwrap();
            for r in set.records {
                last = r.offset;
                let k = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                let v = r.value.map(|v| String::from_utf8(v.to_vec()).unwrap());
                out.insert(r.offset, (k, v));
            }
        }
        off = last + 1;
    }
    out
}

fn clean(log: &mut PartitionLog, now: i64) -> crate::CleanStats {
    log.clean(
        now,
        &CleanerOptions::default(),
        &mut Throttle::new(f64::MAX),
    )
    .unwrap()
}

/// 10,000 updates over 500 keys then 100 tombstones; returns the model (latest value
/// per key and its offset).
fn fill(log: &mut PartitionLog, ts: i64) -> BTreeMap<String, (i64, Option<String>)> {
    let mut model = BTreeMap::new();
    for chunk in 0..100 {
        let items: Vec<(String, String)> = (0..100)
            .map(|i| {
                let n = chunk * 100 + i;
                (format!("k{}", n % 500), format!("v{n}"))
            })
            .collect();
        let refs: Vec<(Option<&str>, Option<&str>)> = items
            .iter()
            .map(|(k, v)| (Some(k.as_str()), Some(v.as_str())))
            .collect();
        let info = log
            .append_as_leader(&kv_batch(&refs, ts, Compression::Gzip), 0, ts)
            .unwrap();
        for (i, (k, v)) in items.iter().enumerate() {
            model.insert(k.clone(), (info.first_offset + i as i64, Some(v.clone())));
        }
    }
    let tomb_keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
    let refs: Vec<(Option<&str>, Option<&str>)> =
        tomb_keys.iter().map(|k| (Some(k.as_str()), None)).collect();
    let info = log
        .append_as_leader(&kv_batch(&refs, ts, Compression::None), 0, ts)
        .unwrap();
    for (i, k) in tomb_keys.iter().enumerate() {
        model.insert(k.clone(), (info.first_offset + i as i64, None));
    }
    // Roll so everything above is in sealed segments.
    log.append_as_leader(
        &kv_batch(&[(Some("last"), Some("x"))], ts, Compression::None),
        0,
        ts,
    )
    .unwrap();
    model.insert("last".into(), (log.log_end_offset() - 1, Some("x".into())));
    // The active segment is never cleaned (as in Kafka): seal everything.
    log.roll().unwrap();
    model
}

fn check_latest(
    log: &PartitionLog,
    model: &BTreeMap<String, (i64, Option<String>)>,
    tombstones: bool,
) {
    let got = contents(log);
    let mut by_key: BTreeMap<String, Vec<(i64, Option<String>)>> = BTreeMap::new();
    for (off, (k, v)) in &got {
        by_key.entry(k.clone()).or_default().push((*off, v.clone()));
    }
    for (k, (off, v)) in model {
        let entries = by_key.get(k).cloned().unwrap_or_default();
        if v.is_none() && !tombstones {
            assert!(entries.is_empty(), "tombstoned {k} still has {entries:?}");
            continue;
        }
        assert_eq!(entries.last(), Some(&(*off, v.clone())), "key {k}");
    }
}

#[test]
fn clean_keeps_latest_per_key_at_original_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compact_config(), NOW).unwrap();
    let model = fill(&mut log, NOW);
    let before = log.size_bytes();
    let stats = clean(&mut log, NOW);
    assert!(stats.records_removed > 9000, "{stats:?}");
    assert!(log.size_bytes() < before);
    // Not yet past delete.retention.ms: tombstones stay, older values gone.
    check_latest(&log, &model, true);
    let got = contents(&log);
    assert_eq!(got.len(), 501, "one record per key (500 + 'last')");
    // Past delete.retention.ms: tombstones go too.
    clean(&mut log, NOW + 5000);
    check_latest(&log, &model, false);
    assert_eq!(contents(&log).len(), 401);
    // Reopen: the cleaned log recovers as is.
    drop(log);
    let log = PartitionLog::open(dir.path(), compact_config(), NOW).unwrap();
    check_latest(&log, &model, false);
}

#[test]
fn keyless_records_are_rejected_only_on_compacted_topics() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compact_config(), NOW).unwrap();
    let b = kv_batch(
        &[(Some("k"), Some("v")), (None, Some("no key"))],
        NOW,
        Compression::Lz4,
    );
    assert!(matches!(
        log.append_as_leader(&b, 0, NOW),
        Err(LogError::InvalidRecord(_))
    ));
    assert_eq!(log.log_end_offset(), 0);
    let dir2 = tempfile::tempdir().unwrap();
    let mut plain = PartitionLog::open(dir2.path(), LogConfig::default(), NOW).unwrap();
    plain.append_as_leader(&b, 0, NOW).unwrap();
}

#[test]
fn small_dedupe_buffer_cleans_in_several_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compact_config(), NOW).unwrap();
    let model = fill(&mut log, NOW);
    let opts = CleanerOptions {
        dedupe_buffer_size: 48 * 200,
        ..Default::default()
    };
    let first = log.clean(NOW, &opts, &mut Throttle::new(f64::MAX)).unwrap();
    assert!(
        first.first_dirty_after < log.log_end_offset() - 1,
        "{first:?}"
    );
    for _ in 0..200 {
        let s = log.clean(NOW, &opts, &mut Throttle::new(f64::MAX)).unwrap();
        if s.first_dirty_after == s.first_dirty_before {
            break;
        }
    }
    check_latest(&log, &model, true);
}

#[test]
fn min_compaction_lag_keeps_recent_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = compact_config();
    cfg.other_overrides
        .insert("min.compaction.lag.ms".into(), "60000".into());
    let mut log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
    let _ = fill(&mut log, NOW);
    let before = contents(&log).len();
    let s = clean(&mut log, NOW + 1000);
    assert_eq!(s.records_removed, 0);
    assert_eq!(contents(&log).len(), before);
    assert!(log.needs_cleaning(NOW + 1000));
}

#[test]
fn retention_does_not_delete_compact_only_topics() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = compact_config();
    cfg.retention_ms = 1;
    let mut log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
    let _ = fill(&mut log, NOW - 100_000);
    assert_eq!(log.enforce_retention(NOW).unwrap(), 0);
    assert_eq!(log.log_start_offset(), 0);
}

#[test]
fn crash_at_every_swap_step_leaves_a_complete_log() {
    for step in [
        CleanStep::CleanedWritten,
        CleanStep::SwapRenamed,
        CleanStep::OldDeleted,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), compact_config(), NOW).unwrap();
        let model = fill(&mut log, NOW);
        let opts = CleanerOptions {
            crash_after: Some(step),
            ..Default::default()
        };
        assert!(log.clean(NOW, &opts, &mut Throttle::new(f64::MAX)).is_err());
        drop(log);
        let mut log = PartitionLog::open(dir.path(), compact_config(), NOW).unwrap();
        check_latest(&log, &model, true);
        // And a later clean finishes the job.
        clean(&mut log, NOW);
        check_latest(&log, &model, true);
        assert_eq!(contents(&log).len(), 501, "{step:?}");
    }
}

#[test]
fn dirty_ratio_and_needs_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compact_config(), NOW).unwrap();
    assert!(!log.needs_cleaning(NOW));
    let _ = fill(&mut log, NOW);
    assert!(log.dirty_ratio() > 0.99);
    assert!(log.needs_cleaning(NOW));
    clean(&mut log, NOW);
    assert!(log.dirty_ratio() < 0.01);
    assert!(!log.needs_cleaning(NOW));
}

/// Regression: the cleaner held the partition's write lock for the whole clean,
/// sleeping for its I/O throttle inside it. A clean is now planned, prepared without
/// the log (the borrow checker is the proof: the log is appended to while the prepared
/// clean exists), and swapped in; what was appended meanwhile stays.
#[test]
fn the_log_takes_appends_between_plan_and_swap() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compact_config(), NOW).unwrap();
    let mut model = fill(&mut log, NOW);
    let opts = CleanerOptions {
        io_buffer_size: 4096,
        ..Default::default()
    };
    let plan = log.plan_clean().unwrap();
    let prepared = plan
        .prepare(NOW, &opts, &mut Throttle::new(f64::MAX))
        .unwrap();
    // Produce goes on while the cleaned segments wait to be swapped in.
    let info = log
        .append_as_leader(
            &kv_batch(&[(Some("k7"), Some("during"))], NOW, Compression::None),
            0,
            NOW,
        )
        .unwrap();
    model.insert("k7".into(), (info.first_offset, Some("during".into())));
    let stats = log.finish_clean(prepared, &opts).unwrap();
    assert!(stats.records_removed > 9000, "{stats:?}");
    check_latest(&log, &model, true);
    drop(log);
    let log = PartitionLog::open(dir.path(), compact_config(), NOW).unwrap();
    check_latest(&log, &model, true);
}

/// A segment deleted between plan and swap (retention, DeleteRecords) drops the cleaned
/// group that was made from it instead of resurrecting its records.
#[test]
fn a_group_whose_segment_went_is_not_swapped_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compact_config(), NOW).unwrap();
    let _ = fill(&mut log, NOW);
    let opts = CleanerOptions::default();
    let prepared = log
        .plan_clean()
        .unwrap()
        .prepare(NOW, &opts, &mut Throttle::new(f64::MAX))
        .unwrap();
    let start = log.log_end_offset() - 1;
    log.delete_records_before(start).unwrap();
    let first_kept = log.log_start_offset();
    log.finish_clean(prepared, &opts).unwrap();
    assert_eq!(log.log_start_offset(), first_kept);
    assert!(contents(&log).keys().all(|o| *o >= first_kept));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
