//! The remote reader over a real `ObjectStoreRsm` on an in-memory store: batches that
//! straddle chunks, the one-batch minimum, read-ahead, shared GETs, and a disk tier.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use object_store::memory::InMemory;
use strata_cache::{CacheOptions, RemoteReader};
use strata_remote::{
    LogSegmentData, ObjectStoreRsm, RemoteLogSegmentId, RemoteLogSegmentMetadata,
    RemoteLogSegmentState, RemoteStorageManager, RetryPolicy, TopicIdPartition,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const CHUNK: u64 = 64 * 1024;

/// A read's parts as one buffer.
fn concat(parts: Vec<Bytes>) -> Vec<u8> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

/// A stand-in v2 batch: only what the reader looks at is real (base offset, length,
/// last offset delta); `records` offsets, `size` bytes in total.
fn batch(base: i64, records: i32, size: usize) -> Vec<u8> {
    let mut b = vec![0u8; size];
    b[..8].copy_from_slice(&base.to_be_bytes());
    b[8..12].copy_from_slice(&((size - 12) as i32).to_be_bytes());
    b[16] = 2;
    b[23..27].copy_from_slice(&(records - 1).to_be_bytes());
    for (i, x) in b[61..].iter_mut().enumerate() {
        *x = (base as usize + i) as u8;
    }
    b
}

struct Segment {
    meta: RemoteLogSegmentMetadata,
    /// (base offset, last offset, byte range) of each batch.
    batches: Vec<(i64, i64, std::ops::Range<usize>)>,
    bytes: Vec<u8>,
}

/// Uploads a segment of batches of assorted sizes (some larger than a chunk) starting at
/// offset 1000, with an offset index entry every ~16 KiB.
async fn upload(rsm: &ObjectStoreRsm, dir: &std::path::Path) -> Segment {
    let sizes = [
        700usize,
        5_000,
        20_000,
        90_000,
        300,
        64 * 1024,
        12_345,
        150_000,
        999,
    ];
    let (mut bytes, mut batches, mut index) = (Vec::new(), Vec::new(), Vec::new());
    let mut offset = 1000i64;
    let mut since_index = 0usize;
    for round in 0..6 {
        for (i, s) in sizes.iter().enumerate() {
            let n = 1 + ((round + i) % 7) as i32;
            let b = batch(offset, n, *s);
            let at = bytes.len();
            if since_index >= 16 * 1024 {
                index.extend_from_slice(&((offset + i64::from(n) - 1 - 1000) as u32).to_be_bytes());
                index.extend_from_slice(&(at as u32).to_be_bytes());
                since_index = 0;
            }
            bytes.extend_from_slice(&b);
            since_index += b.len();
            batches.push((offset, offset + i64::from(n) - 1, at..at + b.len()));
            offset += i64::from(n);
        }
    }
    let (log, idx, tidx) = (
        dir.join("s.log"),
        dir.join("s.index"),
        dir.join("s.timeindex"),
    );
    std::fs::write(&log, &bytes).unwrap();
    std::fs::write(&idx, &index).unwrap();
    std::fs::write(&tidx, []).unwrap();
    let meta = RemoteLogSegmentMetadata {
        segment_id: RemoteLogSegmentId {
            tp: TopicIdPartition::new(strata_remote::TopicId::random(), "t", 0),
            id: Uuid::new_v4(),
        },
        start_offset: 1000,
        end_offset: offset - 1,
        max_timestamp_ms: 0,
        broker_id: 1,
        event_timestamp_ms: 0,
        segment_size_bytes: bytes.len() as u64,
        segment_leader_epochs: BTreeMap::from([(0, 1000)]),
        state: RemoteLogSegmentState::CopySegmentFinished,
    };
    let data = LogSegmentData {
        log_segment: log,
        offset_index: idx,
        time_index: tidx,
        transaction_index: None,
        producer_snapshot: None,
        leader_epoch_index: Bytes::from_static(b"0\n1\n0 1000\n"),
    };
    rsm.copy_log_segment_data(&meta, &data, &CancellationToken::new())
        .await
        .unwrap();
    Segment {
        meta,
        batches,
        bytes,
    }
}

fn opts() -> CacheOptions {
    CacheOptions {
        memory_bytes: 64 << 20,
        chunk_bytes: CHUNK,
        read_ahead_chunks: 2,
        ..CacheOptions::default()
    }
}

async fn setup(o: CacheOptions) -> (RemoteReader, Segment, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rsm = Arc::new(ObjectStoreRsm::new(
        Arc::new(InMemory::new()),
        "",
        RetryPolicy::default(),
    ));
    let seg = upload(&rsm, dir.path()).await;
    let reader = RemoteReader::new(rsm, o, tokio::runtime::Handle::current())
        .await
        .unwrap();
    (reader, seg, dir)
}

#[tokio::test]
async fn reads_whole_batches_from_any_offset_within_limits() {
    let (reader, seg, _dir) = setup(opts()).await;
    let cancel = CancellationToken::new();
    for offset in [1000, 1001, 1003, 1050, 1100, seg.meta.end_offset] {
        let first = seg
            .batches
            .iter()
            .position(|(_, last, _)| *last >= offset)
            .unwrap();
        for max in [1usize, 10_000, 100_000, 1 << 20] {
            let parts = reader
                .read(&seg.meta, &[], offset, max, true, &cancel)
                .await
                .unwrap();
            // Parts are slices of chunks: none spans a chunk boundary.
            assert!(parts.iter().all(|p| p.len() as u64 <= CHUNK));
            let got = concat(parts);
            // Whole batches from the one holding `offset`, at most `max` unless the
            // first alone is larger.
            let mut want = Vec::new();
            for (_, _, r) in &seg.batches[first..] {
                if !want.is_empty() && want.len() + r.len() > max {
                    break;
                }
                want.extend_from_slice(&seg.bytes[r.clone()]);
                if want.len() >= max {
                    break;
                }
            }
            assert_eq!(got.len(), want.len(), "offset {offset} max {max}");
            assert!(got[..] == want[..], "offset {offset} max {max}");
        }
        let none = concat(
            reader
                .read(&seg.meta, &[], offset, 1, false, &cancel)
                .await
                .unwrap(),
        );
        assert!(none.is_empty() || none.len() == 1);
    }
}

#[tokio::test]
async fn sequential_reads_hit_read_ahead_and_concurrent_reads_share_gets() {
    let (reader, seg, _dir) = setup(opts()).await;
    let cancel = CancellationToken::new();
    let chunks = seg.meta.segment_size_bytes.div_ceil(CHUNK);
    // Eight readers of the same offsets at once: every chunk fetched once.
    let reads = (0..8).map(|_| reader.read(&seg.meta, &[], 1000, usize::MAX, true, &cancel));
    for r in futures::future::join_all(reads).await {
        assert_eq!(concat(r.unwrap()).len(), seg.bytes.len());
    }
    // Let spawned read-ahead settle.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let s = reader.stats();
    assert_eq!(s.chunks_fetched, chunks, "{s:?}");
    assert_eq!(s.bytes_fetched, seg.meta.segment_size_bytes);
    assert!(s.cache_hits > 0);
    // A second pass is served from the cache alone.
    let again = concat(
        reader
            .read(&seg.meta, &[], 1000, usize::MAX, true, &cancel)
            .await
            .unwrap(),
    );
    assert_eq!(again.len(), seg.bytes.len());
    assert_eq!(reader.stats().chunks_fetched, chunks);
    // Forgetting the segment drops its chunks.
    reader.forget(&seg.meta);
    reader
        .read(&seg.meta, &[], 1000, 1, true, &cancel)
        .await
        .unwrap();
    assert!(reader.stats().chunks_fetched > chunks);
}

#[tokio::test]
async fn a_disk_tier_serves_chunks_evicted_from_memory() {
    let cache = tempfile::tempdir().unwrap();
    let o = CacheOptions {
        memory_bytes: CHUNK as usize,
        disk_bytes: 256 << 20,
        dir: Some(cache.path().to_path_buf()),
        read_ahead_chunks: 0,
        ..opts()
    };
    let (reader, seg, _dir) = setup(o).await;
    let cancel = CancellationToken::new();
    let all = concat(
        reader
            .read(&seg.meta, &[], 1000, usize::MAX, true, &cancel)
            .await
            .unwrap(),
    );
    assert!(all[..] == seg.bytes[..]);
    let fetched = reader.stats().chunks_fetched;
    // Let evictions reach the disk tier, then read everything again.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let again = concat(
        reader
            .read(&seg.meta, &[], 1000, usize::MAX, true, &cancel)
            .await
            .unwrap(),
    );
    assert!(again[..] == seg.bytes[..]);
    let refetched = reader.stats().chunks_fetched - fetched;
    assert!(
        refetched < fetched,
        "disk tier served nothing: {refetched} of {fetched} re-fetched"
    );
    reader.close().await;
}
