//! Tests of the partition log as a whole.

use std::collections::BTreeSet;

use kafka_protocol::records::Compression;

use crate::batch::tests::build_batch;
use crate::{split_batches, LogConfig, LogError, PartitionLog, RecordBatchHeader, TimestampType};

const NOW: i64 = 1_700_000_000_000;

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 500,
        index_interval_bytes: 200,
        ..LogConfig::default()
    }
}

fn plain(n: usize, ts: i64) -> Vec<u8> {
    let t: Vec<i64> = (0..n as i64).map(|i| ts + i).collect();
    build_batch(-1, -1, -1, &t, Compression::None)
}

/// (base, last) of every batch in a read result, checking CRCs.
fn batches(b: &[u8]) -> Vec<(i64, i64)> {
    split_batches(b)
        .unwrap()
        .into_iter()
        .map(|r| {
            let h = RecordBatchHeader::parse(&b[r]).unwrap();
            assert!(h.is_crc_valid());
            (h.base_offset(), h.last_offset())
        })
        .collect()
}

fn read_all(log: &PartitionLog) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut off = log.log_start_offset();
    while off < log.log_end_offset() {
        let b = log.read(off, 100_000, i64::MAX, true).unwrap();
        let got = batches(&b);
        assert!(!got.is_empty(), "no progress at {off}");
        off = got.last().unwrap().1 + 1;
        out.extend(got);
    }
    out
}

#[test]
fn append_assigns_offsets_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), NOW).unwrap();
    let a = log.append_as_leader(&plain(3, NOW), 5, NOW).unwrap();
    assert_eq!((a.first_offset, a.last_offset, a.duplicate), (0, 2, false));
    assert_eq!(a.log_append_time_ms, -1);
    let mut two = plain(2, NOW);
    two.extend(plain(4, NOW));
    let b = log.append_as_leader(&two, 5, NOW).unwrap();
    assert_eq!((b.first_offset, b.last_offset), (3, 8));
    assert_eq!(log.log_end_offset(), 9);
    let data = log.read(0, 1 << 20, i64::MAX, false).unwrap();
    assert_eq!(batches(&data), vec![(0, 2), (3, 4), (5, 8)]);
    let h = RecordBatchHeader::parse(&data).unwrap();
    assert_eq!(h.partition_leader_epoch(), 5);
    // Mid-batch start returns the containing batch.
    assert_eq!(
        batches(&log.read(4, 1 << 20, i64::MAX, false).unwrap()),
        vec![(3, 4), (5, 8)]
    );
    assert_eq!(
        batches(&log.read(7, 1 << 20, i64::MAX, false).unwrap()),
        vec![(5, 8)]
    );
    // End and out of range.
    assert!(log.read(9, 100, i64::MAX, true).unwrap().is_empty());
    assert!(matches!(
        log.read(10, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(-1, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn read_respects_max_bytes_min_one_and_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), NOW).unwrap();
    let mut sizes = Vec::new();
    for _ in 0..4 {
        let b = plain(3, NOW);
        sizes.push(b.len());
        log.append_as_leader(&b, 0, NOW).unwrap();
    }
    assert!(log
        .read(0, sizes[0] - 1, i64::MAX, false)
        .unwrap()
        .is_empty());
    assert_eq!(
        batches(&log.read(0, sizes[0] - 1, i64::MAX, true).unwrap()),
        vec![(0, 2)]
    );
    assert_eq!(
        batches(&log.read(0, sizes[0] + sizes[1], i64::MAX, false).unwrap()),
        vec![(0, 2), (3, 5)]
    );
    // High watermark 5: the batch holding offset 5 is not returned.
    assert_eq!(
        batches(&log.read(0, 1 << 20, 5, true).unwrap()),
        vec![(0, 2)]
    );
    assert_eq!(
        batches(&log.read(0, 1 << 20, 6, true).unwrap()),
        vec![(0, 2), (3, 5)]
    );
    assert!(log.read(3, 1 << 20, 3, true).unwrap().is_empty());
}

#[test]
fn roll_by_bytes_and_read_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(), NOW).unwrap();
    let mut expect = Vec::new();
    for i in 0..40 {
        let a = log
            .append_as_leader(&plain(1 + i % 4, NOW), 0, NOW)
            .unwrap();
        expect.push((a.first_offset, a.last_offset));
    }
    let segs = log.segments();
    assert!(segs.len() > 3, "{segs:?}");
    for s in &segs {
        assert!(s.size_bytes <= 500);
    }
    assert_eq!(read_all(&log), expect);
    // Every offset can start a read, via the index.
    for off in 0..log.log_end_offset() {
        let got = batches(&log.read(off, 10, i64::MAX, true).unwrap());
        assert!(got[0].0 <= off && off <= got[0].1);
    }
}

