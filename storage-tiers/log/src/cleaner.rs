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
//! Locking: a clean reads and rewrites sealed segments, which never change, so only its
//! plan (which segments) and its swap (renames) need the log; the reading, the writing
//! and the throttle's sleeps run while produce and fetch go on.
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
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

use crate::config::LogConfig;
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
    /// `log.cleaner.io.buffer.size`: the write buffer of a cleaned segment (a clean
    /// never holds a whole segment in memory).
    pub io_buffer_size: usize,
    /// Test hook: stop (as if crashed) after this step.
    #[doc(hidden)]
    pub crash_after: Option<CleanStep>,
}

impl Default for CleanerOptions {
    fn default() -> Self {
        Self {
            dedupe_buffer_size: 128 * 1024 * 1024,
            io_buffer_size: 512 * 1024,
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

    /// Compacts the sealed segments (see the module docs) in one call: [`plan_clean`],
    /// [`CleanPlan::prepare`], [`finish_clean`]. A caller that shares the log with
    /// readers and writers runs the three itself, holding the log only for the first
    /// and the last (the reading, rewriting and throttling happen without it).
    ///
    /// [`plan_clean`]: PartitionLog::plan_clean
    /// [`finish_clean`]: PartitionLog::finish_clean
    pub fn clean(
        &mut self,
        now_ms: i64,
        opts: &CleanerOptions,
        throttle: &mut Throttle,
    ) -> Result<CleanStats, LogError> {
        let prepared = self.plan_clean()?.prepare(now_ms, opts, throttle)?;
        self.finish_clean(prepared, opts)
    }

    /// What a clean will read: the sealed segments with handles of their own (valid
    /// even if retention deletes a segment meanwhile), the cleaner checkpoint and the
    /// config. Brief: no data is read.
    pub fn plan_clean(&self) -> Result<CleanPlan, LogError> {
        let active_base = self.active().base_offset;
        let mut segments = Vec::new();
        for seg in self.segments.values() {
            if seg.base_offset == active_base {
                break;
            }
            segments.push(PlannedSegment {
                base_offset: seg.base_offset,
                next_offset: seg.next_offset,
                size: seg.size,
                file: seg.file().try_clone()?,
            });
        }
        Ok(CleanPlan {
            dir: self.dir.clone(),
            config: self.config.clone(),
            first_dirty: self.first_dirty()?,
            segments_before: self.segments.len(),
            segments,
        })
    }

    /// Puts the cleaned segments of `prepared` in place of the ones they were made
    /// from, through the swap protocol, and moves the cleaner checkpoint. A group whose
    /// inputs changed meanwhile (retention deleted one) is dropped, its file removed.
    pub fn finish_clean(
        &mut self,
        prepared: PreparedClean,
        opts: &CleanerOptions,
    ) -> Result<CleanStats, LogError> {
        let mut stats = prepared.stats;
        if !self.config.is_compact() {
            for g in &prepared.groups {
                let _ = std::fs::remove_file(&g.cleaned);
            }
            return Ok(stats);
        }
        let mut groups = prepared.groups.into_iter();
        while let Some(g) = groups.next() {
            let intact = g
                .inputs
                .iter()
                .all(|(base, size)| self.segments.get(base).is_some_and(|s| s.size == *size));
            if !intact {
                let _ = std::fs::remove_file(&g.cleaned);
                continue;
            }
            let bases: Vec<i64> = g.inputs.iter().map(|(b, _)| *b).collect();
            if let Err(e) = self.swap_in(g.first, g.end, &bases, &g.cleaned, opts) {
                for rest in groups {
                    let _ = std::fs::remove_file(&rest.cleaned);
                }
                return Err(e);
            }
        }
        write_offset_checkpoint(&self.dir, CLEANER_CHECKPOINT, prepared.end)?;
        stats.first_dirty_after = prepared.end;
        stats.segments_after = self.segments.len();
        Ok(stats)
    }

    /// Replaces the segments `bases` (covering offsets `[first, end)`) with the fsynced
    /// `cleaned` file through the `.cleaned` → `.swap` → `.log` protocol.
    fn swap_in(
        &mut self,
        first: i64,
        end: i64,
        bases: &[i64],
        cleaned: &Path,
        opts: &CleanerOptions,
    ) -> Result<(), LogError> {
        let dir = self.dir.clone();
        let swap = dir.join(format!("{first:020}-{end:020}.{SWAP_SUFFIX}"));
        std::fs::rename(cleaned, &swap)?;
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

/// One sealed segment as a clean sees it.
#[derive(Debug)]
struct PlannedSegment {
    base_offset: i64,
    next_offset: i64,
    size: u64,
    file: std::fs::File,
}

/// The input of a clean, taken from the log by [`PartitionLog::plan_clean`].
#[derive(Debug)]
pub struct CleanPlan {
    dir: PathBuf,
    config: LogConfig,
    first_dirty: i64,
    segments_before: usize,
    segments: Vec<PlannedSegment>,
}

/// One rewritten group of segments, waiting to be swapped in.
#[derive(Debug)]
struct PreparedGroup {
    /// (base offset, size) of each input segment, to see that none changed.
    inputs: Vec<(i64, u64)>,
    first: i64,
    end: i64,
    cleaned: PathBuf,
}

/// The output of [`CleanPlan::prepare`]: cleaned files on disk, not yet in the log.
#[derive(Debug)]
pub struct PreparedClean {
    stats: CleanStats,
    /// The exclusive end of the mapped range: the next checkpoint.
    end: i64,
    groups: Vec<PreparedGroup>,
}

impl CleanPlan {
    /// Builds the offset map and writes each group's cleaned segment to a `.cleaned`
    /// file, reading and writing at most `throttle`'s rate. Needs no access to the log:
    /// sealed segments do not change, and their handles outlive a deletion. Memory is
    /// the offset map (bounded by `dedupe_buffer_size`) plus one batch and the write
    /// buffer (`io_buffer_size`).
    pub fn prepare(
        self,
        now_ms: i64,
        opts: &CleanerOptions,
        throttle: &mut Throttle,
    ) -> Result<PreparedClean, LogError> {
        let first_dirty = self.first_dirty;
        let mut stats = CleanStats {
            segments_before: self.segments_before,
            first_dirty_before: first_dirty,
            first_dirty_after: first_dirty,
            ..Default::default()
        };
        let mut prepared = PreparedClean {
            stats: CleanStats::default(),
            end: first_dirty,
            groups: Vec::new(),
        };
        if !self.config.is_compact() {
            stats.segments_after = self.segments_before;
            prepared.stats = stats;
            return Ok(prepared);
        }
        let min_lag = self.config.min_compaction_lag_ms();
        // 1. The offset map over the dirty range.
        let max_entries = (opts.dedupe_buffer_size / ENTRY_BYTES).max(1);
        let mut map: HashMap<u128, i64> = HashMap::new();
        let mut end = first_dirty; // exclusive end of the mapped range
        'segments: for seg in &self.segments {
            if seg.next_offset <= first_dirty {
                continue;
            }
            let mut scan = BatchScanner::new(&seg.file, 0, seg.size, false);
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
        let mut groups: Vec<Vec<&PlannedSegment>> = Vec::new();
        let mut size = 0u64;
        for seg in &self.segments {
            if seg.base_offset >= end {
                break;
            }
            let fits = groups.last().is_some_and(|g| {
                let first = g[0].base_offset;
                size + seg.size <= segment_bytes && seg.next_offset - first < u32::MAX as i64
            });
            if fits {
                if let Some(g) = groups.last_mut() {
                    g.push(seg);
                }
                size += seg.size;
            } else {
                groups.push(vec![seg]);
                size = seg.size;
            }
        }
        let delete_horizon = now_ms.saturating_sub(self.config.delete_retention_ms());
        for group in groups {
            let written = self.clean_group(
                &group,
                &map,
                end,
                delete_horizon,
                opts,
                throttle,
                &mut stats,
            );
            match written {
                Ok(Some(g)) => prepared.groups.push(g),
                Ok(None) => {}
                Err(e) => {
                    for g in &prepared.groups {
                        let _ = std::fs::remove_file(&g.cleaned);
                    }
                    return Err(e);
                }
            }
        }
        prepared.stats = stats;
        prepared.end = end;
        Ok(prepared)
    }

    /// Writes the kept records of `group` to its `.cleaned` file (fsynced), or returns
    /// `None` when the group would come out unchanged.
    #[allow(clippy::too_many_arguments)]
    fn clean_group(
        &self,
        group: &[&PlannedSegment],
        map: &HashMap<u128, i64>,
        mapped_end: i64,
        delete_horizon: i64,
        opts: &CleanerOptions,
        throttle: &mut Throttle,
        stats: &mut CleanStats,
    ) -> Result<Option<PreparedGroup>, LogError> {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            return Ok(None);
        };
        let (first, group_end) = (first.base_offset, last.next_offset);
        let cleaned = self
            .dir
            .join(format!("{first:020}-{group_end:020}.{CLEANED_SUFFIX}"));
        let file = std::fs::File::create(&cleaned)?;
        let mut out = std::io::BufWriter::with_capacity(opts.io_buffer_size.max(4096), file);
        let outcome = (|| -> Result<bool, LogError> {
            let removed_before = stats.records_removed;
            let mut encoded = BytesMut::new();
            for seg in group {
                let mut scan = BatchScanner::new(&seg.file, 0, seg.size, false);
                while let ScanItem::Batch { header, .. } = scan.next_item()? {
                    let raw = header.as_bytes();
                    throttle.consume(raw.len());
                    stats.bytes_read += raw.len() as u64;
                    if header.is_control() {
                        write_out(&mut out, raw, throttle, stats)?;
                        continue;
                    }
                    let compression = compression_of(header.compression_code());
                    let mut buf = Bytes::copy_from_slice(raw);
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
                                // The latest of its key: a tombstone goes once it is
                                // older than delete.retention.ms.
                                _ => r.value.is_some() || r.timestamp >= delete_horizon,
                            }
                        })
                        .collect();
                    stats.records_removed += (total - kept.len()) as u64;
                    if kept.len() == total {
                        write_out(&mut out, raw, throttle, stats)?;
                    } else if !kept.is_empty() {
                        encoded.clear();
                        RecordBatchEncoder::encode(
                            &mut encoded,
                            &kept,
                            &RecordEncodeOptions {
                                version: 2,
                                compression,
                            },
                        )
                        .map_err(|e| LogError::CorruptRecord(format!("cleaner re-encode: {e}")))?;
                        write_out(&mut out, &encoded, throttle, stats)?;
                    }
                }
            }
            // Nothing to drop and nothing to merge: leave the segment as it is.
            Ok(stats.records_removed != removed_before || group.len() > 1)
        })();
        let changed = match outcome {
            Ok(changed) => changed,
            Err(e) => {
                drop(out);
                let _ = std::fs::remove_file(&cleaned);
                return Err(e);
            }
        };
        if !changed {
            drop(out);
            std::fs::remove_file(&cleaned)?;
            return Ok(None);
        }
        let file = out.into_inner().map_err(|e| LogError::Io(e.into_error()))?;
        file.sync_all()?;
        if opts.crash_after == Some(CleanStep::CleanedWritten) {
            return Err(LogError::Io(std::io::Error::other("test crash")));
        }
        Ok(Some(PreparedGroup {
            inputs: group.iter().map(|s| (s.base_offset, s.size)).collect(),
            first,
            end: group_end,
            cleaned,
        }))
    }
}

/// Appends `bytes` to a cleaned file, counting them against the throttle.
fn write_out(
    out: &mut impl Write,
    bytes: &[u8],
    throttle: &mut Throttle,
    stats: &mut CleanStats,
) -> Result<(), LogError> {
    out.write_all(bytes)?;
    throttle.consume(bytes.len());
    stats.bytes_written += bytes.len() as u64;
    Ok(())
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
