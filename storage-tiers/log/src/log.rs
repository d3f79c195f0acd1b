//! The partition log: an ordered set of segments with one active segment.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::batch::{
    set_base_offset, set_leader_epoch, set_log_append_time, split_batches, BatchSpan,
    RecordBatchHeader, BATCH_SPAN_LEN,
};
use crate::config::{LogConfig, TimestampType};
use crate::error::LogError;
use crate::files::{offset_file, parse_offset_file, sync_dir, write_offset_checkpoint};
use crate::files::{RECOVERY_POINT_FILE, SNAPSHOT_SUFFIX};
use crate::leader_epochs::{EpochEntry, LeaderEpochCache};
use crate::producer_state::{BatchMetadata, ProducerEntry, ProducerStateManager, SeqCheck};
use crate::segment::Segment;

/// Snapshots kept on disk.
const SNAPSHOTS_KEPT: usize = 2;

/// Result of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended (or of the original, if duplicate).
    pub first_offset: i64,
    /// Offset of the last record appended (or of the original, if duplicate).
    pub last_offset: i64,
    /// The broker time stamped on the batches; -1 unless LogAppendTime.
    pub log_append_time_ms: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// True if the batch was a retry of an already-appended batch; nothing was written.
    pub duplicate: bool,
}

/// A record's timestamp and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// The record's timestamp.
    pub timestamp: i64,
    /// The record's offset.
    pub offset: i64,
}

/// Summary of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Offset of the first batch the segment may hold (its file name).
    pub base_offset: i64,
    /// Size of the `.log` file.
    pub size_bytes: u64,
    /// Largest batch max timestamp, -1 if empty.
    pub max_timestamp: i64,
}

