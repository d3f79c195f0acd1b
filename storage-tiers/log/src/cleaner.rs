//! Log compaction: keep the latest record of each key in the sealed segments.
//!
//! One clean: build a map key → latest offset over the dirty part of the log (from the
//! cleaner checkpoint to the active segment, minus records younger than
//! `min.compaction.lag.ms`; its size bounded by the dedupe buffer), then rewrite the
//! sealed segments keeping only records that are the latest for their key (or newer
//! than the mapped range), dropping tombstones older than `delete.retention.ms`.
//! Offsets never change: a batch whose records all survive is copied byte for byte; a
//! batch that loses some is re-encoded with the same offsets, codec, producer fields
//! and timestamps; control batches are kept.
//!
//! Crash safety: each group of input segments becomes `<base>-<end>.cleaned`, which is
//! fsynced and renamed to `<base>-<end>.swap`; then the inputs are deleted and the swap
//! renamed to `<base>.log`. [`recover_swaps`] runs at open: `.cleaned` files are
//! deleted (old segments intact) and `.swap` files are finished (segments in their
//! range deleted, swap renamed), so a crash leaves the old segments or the new ones.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

use crate::error::LogError;
use crate::files::{
    offset_file, read_offset_checkpoint, sync_dir, write_offset_checkpoint, INDEX_SUFFIX,
    LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::log::PartitionLog;
use crate::scan::{BatchScanner, ScanItem};
use crate::segment::Segment;

/// Where the cleaner stopped: records below it have been compacted once.
const CLEANER_CHECKPOINT: &str = "cleaner-offset-checkpoint";
const CLEANED_SUFFIX: &str = "cleaned";
const SWAP_SUFFIX: &str = "swap";
/// Bytes per offset-map entry assumed when sizing it from the dedupe buffer (a 16-byte
/// key hash, an 8-byte offset, and the map's own overhead).
const ENTRY_BYTES: usize = 48;

/// Cleaner settings (Kafka's `log.cleaner.*`).
#[derive(Debug, Clone)]
pub struct CleanerOptions {
    /// `log.cleaner.dedupe.buffer.size`: memory for the key → offset map.
    pub dedupe_buffer_size: usize,
    /// Test hook: stop (as if crashed) after this step.
    #[doc(hidden)]
    pub crash_after: Option<CleanStep>,
}

impl Default for CleanerOptions {
    fn default() -> Self {
        Self {
            dedupe_buffer_size: 128 * 1024 * 1024,
            crash_after: None,
        }
    }
}

/// Steps of the swap, for crash tests.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanStep {
    CleanedWritten,
    SwapRenamed,
    OldDeleted,
}

/// `log.cleaner.io.max.bytes.per.second`: sleeps so that bytes read plus written stay
/// under the rate.
#[derive(Debug)]
pub struct Throttle {
    bytes_per_second: f64,
    start: Instant,
    bytes: f64,
}

impl Throttle {
    pub fn new(bytes_per_second: f64) -> Self {
        Self {
            bytes_per_second,
            start: Instant::now(),
            bytes: 0.0,
        }
    }

    /// Accounts `bytes` and sleeps if the rate is exceeded.
    pub fn consume(&mut self, bytes: usize) {
        if !self.bytes_per_second.is_finite() || self.bytes_per_second <= 0.0 {
            return;
        }
        self.bytes += bytes as f64;
        let due = Duration::from_secs_f64(self.bytes / self.bytes_per_second);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}

/// What one clean did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_removed: u64,
    pub segments_before: usize,
    pub segments_after: usize,
    pub first_dirty_before: i64,
    pub first_dirty_after: i64,
}

fn key_hash(key: &[u8]) -> u128 {
    let mut a = DefaultHasher::new();
    0u8.hash(&mut a);
    key.hash(&mut a);
    let mut b = DefaultHasher::new();
    1u8.hash(&mut b);
    key.hash(&mut b);
    ((a.finish() as u128) << 64) | b.finish() as u128
}

fn compression_of(code: i16) -> Compression {
    match code {
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        _ => Compression::None,
    }
}

impl PartitionLog {
    fn first_dirty(&self) -> Result<i64, LogError> {
        let stored = read_offset_checkpoint(&self.dir, CLEANER_CHECKPOINT)?.unwrap_or(0);
        Ok(stored.max(self.log_start_offset))
    }

    /// Share of the sealed log not yet compacted (bytes), as `min.cleanable.dirty.ratio`
    /// compares it.
    pub fn dirty_ratio(&self) -> f64 {
        let Ok(first_dirty) = self.first_dirty() else {
            return 0.0;
        };
        let active = self.active().base_offset;
        let (mut clean, mut dirty) = (0u64, 0u64);
        for s in self.segments.values() {
            if s.base_offset == active {
                continue;
            }
            if s.next_offset <= first_dirty {
                clean += s.size;
            } else {
                dirty += s.size;
            }
        }
        if clean + dirty == 0 {
            0.0
        } else {
            dirty as f64 / (clean + dirty) as f64
        }
    }