#[test]
fn roll_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
    log.append_as_leader(&plain(1, NOW), 0, NOW).unwrap();
    log.append_as_leader(&plain(1, NOW), 0, NOW + 500).unwrap();
    assert_eq!(log.segments().len(), 1);
    log.append_as_leader(&plain(1, NOW), 0, NOW + 1_000)
        .unwrap();
    assert_eq!(log.segments().len(), 2);
    assert_eq!(log.segments()[1].base_offset, 2);
    // enforce_retention also rolls on time.
    log.enforce_retention(NOW + 2_500).unwrap();
    assert_eq!(log.segments().len(), 3);
    assert_eq!(read_all(&log).len(), 3);
}

#[test]
fn roll_when_index_full() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_index_bytes: 24,
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
    for i in 0..6 {
        // Growing timestamps: each batch adds a time index entry (2 fit in 24 bytes).
        log.append_as_leader(&plain(1, NOW + i), 0, NOW).unwrap();
    }
    assert_eq!(
        log.segments()
            .iter()
            .map(|s| s.base_offset)
            .collect::<Vec<_>>(),
        vec![0, 2, 4]
    );
    assert_eq!(read_all(&log).len(), 6);
}

#[test]
fn retention_by_time_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(), NOW).unwrap();
    for i in 0..30 {
        log.append_as_leader(&plain(2, NOW + i * 1000), 0, NOW)
            .unwrap();
    }
    let n_before = log.segments().len();
    assert!(n_before >= 4);
    // Size retention keeps the newest data, never the active segment.
    let mut cfg = small_config();
    cfg.retention_bytes = 1_500;
    cfg.retention_ms = -1;
    log.set_config(cfg.clone());
    let deleted = log.enforce_retention(NOW).unwrap();
    assert!(deleted > 0);
    assert!(log.size_bytes() <= 1_500 + 1_000);
    assert!(log.size_bytes() >= 1_500 - 1_000 || log.segments().len() == 1);
    let first = log.segments()[0].base_offset;
    assert_eq!(log.log_start_offset(), first);
    assert!(matches!(
        log.read(0, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(read_all(&log).last().unwrap().1, 59);

    // Time retention: segments older than retention.ms go; then everything.
    cfg.retention_bytes = -1;
    cfg.retention_ms = 10_000;
    log.set_config(cfg);
    let segs = log.segments();
    let cutoff = segs[1].max_timestamp + 10_001; // first two segments expired
    let deleted = log.enforce_retention(cutoff).unwrap();
    assert!(deleted >= 2, "{deleted}");
    assert!(log.segments()[0].max_timestamp > cutoff - 10_001 - 1);
    let deleted = log.enforce_retention(NOW + 10_000_000).unwrap();
    assert!(deleted >= 1);
    assert_eq!(log.segments().len(), 1);
    assert_eq!(log.log_start_offset(), 60);
    assert_eq!(log.log_end_offset(), 60);
    // Survives reopen.
    log.close().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(), NOW).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (60, 60));
    assert_eq!(
        log.append_as_leader(&plain(1, NOW), 0, NOW)
            .unwrap()
            .first_offset,
        60
    );
}