/// One partition's local log. Not internally synchronised: writers take
/// `&mut self`, readers `&self` (callers wrap it in a `RwLock`).
#[derive(Debug)]
pub struct PartitionLog {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    /// By base offset; never empty, the last one is active.
    pub(crate) segments: BTreeMap<i64, Segment>,
    pub(crate) log_start_offset: i64,
    pub(crate) producers: ProducerStateManager,
    /// Where each leader epoch starts (`leader-epoch-checkpoint`).
    pub(crate) epochs: LeaderEpochCache,
    /// Segments rolled since the last [`PartitionLog::flush`], not yet fsynced: a roll
    /// on the produce path never waits for a segment's data to reach the disk (Kafka
    /// also flushes a rolled segment in the background); the recovery point moves
    /// only once they are.
    pub(crate) unflushed: Vec<i64>,
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Last offset and total length of the stored batch at `b[0..]` (which holds at
/// least [`BATCH_SPAN_LEN`] bytes).
fn peek(b: &[u8]) -> Result<(i64, usize), LogError> {
    let span = BatchSpan::peek(b)?
        .ok_or_else(|| LogError::CorruptRecord("truncated stored batch header".into()))?;
    Ok((span.last_offset, span.total_len))
}

impl PartitionLog {
    #[cfg(test)]
    pub(crate) fn latest_epoch_for_test(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    /// The leader epochs of this log, oldest first, each with its first offset.
    pub fn leader_epochs(&self) -> &[EpochEntry] {
        self.epochs.entries()
    }

    /// Kafka's OffsetForLeaderEpoch answer from this log: the newest epoch at or below
    /// `epoch` it holds and the offset where that epoch ends (the log end for the
    /// latest). `None` when every epoch here is newer.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// The epochs in effect over `[start, end)`: the one `start` falls in (moved up to
    /// `start`) and every one beginning before `end`, as a segment's epoch index.
    pub fn leader_epochs_in(&self, start: i64, end: i64) -> Vec<EpochEntry> {
        let entries = self.epochs.entries();
        let first = entries.iter().rposition(|e| e.start_offset <= start);
        let mut out: Vec<EpochEntry> = Vec::new();
        if let Some(i) = first {
            out.push(EpochEntry {
                epoch: entries[i].epoch,
                start_offset: start,
            });
        }
        out.extend(
            entries
                .iter()
                .filter(|e| e.start_offset > start && e.start_offset < end)
                .copied(),
        );
        out
    }

    /// Appends batches a leader wrote, at the offsets they carry (a follower's append):
    /// nothing is re-stamped. The first batch must start at the log end and offsets must
    /// increase without gaps; each batch's CRC must hold. The batches' leader epochs
    /// feed the epoch cache, and their producer fields the producer state, so a
    /// follower that becomes leader answers retries and fences as the old leader did.
    /// On any error nothing is written.
    pub fn append_as_follower(
        &mut self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let ranges = split_batches(records)?;
        if ranges.is_empty() {
            return Err(LogError::InvalidRecord("no record batches".into()));
        }
        let first_offset = self.log_end_offset();
        let mut next = first_offset;
        let mut epochs: Vec<(i32, i64)> = Vec::new();
        for r in &ranges {
            let h = RecordBatchHeader::parse(&records[r.clone()])?;
            if !h.is_crc_valid() {
                return Err(LogError::CorruptRecord(format!(
                    "batch at offset {} fails its CRC",
                    h.base_offset()
                )));
            }
            if h.base_offset() != next || h.last_offset_delta() < 0 {
                return Err(LogError::InvalidRecord(format!(
                    "follower batch at offset {} (delta {}) where {next} was due",
                    h.base_offset(),
                    h.last_offset_delta()
                )));
            }
            let epoch = h.partition_leader_epoch();
            if epochs.last().is_none_or(|&(e, _)| e < epoch) {
                epochs.push((epoch, h.base_offset()));
            }
            next = h.last_offset() + 1;
        }
        let last_offset = next - 1;
        self.make_room(records.len() as u64, last_offset, now_ms)?;
        let interval = self.config.index_interval_bytes;
        self.active_mut().append(records, now_ms, interval)?;
        for r in &ranges {
            if let Ok(h) = RecordBatchHeader::parse(&records[r.clone()]) {
                self.producers.replay(&h);
            }
        }
        for (epoch, start) in epochs {
            self.epochs.assign(epoch, start)?;
        }
        Ok(AppendInfo {
            first_offset,
            last_offset,
            log_append_time_ms: -1,
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    /// Removes every batch at or after `offset`, so the log ends at `offset` (or, if
    /// `offset` falls inside a batch, at that batch's base: batches are never split),
    /// as a follower does before it fetches from a new leader. Segments wholly past it
    /// go, the one it falls in is cut and re-indexed, and the producer state and epoch
    /// cache forget what was removed. Returns the new log end. Truncating below the log
    /// start is refused.
    pub fn truncate_to(&mut self, offset: i64) -> Result<i64, LogError> {
        if offset >= self.log_end_offset() {
            return Ok(self.log_end_offset());
        }
        if offset < self.log_start_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: self.log_end_offset(),
            });
        }
        // The segment `offset` falls in stays (cut); every later one goes.
        let doomed: Vec<i64> = self
            .segments
            .range(offset.saturating_add(1)..)
            .map(|(b, _)| *b)
            .collect();
        for base in doomed {
            if let Some(seg) = self.segments.remove(&base) {
                seg.delete_files()?;
            }
        }
        let interval = self.config.index_interval_bytes;
        match self.segments.values_mut().next_back() {
            Some(seg) => seg.truncate_to_offset(offset, interval)?,
            None => {
                self.segments
                    .insert(offset, Segment::create(&self.dir, offset, &self.config)?);
            }
        }
        crate::files::sync_dir(&self.dir)?;
        let leo = self.log_end_offset();
        self.epochs.truncate_from_end(leo)?;
        self.producers = Default::default();
        self.reload_producer_state()?;
        Ok(leo)
    }

    /// Forgets idempotent producers idle for `max_idle_ms` (their last batch's
    /// timestamp is older), as Kafka's `producer.id.expiration.ms` does; returns how
    /// many went. The next snapshot no longer holds them.
    pub fn remove_expired_producers(&mut self, now_ms: i64, max_idle_ms: i64) -> usize {
        self.producers.remove_expired(now_ms, max_idle_ms)
    }

    /// The effective configuration.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the configuration; takes effect on the next append/retention run.
    pub fn set_config(&mut self, config: LogConfig) {
        for s in self.segments.values_mut() {
            s.set_index_max_bytes(config.segment_index_bytes);
        }
        self.config = config;
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Base offset of the active segment: it changes whenever a segment is sealed.
    pub fn active_base_offset(&self) -> i64 {
        self.active().base_offset
    }

    pub(crate) fn active(&self) -> &Segment {
        // The map is never empty (open creates a segment, deletion keeps the last).
        match self.segments.values().next_back() {
            Some(s) => s,
            None => unreachable_segment(),
        }
    }

    fn active_mut(&mut self) -> &mut Segment {
        match self.segments.values_mut().next_back() {
            Some(s) => s,
            None => unreachable_segment(),
        }
    }

    /// The first offset still readable.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next appended record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// Total bytes of all segment `.log` files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }

    /// All segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.segments
            .values()
            .map(|s| SegmentInfo {
                base_offset: s.base_offset,
                size_bytes: s.size,
                max_timestamp: s.max_timestamp,
            })
            .collect()
    }

    /// Validates every batch of `records` (whole v2 batches as a producer sent
    /// them: parse, CRC, size <= `max.message.bytes`, `lastOffsetDelta ==
    /// recordsCount - 1`, `recordsCount > 0`, no control batches, timestamps
    /// within `message.timestamp.before/after.max.ms` for CreateTime, and
    /// idempotence) BEFORE writing anything; then assigns offsets from the log
    /// end by rewriting only the headers (base offset and leader epoch; for
    /// LogAppendTime also the timestamp type and max timestamp, with the CRC
    /// recomputed). Rolls first when `segment.bytes` would be exceeded,
    /// `segment.ms` has elapsed, or an index is full.
    ///
    /// On return the data is in the OS page cache (not fsynced). On any error
    /// nothing is written (a failed write is truncated away).
    ///
    /// Idempotence (producer id >= 0): a batch equal to one of the producer's
    /// last 5 (same epoch, same first and last sequence) returns
    /// `duplicate = true` with the original offsets and writes nothing; otherwise
    /// the sequence must continue the last one (wrapping), or start at 0 for a
    /// newer epoch (`OutOfOrderSequence`); an older epoch gives
    /// `InvalidProducerEpoch`. A producer without state here may start anywhere.
    pub fn append_as_leader(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let ranges = split_batches(records)?;
        if ranges.is_empty() {
            return Err(LogError::InvalidRecord("no record batches".into()));
        }
        let log_append_time = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        let first_offset = self.log_end_offset();
        let mut next = first_offset;
        let mut pending: HashMap<i64, ProducerEntry> = HashMap::new();
        for r in &ranges {
            let h = RecordBatchHeader::parse(&records[r.clone()])?;
            self.validate_batch(&h, now_ms)?;
            let delta = i64::from(h.last_offset_delta());
            let pid = h.producer_id();
            if pid >= 0 {
                let entry = pending
                    .get(&pid)
                    .or_else(|| self.producers.producers.get(&pid));
                if let SeqCheck::Duplicate(m) = ProducerEntry::check(entry, &h)? {
                    return Ok(AppendInfo {
                        first_offset: m.first_offset,
                        last_offset: m.last_offset,
                        log_append_time_ms: if log_append_time { m.timestamp } else { -1 },
                        log_start_offset: self.log_start_offset,
                        duplicate: true,
                    });
                }
                let mut e = entry.cloned().unwrap_or(ProducerEntry {
                    epoch: h.producer_epoch(),
                    batches: Default::default(),
                });
                e.record(
                    h.producer_epoch(),
                    BatchMetadata {
                        first_seq: h.base_sequence(),
                        last_seq: h.last_sequence(),
                        first_offset: next,
                        last_offset: next + delta,
                        timestamp: if log_append_time {
                            now_ms
                        } else {
                            h.max_timestamp()
                        },
                    },
                );
                pending.insert(pid, e);
            }
            next += delta + 1;
        }
        let last_offset = next - 1;
        self.make_room(records.len() as u64, last_offset, now_ms)?;

        let mut data = records.to_vec();
        let mut offset = first_offset;
        for r in &ranges {
            let b = &mut data[r.clone()];
            set_base_offset(b, offset);
            set_leader_epoch(b, leader_epoch);
            if log_append_time {
                set_log_append_time(b, now_ms);
            }
            offset += i64::from(be_i32(b, 23)) + 1;
        }
        let interval = self.config.index_interval_bytes;
        self.active_mut().append(&data, now_ms, interval)?;
        self.producers.producers.extend(pending);
        self.epochs.assign(leader_epoch, first_offset)?;
        Ok(AppendInfo {
            first_offset,
            last_offset,
            log_append_time_ms: if log_append_time { now_ms } else { -1 },
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    fn validate_batch(&self, h: &RecordBatchHeader<'_>, now_ms: i64) -> Result<(), LogError> {
        let max = self.config.max_message_bytes;
        if h.total_len() > usize::try_from(max).unwrap_or(0) {
            return Err(LogError::RecordTooLarge {
                size: h.total_len(),
                max,
            });
        }
        if !h.is_crc_valid() {
            return Err(LogError::CorruptRecord(format!(
                "crc mismatch: stored {:#x}, computed {:#x}",
                h.crc(),
                h.compute_crc()
            )));
        }
        if h.records_count() <= 0 {
            return Err(LogError::InvalidRecord("batch has no records".into()));
        }
        if h.last_offset_delta() != h.records_count() - 1 {
            return Err(LogError::InvalidRecord(format!(
                "lastOffsetDelta {} does not match recordsCount {}",
                h.last_offset_delta(),
                h.records_count()
            )));
        }
        if h.is_control() {
            return Err(LogError::InvalidRecord(
                "control batches may not be produced".into(),
            ));
        }
        if self.config.is_compact() {
            // Compaction needs a key on every record (Kafka rejects keyless records on
            // compacted topics); this is the only produce path that looks inside batches,
            // and it streams them (see record_keys).
            crate::record_keys::check_every_record_has_a_key(h)?;
        }
        if self.config.message_timestamp_type == TimestampType::CreateTime {
            for ts in [h.base_timestamp(), h.max_timestamp()] {
                if ts == -1 {
                    continue;
                }
                if now_ms.saturating_sub(ts) > self.config.message_timestamp_before_max_ms
                    || ts.saturating_sub(now_ms) > self.config.message_timestamp_after_max_ms
                {
                    return Err(LogError::InvalidTimestamp(format!(
                        "timestamp {ts} is out of range of broker time {now_ms}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Rolls the active segment if `add` bytes ending at `last_offset` call for it,
    /// and checks that they then fit the active segment's relative offsets.
    fn make_room(&mut self, add: u64, last_offset: i64, now_ms: i64) -> Result<(), LogError> {
        if self.should_roll(add, last_offset, now_ms) {
            self.roll()?;
        }
        if self.active().relative(last_offset).is_none() {
            return Err(LogError::SegmentOverflow(format!(
                "offset {last_offset} does not fit a segment based at {}",
                self.active().base_offset
            )));
        }
        Ok(())
    }

    fn should_roll(&self, add: u64, last_offset: i64, now_ms: i64) -> bool {
        let a = self.active();
        if a.is_empty() {
            return false;
        }
        a.size + add > self.config.segment_bytes
            || a.size + add > u64::from(u32::MAX)
            || a.rolling_ts
                .is_some_and(|t| now_ms.saturating_sub(t) >= self.config.segment_ms)
            || a.offset_index.is_full()
            || a.time_index.is_full()
            || a.relative(last_offset).is_none()
    }

    /// Seals the active segment (fsync, producer snapshot, recovery point) and
    /// starts a new one at the log end. No-op if the active segment is empty.
    pub(crate) fn roll(&mut self) -> Result<(), LogError> {
        let leo = self.log_end_offset();
        if self.active().is_empty() {
            return Ok(());
        }
        let sealed = self.active().base_offset;
        self.producers.write_snapshot(&self.dir, leo)?;
        self.prune_snapshots()?;
        let seg = Segment::create(&self.dir, leo, &self.config)?;
        sync_dir(&self.dir)?;
        self.segments.insert(leo, seg);
        self.unflushed.push(sealed);
        Ok(())
    }

    /// Offsets of the snapshot files present, ascending.
    pub(crate) fn snapshot_offsets(&self) -> Result<Vec<i64>, LogError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            let e = e?;
            if let Some(o) = e
                .file_name()
                .to_str()
                .and_then(|n| parse_offset_file(n, SNAPSHOT_SUFFIX))
            {
                out.push(o);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn prune_snapshots(&self) -> Result<(), LogError> {
        let offs = self.snapshot_offsets()?;
        if offs.len() > SNAPSHOTS_KEPT {
            for o in &offs[..offs.len() - SNAPSHOTS_KEPT] {
                std::fs::remove_file(offset_file(&self.dir, *o, SNAPSHOT_SUFFIX))?;
            }
        }
        Ok(())
    }

    /// Whole batches starting with the one containing `start_offset`, from one
    /// segment, stopping before any batch whose last offset >= `max_offset`
    /// (exclusive high watermark) and before `max_bytes` would be exceeded,
    /// except that with `min_one_batch` the first batch is returned even if
    /// larger. `start_offset == log end` gives an empty result; outside
    /// `[log start, log end]` gives `OffsetOutOfRange`. Uses the offset index
    /// and normally one or two positioned reads.
    pub fn read(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<Bytes, LogError> {
        let leo = self.log_end_offset();
        if start_offset < self.log_start_offset || start_offset > leo {
            return Err(LogError::OffsetOutOfRange {
                offset: start_offset,
                log_start: self.log_start_offset,
                log_end: leo,
            });
        }
        if start_offset == leo {
            return Ok(Bytes::new());
        }
        let floor = self
            .segments
            .range(..=start_offset)
            .next_back()
            .map(|(_, s)| s);
        let later = self.segments.range(start_offset + 1..).map(|(_, s)| s);
        for seg in floor.into_iter().chain(later) {
            if seg.next_offset <= start_offset {
                continue;
            }
            if let Some(b) =
                self.read_segment(seg, start_offset, max_bytes, max_offset, min_one_batch)?
            {
                return Ok(b);
            }
        }
        Ok(Bytes::new())
    }

    fn read_segment(
        &self,
        seg: &Segment,
        start_offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<Option<Bytes>, LogError> {
        let buf_start = seg.lookup_position(start_offset);
        let slack = usize::try_from(self.config.index_interval_bytes).unwrap_or(usize::MAX);
        let chunk = max_bytes
            .saturating_add(slack)
            .saturating_add(BATCH_SPAN_LEN)
            .max(4096);
        let mut buf = seg.read_at(buf_start, chunk)?;
        let seg_len = seg.size - buf_start;
        // Makes `buf` hold at least `need` bytes (if the segment has them).
        let ensure = |buf: &mut Vec<u8>, need: usize| -> Result<bool, LogError> {
            if buf.len() >= need {
                return Ok(true);
            }
            if (need as u64) > seg_len {
                return Ok(false);
            }
            let more = seg.read_at(buf_start + buf.len() as u64, (need - buf.len()).max(chunk))?;
            buf.extend_from_slice(&more);
            Ok(buf.len() >= need)
        };
        let corrupt =
            || LogError::CorruptRecord(format!("truncated batch in segment {}", seg.base_offset));
        // Skip to the batch containing start_offset.
        let mut i = 0usize;
        loop {
            if i as u64 >= seg_len {
                return Ok(None);
            }
            if !ensure(&mut buf, i + BATCH_SPAN_LEN)? {
                return Err(corrupt());
            }
            let (last, total) = peek(&buf[i..])?;
            if last >= start_offset {
                break;
            }
            i += total;
        }
        let begin = i;
        let mut end = i;
        while (end as u64) < seg_len {
            if !ensure(&mut buf, end + BATCH_SPAN_LEN)? {
                return Err(corrupt());
            }
            let (last, total) = peek(&buf[end..])?;
            if last >= max_offset {
                break;
            }
            if end - begin + total > max_bytes && !(min_one_batch && end == begin) {
                break;
            }
            if !ensure(&mut buf, end + total)? {
                return Err(corrupt());
            }
            end += total;
        }
        Ok(Some(Bytes::from(buf).slice(begin..end)))
    }

    /// fsyncs the segments rolled since the last flush and the active segment, with
    /// their indexes, then durably writes the recovery point (= log end): everything
    /// below it is durable. Runs from housekeeping, off the produce path.
    pub fn flush(&mut self) -> Result<(), LogError> {
        // Segments rolled since the last flush, then the active one; older segments
        // were fsynced by an earlier flush.
        for base in std::mem::take(&mut self.unflushed) {
            if let Some(seg) = self.segments.get(&base) {
                seg.flush()?;
            }
        }
        self.active().flush()?;
        write_offset_checkpoint(&self.dir, RECOVERY_POINT_FILE, self.log_end_offset())?;
        Ok(())
    }

    /// Flushes, snapshots producer state at the log end and marks the shutdown
    /// clean, so the next `open` needs no scan.
    pub fn close(mut self) -> Result<(), LogError> {
        self.flush()?;
        let leo = self.log_end_offset();
        self.producers.write_snapshot(&self.dir, leo)?;
        self.prune_snapshots()?;
        crate::files::atomic_write(&self.dir, crate::files::CLEAN_SHUTDOWN_FILE, b"")?;
        Ok(())
    }

    /// Deletes the whole partition directory. Irreversible.
    pub fn delete(self) -> Result<(), LogError> {
        let dir = self.dir.clone();
        drop(self);
        std::fs::remove_dir_all(&dir)?;
        if let Some(parent) = dir.parent() {
            let _ = sync_dir(parent);
        }
        Ok(())
    }
}

#[cold]
fn unreachable_segment() -> ! {
    // Invariant: `segments` is never empty; reaching this is a bug, not bad input.
    unreachable!("partition log without segments")
}