    /// Whether a compacted log is due for cleaning: enough dirty bytes, or dirty data
    /// older than `max.compaction.lag.ms`.
    pub fn needs_cleaning(&self, now_ms: i64) -> bool {
        if !self.config.is_compact() {
            return false;
        }
        let Ok(first_dirty) = self.first_dirty() else {
            return false;
        };
        let active = self.active().base_offset;
        let dirty: Vec<&Segment> = self
            .segments
            .values()
            .filter(|s| s.base_offset != active && s.next_offset > first_dirty)
            .collect();
        if dirty.is_empty() {
            return false;
        }
        let max_lag = self.config.max_compaction_lag_ms();
        let overdue = dirty
            .iter()
            .any(|s| s.max_timestamp >= 0 && now_ms.saturating_sub(s.max_timestamp) > max_lag);
        overdue || self.dirty_ratio() >= self.config.min_cleanable_dirty_ratio()
    }

    /// Compacts the sealed segments (see the module docs). Holds the log for the whole
    /// clean. On error the log is left as it was (old segments) or, past the swap,
    /// as the new segments; both are complete.
    pub fn clean(
        &mut self,
        now_ms: i64,
        opts: &CleanerOptions,
        throttle: &mut Throttle,
    ) -> Result<CleanStats, LogError> {
        let mut stats = CleanStats {
            segments_before: self.segments.len(),
            ..Default::default()
        };
        let first_dirty = self.first_dirty()?;
        stats.first_dirty_before = first_dirty;
        stats.first_dirty_after = first_dirty;
        if !self.config.is_compact() {
            return Ok(stats);
        }
        let active_base = self.active().base_offset;
        let min_lag = self.config.min_compaction_lag_ms();
        // 1. The offset map over the dirty range.
        let max_entries = (opts.dedupe_buffer_size / ENTRY_BYTES).max(1);
        let mut map: HashMap<u128, i64> = HashMap::new();
        let mut end = first_dirty; // exclusive end of the mapped range
        'segments: for seg in self.segments.values() {
            if seg.base_offset == active_base {
                break;
            }
            if seg.next_offset <= first_dirty {
                continue;
            }
            let mut scan = BatchScanner::new(seg.file(), 0, seg.size, false);
            while let ScanItem::Batch { header, .. } = scan.next_item()? {
                let (bytes, last, max_ts, is_control) = (
                    Bytes::copy_from_slice(header.as_bytes()),
                    header.last_offset(),
                    header.max_timestamp(),
                    header.is_control(),
                );
                throttle.consume(bytes.len());
                stats.bytes_read += bytes.len() as u64;
                if last < first_dirty {
                    continue;
                }
                if max_ts >= 0 && now_ms.saturating_sub(max_ts) < min_lag {
                    break 'segments;
                }
                if !is_control {
                    let mut buf = bytes;
                    let set = RecordBatchDecoder::decode(&mut buf)
                        .map_err(|e| LogError::CorruptRecord(format!("cleaner: {e}")))?;
                    let new_keys = set
                        .records
                        .iter()
                        .filter(|r| {
                            r.key
                                .as_ref()
                                .is_some_and(|k| !map.contains_key(&key_hash(k)))
                        })
                        .count();
                    if map.len() + new_keys > max_entries {
                        break 'segments;
                    }
                    for r in &set.records {
                        if let Some(k) = &r.key {
                            map.insert(key_hash(k), r.offset);
                        }
                    }
                }
                end = last + 1;
            }
        }
        // With nothing new to map, the pass below still drops tombstones that have
        // outlived delete.retention.ms from the already-clean part.
        // 2. Group the sealed segments up to `end` and rewrite each group.
        let segment_bytes = self.config.segment_bytes;
        let mut groups: Vec<Vec<i64>> = Vec::new();
        let mut size = 0u64;
        for seg in self.segments.values() {
            if seg.base_offset == active_base || seg.base_offset >= end {
                break;
            }
            let fits = groups.last().is_some_and(|g| {
                let first = g[0];
                size + seg.size <= segment_bytes && seg.next_offset - first < u32::MAX as i64
            });
            if fits {
                if let Some(g) = groups.last_mut() {
                    g.push(seg.base_offset);
                }
                size += seg.size;
            } else {
                groups.push(vec![seg.base_offset]);
                size = seg.size;
            }
        }
        let delete_horizon = now_ms.saturating_sub(self.config.delete_retention_ms());
        for group in groups {
            self.clean_group(
                &group,
                &map,
                end,
                delete_horizon,
                opts,
                throttle,
                &mut stats,
            )?;
        }
        write_offset_checkpoint(&self.dir, CLEANER_CHECKPOINT, end)?;
        stats.first_dirty_after = end;
        stats.segments_after = self.segments.len();
        Ok(stats)
    }

    #[allow(clippy::too_many_arguments)]
    fn clean_group(
        &mut self,
        bases: &[i64],
        map: &HashMap<u128, i64>,
        mapped_end: i64,
        delete_horizon: i64,
        opts: &CleanerOptions,
        throttle: &mut Throttle,
        stats: &mut CleanStats,
    ) -> Result<(), LogError> {
        let Some(&first) = bases.first() else {
            return Ok(());
        };
        let group_end = bases
            .last()
            .and_then(|b| self.segments.get(b))
            .map(|s| s.next_offset)
            .unwrap_or(first);
        let mut out = BytesMut::new();
        let removed_before = stats.records_removed;
        for base in bases {
            let Some(seg) = self.segments.get(base) else {
                continue;
            };
            let mut scan = BatchScanner::new(seg.file(), 0, seg.size, false);
            while let ScanItem::Batch { header, .. } = scan.next_item()? {
                let raw = Bytes::copy_from_slice(header.as_bytes());
                throttle.consume(raw.len());
                stats.bytes_read += raw.len() as u64;
                if header.is_control() {
                    out.extend_from_slice(&raw);
                    continue;
                }
                let compression = compression_of(header.compression_code());
                let mut buf = raw.clone();
                let set = RecordBatchDecoder::decode(&mut buf)
                    .map_err(|e| LogError::CorruptRecord(format!("cleaner: {e}")))?;
                let total = set.records.len();
                let kept: Vec<_> = set
                    .records
                    .into_iter()
                    .filter(|r| {
                        let Some(k) = &r.key else { return true };
                        if r.offset >= mapped_end {
                            return true;
                        }
                        match map.get(&key_hash(k)) {
                            Some(latest) if *latest > r.offset => false,
                            // The latest of its key: a tombstone goes once it is older
                            // than delete.retention.ms.
                            _ => r.value.is_some() || r.timestamp >= delete_horizon,
                        }
                    })
                    .collect();
                stats.records_removed += (total - kept.len()) as u64;
                if kept.len() == total {
                    out.extend_from_slice(&raw);
                } else if !kept.is_empty() {
                    RecordBatchEncoder::encode(
                        &mut out,
                        &kept,
                        &RecordEncodeOptions {
                            version: 2,
                            compression,
                        },
                    )
                    .map_err(|e| LogError::CorruptRecord(format!("cleaner re-encode: {e}")))?;
                }
            }
        }
        if stats.records_removed == removed_before && bases.len() == 1 {
            // Nothing to drop and nothing to merge: leave the segment as it is.
            return Ok(());
        }
        throttle.consume(out.len());
        stats.bytes_written += out.len() as u64;
        self.swap_in(first, group_end, bases, &out, opts)
    }

    /// Replaces the segments `bases` (covering offsets `[first, end)`) with `data`
    /// through the `.cleaned` → `.swap` → `.log` protocol.
    fn swap_in(
        &mut self,
        first: i64,
        end: i64,
        bases: &[i64],
        data: &[u8],
        opts: &CleanerOptions,
    ) -> Result<(), LogError> {
        let dir = self.dir.clone();
        let cleaned = dir.join(format!("{first:020}-{end:020}.{CLEANED_SUFFIX}"));
        let swap = dir.join(format!("{first:020}-{end:020}.{SWAP_SUFFIX}"));
        {
            let mut f = std::fs::File::create(&cleaned)?;
            f.write_all(data)?;
            f.sync_all()?;
        }
        if opts.crash_after == Some(CleanStep::CleanedWritten) {
            return Err(LogError::Io(std::io::Error::other("test crash")));
        }
        std::fs::rename(&cleaned, &swap)?;
        sync_dir(&dir)?;
        if opts.crash_after == Some(CleanStep::SwapRenamed) {
            return Err(LogError::Io(std::io::Error::other("test crash")));
        }
        for b in bases {
            if let Some(seg) = self.segments.remove(b) {
                seg.delete_files()?;
            }
        }
        if opts.crash_after == Some(CleanStep::OldDeleted) {
            return Err(LogError::Io(std::io::Error::other("test crash")));
        }
        std::fs::rename(&swap, offset_file(&dir, first, LOG_SUFFIX))?;
        sync_dir(&dir)?;
        let (mut seg, _) = Segment::open(&dir, first, &self.config)?;
        seg.recover(self.config.index_interval_bytes)?;
        self.segments.insert(first, seg);
        Ok(())
    }
}

/// Finishes or rolls back swaps interrupted by a crash (called at open, before the
/// segments are loaded).
pub(crate) fn recover_swaps(dir: &Path) -> Result<(), LogError> {
    let mut swaps = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(&format!(".{CLEANED_SUFFIX}")) {
            std::fs::remove_file(e.path())?;
        } else if let Some(stem) = name.strip_suffix(&format!(".{SWAP_SUFFIX}")) {
            let range = stem
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)));
            match range {
                Some(r) => swaps.push((r, e.path())),
                None => tracing::warn!(file = %name, "ignoring a swap file with a bad name"),
            }
        }
    }
    for ((first, end), path) in swaps {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                if let Some(b) = crate::files::parse_offset_file(&name, suffix) {
                    if b >= first && b < end {
                        std::fs::remove_file(e.path())?;
                    }
                }
            }
        }
        std::fs::rename(&path, offset_file(dir, first, LOG_SUFFIX))?;
        sync_dir(dir)?;
        tracing::info!(dir = %dir.display(), first, end, "finished an interrupted clean");
    }
    Ok(())
}