#[test]
fn delete_records_moves_start_and_deletes_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(), NOW).unwrap();
    for _ in 0..30 {
        log.append_as_leader(&plain(2, NOW), 0, NOW).unwrap();
    }
    let segs = log.segments();
    let target = segs[2].base_offset + 1;
    assert_eq!(log.delete_records_before(target).unwrap(), target);
    assert_eq!(log.log_start_offset(), target);
    assert_eq!(log.segments()[0].base_offset, segs[2].base_offset);
    // Never moves down.
    assert_eq!(log.delete_records_before(1).unwrap(), target);
    assert!(matches!(
        log.read(target - 1, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    let got = batches(&log.read(target, 100, i64::MAX, true).unwrap());
    assert!(got[0].0 <= target && target <= got[0].1);
    // Persisted across an unclean reopen.
    drop(log);
    let mut log = PartitionLog::open(dir.path(), small_config(), NOW).unwrap();
    assert_eq!(log.log_start_offset(), target);
    // Up to the log end: all old segments go.
    let leo = log.log_end_offset();
    assert_eq!(log.delete_records_before(leo).unwrap(), leo);
    assert_eq!(log.segments().len(), 1);
    assert!(log.read(leo, 100, i64::MAX, true).unwrap().is_empty());
}

#[test]
fn offset_for_timestamp_finds_exact_record() {
    for compression in [Compression::None, Compression::Gzip] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            index_interval_bytes: 0,
            segment_bytes: 2_000,
            ..LogConfig::default()
        };
        let mut log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
        // Batch k holds records with timestamps NOW + 100k + {0, 30, 10, 60, 50}.
        let mut all = Vec::new();
        for k in 0..20i64 {
            let ts: Vec<i64> = [0, 30, 10, 60, 50]
                .iter()
                .map(|d| NOW + 100 * k + d)
                .collect();
            let a = log
                .append_as_leader(&build_batch(-1, -1, -1, &ts, compression), 0, NOW)
                .unwrap();
            for (i, t) in ts.iter().enumerate() {
                all.push((*t, a.first_offset + i as i64));
            }
        }
        assert!(log.segments().len() > 1);
        for target in [
            NOW - 5,
            NOW,
            NOW + 5,
            NOW + 25,
            NOW + 55,
            NOW + 61,
            NOW + 1_020,
            NOW + 1_955,
        ] {
            let expect = all.iter().find(|(t, _)| *t >= target).copied();
            let got = log
                .offset_for_timestamp(target)
                .unwrap()
                .map(|x| (x.timestamp, x.offset));
            assert_eq!(got, expect, "target {target} {compression:?}");
        }
        assert_eq!(log.offset_for_timestamp(NOW + 10_000).unwrap(), None);
        let max = log.max_timestamp_offset().unwrap().unwrap();
        assert_eq!((max.timestamp, max.offset), (NOW + 1_960, 19 * 5 + 3));
    }
}

#[test]
fn max_timestamp_ties_take_earliest() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), NOW).unwrap();
    assert_eq!(log.max_timestamp_offset().unwrap(), None);
    log.append_as_leader(
        &build_batch(-1, -1, -1, &[NOW, NOW + 9, NOW + 9], Compression::None),
        0,
        NOW,
    )
    .unwrap();
    log.append_as_leader(
        &build_batch(-1, -1, -1, &[NOW + 9], Compression::None),
        0,
        NOW,
    )
    .unwrap();
    let m = log.max_timestamp_offset().unwrap().unwrap();
    assert_eq!((m.timestamp, m.offset), (NOW + 9, 1));
}

#[test]
fn log_append_time_rewrites_timestamp_with_valid_crc() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
    let a = log.append_as_leader(&plain(3, 5), 0, NOW + 7).unwrap();
    assert_eq!(a.log_append_time_ms, NOW + 7);
    let data = log.read(0, 1 << 20, i64::MAX, true).unwrap();
    let h = RecordBatchHeader::parse(&data).unwrap();
    assert!(h.is_crc_valid());
    assert_eq!(h.max_timestamp(), NOW + 7);
    assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    let f = log.offset_for_timestamp(NOW).unwrap().unwrap();
    assert_eq!((f.timestamp, f.offset), (NOW + 7, 0));
}

#[test]
fn validation_rejects_bad_batches_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        max_message_bytes: 200,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
    let good = plain(1, NOW);
    let mut bad_crc = plain(2, NOW);
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0xff;
    let mut both = good.clone();
    both.extend(&bad_crc);
    assert!(matches!(
        log.append_as_leader(&both, 0, NOW),
        Err(LogError::CorruptRecord(_))
    ));
    assert!(matches!(
        log.append_as_leader(&plain(20, NOW), 0, NOW),
        Err(LogError::RecordTooLarge { .. })
    ));
    assert!(matches!(
        log.append_as_leader(&plain(1, NOW + 3_600_001), 0, NOW),
        Err(LogError::InvalidTimestamp(_))
    ));
    assert!(matches!(
        log.append_as_leader(&good[..good.len() - 1], 0, NOW),
        Err(LogError::CorruptRecord(_))
    ));
    let mut magic = good.clone();
    magic[16] = 1;
    assert!(matches!(
        log.append_as_leader(&magic, 0, NOW),
        Err(LogError::UnsupportedMagic(1))
    ));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
    log.append_as_leader(&good, 0, NOW).unwrap();
    assert_eq!(log.log_end_offset(), 1);
}

fn idem(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    let ts: Vec<i64> = (0..n as i64).map(|i| NOW + i).collect();
    build_batch(pid, epoch, seq, &ts, Compression::None)
}

#[test]
fn idempotent_producer_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), NOW).unwrap();
    // A producer without state here may start at any sequence (Kafka, KIP-360).
    log.append_as_leader(&idem(9, 0, 3, 1), 0, NOW).unwrap();
    let a = log.append_as_leader(&idem(1, 0, 0, 3), 0, NOW).unwrap();
    let b = log.append_as_leader(&idem(1, 0, 3, 2), 0, NOW).unwrap();
    log.append_as_leader(&plain(1, NOW), 0, NOW).unwrap();
    // Retry of an earlier batch: original offsets, nothing written.
    let size = log.size_bytes();
    let d = log.append_as_leader(&idem(1, 0, 0, 3), 0, NOW).unwrap();
    assert!(d.duplicate);
    assert_eq!(
        (d.first_offset, d.last_offset),
        (a.first_offset, a.last_offset)
    );
    let d = log.append_as_leader(&idem(1, 0, 3, 2), 0, NOW).unwrap();
    assert_eq!(
        (d.first_offset, d.last_offset, d.duplicate),
        (b.first_offset, b.last_offset, true)
    );
    assert_eq!(log.size_bytes(), size);
    // Gap.
    assert!(matches!(
        log.append_as_leader(&idem(1, 0, 6, 1), 0, NOW),
        Err(LogError::OutOfOrderSequence(_))
    ));
    // New epoch must start at 0.
    assert!(matches!(
        log.append_as_leader(&idem(1, 1, 5, 1), 0, NOW),
        Err(LogError::OutOfOrderSequence(_))
    ));
    log.append_as_leader(&idem(1, 1, 0, 1), 0, NOW).unwrap();
    // Lower epoch rejected.
    assert!(matches!(
        log.append_as_leader(&idem(1, 0, 5, 1), 0, NOW),
        Err(LogError::InvalidProducerEpoch(_))
    ));
    // Two batches of one producer in one request.
    let mut two = idem(1, 1, 1, 2);
    two.extend(idem(1, 1, 3, 2));
    log.append_as_leader(&two, 0, NOW).unwrap();
    let mut gap = idem(1, 1, 5, 2);
    gap.extend(idem(1, 1, 8, 2));
    let leo = log.log_end_offset();
    assert!(matches!(
        log.append_as_leader(&gap, 0, NOW),
        Err(LogError::OutOfOrderSequence(_))
    ));
    assert_eq!(log.log_end_offset(), leo);
    // Sequence wraps at i32::MAX.
    log.append_as_leader(&idem(2, 0, 0, 1), 0, NOW).unwrap();
    let e = log.producers.producers.get_mut(&2).unwrap();
    e.batches.back_mut().unwrap().last_seq = i32::MAX;
    log.append_as_leader(&idem(2, 0, 0, 1), 0, NOW).unwrap();
}

/// Regression: producer state never expired, so every InitProducerId (a fresh id
/// each time) grew every partition's state for ever.
#[test]
fn idle_producers_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), NOW).unwrap();
    log.append_as_leader(&idem(1, 0, 0, 2), 0, NOW).unwrap();
    log.append_as_leader(&idem(2, 0, 0, 2), 0, NOW).unwrap();
    // Producer 2 writes again later; producer 1 stays idle.
    log.append_as_leader(&idem(2, 0, 2, 3), 0, NOW).unwrap();
    let day = 86_400_000;
    assert_eq!(log.remove_expired_producers(NOW + day - 10, day), 0);
    let idle = log.producers.producers.clone();
    assert_eq!(idle.len(), 2);
    // Producer 2's last batch is a few ms younger than producer 1's.
    let p1_last = idle[&1].batches.back().unwrap().timestamp;
    assert_eq!(log.remove_expired_producers(p1_last + day, day), 1);
    assert!(!log.producers.producers.contains_key(&1));
    assert!(log.producers.producers.contains_key(&2));
    // The expired producer continues where it was: accepted, not a duplicate, not
    // out of order (its state is gone, as in Kafka).
    let more = log.append_as_leader(&idem(1, 0, 2, 1), 0, NOW).unwrap();
    assert!(!more.duplicate);
}

#[test]
fn producer_state_survives_clean_and_unclean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config();
    let mut log = PartitionLog::open(dir.path(), cfg.clone(), NOW).unwrap();
    let mut seq = 0;
    let mut last = None;
    for _ in 0..20 {
        last = Some(log.append_as_leader(&idem(9, 2, seq, 2), 0, NOW).unwrap());
        seq += 2;
    }
    let last = last.unwrap();
    assert!(log.segments().len() > 2);
    log.close().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg.clone(), NOW).unwrap();
    let d = log
        .append_as_leader(&idem(9, 2, seq - 2, 2), 0, NOW)
        .unwrap();
    assert!(d.duplicate);
    assert_eq!(d.first_offset, last.first_offset);
    // More appends, then an unclean drop (no close): snapshot at the last roll + replay.
    for _ in 0..3 {
        log.append_as_leader(&idem(9, 2, seq, 2), 0, NOW).unwrap();
        seq += 2;
    }
    let before = log.producers.clone();
    drop(log);
    let mut log = PartitionLog::open(dir.path(), cfg.clone(), NOW).unwrap();
    assert_eq!(log.producers, before);
    assert!(
        log.append_as_leader(&idem(9, 2, seq - 2, 2), 0, NOW)
            .unwrap()
            .duplicate
    );
    assert!(matches!(
        log.append_as_leader(&idem(9, 1, 0, 1), 0, NOW),
        Err(LogError::InvalidProducerEpoch(_))
    ));
    // Without any snapshot the state is rebuilt from the log alone.
    drop(log);
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "snapshot") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
    assert_eq!(log.producers, before);
}

fn last_segment_path(dir: &std::path::Path, log: &PartitionLog) -> std::path::PathBuf {
    let base = log.segments().last().unwrap().base_offset;
    dir.join(format!("{base:020}.log"))
}

#[test]
fn recovery_truncates_torn_last_batch_at_every_byte() {
    let src = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(src.path(), cfg.clone(), NOW).unwrap();
    for i in 0..6 {
        log.append_as_leader(&plain(1 + i % 3, NOW), 0, NOW)
            .unwrap();
    }
    let full_leo = log.log_end_offset();
    let last_batch_len = plain(3, NOW).len(); // i = 5 → 3 records
    let log_path = last_segment_path(src.path(), &log);
    let full_len = log.size_bytes();
    drop(log);
    let prefix_leo = full_leo - 3;
    for cut in (full_len - last_batch_len as u64)..full_len {
        let dir = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(src.path()).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
        let p = dir.path().join(log_path.file_name().unwrap());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let mut log = PartitionLog::open(dir.path(), cfg.clone(), NOW).unwrap();
        assert_eq!(log.log_end_offset(), prefix_leo, "cut {cut}");
        assert_eq!(log.size_bytes(), full_len - last_batch_len as u64);
        assert_eq!(read_all(&log).last().unwrap().1, prefix_leo - 1);
        let a = log.append_as_leader(&plain(2, NOW), 0, NOW).unwrap();
        assert_eq!(a.first_offset, prefix_leo);
        assert_eq!(read_all(&log).last().unwrap().1, prefix_leo + 1);
    }
}

#[test]
fn corrupt_crc_in_tail_is_truncated_and_later_segments_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(), NOW).unwrap();
    for _ in 0..30 {
        log.append_as_leader(&plain(2, NOW), 0, NOW).unwrap();
    }
    log.flush().unwrap();
    // Recovery point is the log end; pretend the last 3 segments are unflushed.
    let segs = log.segments();
    assert!(segs.len() >= 4);
    let victim = segs[segs.len() - 3];
    crate::files::write_offset_checkpoint(
        dir.path(),
        crate::files::RECOVERY_POINT_FILE,
        victim.base_offset,
    )
    .unwrap();
    drop(log);
    let p = dir.path().join(format!("{:020}.log", victim.base_offset));
    let mut raw = std::fs::read(&p).unwrap();
    let first_len = RecordBatchHeader::parse(&raw).unwrap().total_len();
    raw[first_len + 70] ^= 0x10; // inside the second batch's records
    std::fs::write(&p, &raw).unwrap();
    let log = PartitionLog::open(dir.path(), small_config(), NOW).unwrap();
    assert_eq!(log.segments().len(), segs.len() - 2);
    assert_eq!(log.log_end_offset(), victim.base_offset + 2);
    assert_eq!(read_all(&log).last().unwrap().1, victim.base_offset + 1);
}

#[test]
fn bad_index_is_rebuilt_and_clean_reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        index_interval_bytes: 0,
        ..small_config()
    };
    let mut log = PartitionLog::open(dir.path(), cfg.clone(), NOW).unwrap();
    for i in 0..30 {
        log.append_as_leader(&plain(2, NOW + i), 0, NOW).unwrap();
    }
    let expect = read_all(&log);
    let segs = log.segments();
    log.close().unwrap();
    // Clean reopen.
    let log = PartitionLog::open(dir.path(), cfg.clone(), NOW).unwrap();
    assert_eq!(log.segments(), segs);
    assert_eq!(read_all(&log), expect);
    log.close().unwrap();
    // A torn index is rebuilt even after a clean shutdown.
    let idx = dir
        .path()
        .join(format!("{:020}.index", segs[1].base_offset));
    let len = std::fs::metadata(&idx).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&idx)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
    assert_eq!(log.segments(), segs);
    assert_eq!(read_all(&log), expect);
    let offsets: BTreeSet<i64> = (0..log.log_end_offset()).collect();
    for off in offsets {
        let got = batches(&log.read(off, 1, i64::MAX, true).unwrap());
        assert!(got[0].0 <= off && off <= got[0].1);
    }
    log.delete().unwrap();
    assert!(!dir.path().exists());
}

/// Every stored byte from the log start, as one buffer.
fn raw_all(log: &PartitionLog) -> Vec<u8> {
    let mut out = Vec::new();
    let mut off = log.log_start_offset();
    while off < log.log_end_offset() {
        let b = log.read(off, 100_000, i64::MAX, true).unwrap();
        off = batches(&b).last().unwrap().1 + 1;
        out.extend_from_slice(&b);
    }
    out
}

/// A leader log over two epochs (0 and 3), small segments.
fn leader_log(dir: &std::path::Path) -> PartitionLog {
    let mut log = PartitionLog::open(dir, small_config(), NOW).unwrap();
    for i in 0..6 {
        log.append_as_leader(&plain(3, NOW + i), 0, NOW).unwrap();
    }
    for i in 0..6 {
        log.append_as_leader(&idem(7, 0, i * 2, 2), 3, NOW).unwrap();
    }
    log
}

#[test]
fn leader_appends_build_the_epoch_cache() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    let epochs: Vec<(i32, i64)> = log
        .leader_epochs()
        .iter()
        .map(|e| (e.epoch, e.start_offset))
        .collect();
    assert_eq!(epochs, vec![(0, 0), (3, 18)]);
    assert_eq!(log.end_offset_for_epoch(0), Some((0, 18)));
    assert_eq!(log.end_offset_for_epoch(2), Some((0, 18)));
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 30)));
    let text = std::fs::read_to_string(dir.path().join(crate::LEADER_EPOCH_CHECKPOINT)).unwrap();
    assert_eq!(text, "0\n2\n0 0\n3 18\n");
    let mid: Vec<(i32, i64)> = log
        .leader_epochs_in(10, 25)
        .iter()
        .map(|e| (e.epoch, e.start_offset))
        .collect();
    assert_eq!(mid, vec![(0, 10), (3, 18)]);
    drop(log);
    let log = PartitionLog::open(dir.path(), small_config(), NOW).unwrap();
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 30)));
}

#[test]
fn a_follower_stores_the_leaders_batches_at_their_offsets() {
    let (ld, fd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let leader = leader_log(ld.path());
    let bytes = raw_all(&leader);
    let mut follower = PartitionLog::open(fd.path(), small_config(), NOW).unwrap();
    // In two fetches, as a follower would.
    let ranges = split_batches(&bytes).unwrap();
    let half = ranges[ranges.len() / 2].start;
    follower.append_as_follower(&bytes[..half], NOW).unwrap();
    follower.append_as_follower(&bytes[half..], NOW).unwrap();
    assert_eq!(follower.log_end_offset(), leader.log_end_offset());
    assert_eq!(raw_all(&follower), bytes, "byte for byte");
    assert_eq!(follower.leader_epochs(), leader.leader_epochs());
    // The idempotent producer's state came along: a retry of its last batch is a
    // duplicate on the follower too.
    let dup = follower
        .append_as_leader(&idem(7, 0, 10, 2), 3, NOW)
        .unwrap();
    assert!(dup.duplicate);
}

#[test]
fn a_follower_refuses_gaps_overlaps_and_bad_crcs_and_writes_nothing() {
    let (ld, fd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let leader = leader_log(ld.path());
    let bytes = raw_all(&leader);
    let ranges = split_batches(&bytes).unwrap();
    let mut follower = PartitionLog::open(fd.path(), small_config(), NOW).unwrap();
    // Starts past the log end: a gap.
    assert!(follower
        .append_as_follower(&bytes[ranges[1].clone()], NOW)
        .is_err());
    follower
        .append_as_follower(&bytes[ranges[0].clone()], NOW)
        .unwrap();
    // The same batch again: an overlap.
    assert!(follower
        .append_as_follower(&bytes[ranges[0].clone()], NOW)
        .is_err());
    let mut bad = bytes[ranges[1].clone()].to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(matches!(
        follower.append_as_follower(&bad, NOW),
        Err(LogError::CorruptRecord(_))
    ));
    assert_eq!(follower.log_end_offset(), 3);
}

#[test]
fn truncate_to_cuts_at_a_batch_boundary_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = leader_log(dir.path());
    assert!(log.segments().len() > 2, "{:?}", log.segments());
    // 20 falls inside the batch [18, 19]? No: epoch-3 batches are [18,19], [20,21], ...
    // 21 is inside [20, 21], so the log ends at 20.
    assert_eq!(log.truncate_to(21).unwrap(), 20);
    assert_eq!(read_all(&log).last(), Some(&(18, 19)));
    // Past the epoch-3 start: the cache keeps both epochs; below it, only epoch 0.
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 20)));
    assert_eq!(log.truncate_to(10).unwrap(), 9);
    assert_eq!(log.latest_epoch_for_test(), Some(0));
    // The producer whose batches were cut is unknown again: its batch is new, not a
    // duplicate, and the log continues at the cut.
    let again = log.append_as_leader(&idem(7, 0, 0, 2), 4, NOW).unwrap();
    assert!(!again.duplicate);
    assert_eq!(again.first_offset, 9);
    assert_eq!(log.end_offset_for_epoch(4), Some((4, 11)));
    // Durable: a reopen sees the same log and epochs.
    let (leo, epochs) = (log.log_end_offset(), log.leader_epochs().to_vec());
    drop(log);
    let log = PartitionLog::open(dir.path(), small_config(), NOW).unwrap();
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(log.leader_epochs(), &epochs[..]);
    assert!(batches(&raw_all(&log))
        .windows(2)
        .all(|w| w[0].1 + 1 == w[1].0));
}

#[test]
fn truncate_to_below_the_log_start_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = leader_log(dir.path());
    log.delete_records_before(12).unwrap();
    assert!(matches!(
        log.truncate_to(5),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.truncate_to(12).unwrap(), 12);
    assert_eq!(log.log_end_offset(), 12);
    assert_eq!(
        log.truncate_to(100).unwrap(),
        12,
        "past the end changes nothing"
    );
}

/// A roll on the produce path no longer fsyncs the sealed segment: the recovery point
/// moves only when housekeeping flushes, and a crash before that recovers by scanning.
#[test]
fn a_roll_leaves_the_fsync_to_the_next_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config(), NOW).unwrap();
    let point = |d: &std::path::Path| {
        crate::files::read_offset_checkpoint(d, crate::files::RECOVERY_POINT_FILE)
            .unwrap()
            .unwrap_or(0)
    };
    for i in 0..20 {
        log.append_as_leader(&plain(3, NOW + i), 0, NOW).unwrap();
    }
    assert!(log.segments().len() > 2);
    assert_eq!(point(dir.path()), 0, "rolls moved the recovery point");
    assert!(!log.unflushed.is_empty());
    log.flush().unwrap();
    assert_eq!(point(dir.path()), log.log_end_offset());
    assert!(log.unflushed.is_empty());
    // Unflushed rolls, then a crash (no close): everything is recovered by a scan.
    for i in 0..20 {
        log.append_as_leader(&plain(3, NOW + i), 0, NOW).unwrap();
    }
    let (leo, all) = (log.log_end_offset(), read_all(&log));
    drop(log);
    let log = PartitionLog::open(dir.path(), small_config(), NOW).unwrap();
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(read_all(&log), all);
}
