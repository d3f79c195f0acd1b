//! Retention (time, size) and DeleteRecords start-offset moves.

use crate::error::LogError;
use crate::files::{write_offset_checkpoint, LOG_START_FILE};
use crate::log::PartitionLog;

impl PartitionLog {
    /// Rolls the active segment if it is non-empty and `segment.ms` has passed since its
    /// first append, so an idle segment is sealed (and can be tiered or compacted)
    /// without waiting for the next append. Returns whether it rolled.
    pub fn roll_if_due(&mut self, now_ms: i64) -> Result<bool, LogError> {
        let segment_ms = self.config.segment_ms;
        if !self.active().is_empty()
            && self
                .active()
                .rolling_ts
                .is_some_and(|t| now_ms.saturating_sub(t) >= segment_ms)
        {
            self.roll()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// DeleteRecords: moves the log start offset up to `offset` (never down;
    /// capped at the log end), deletes segments wholly below it, and durably
    /// persists the new start offset before returning it.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        let offset = offset.min(self.log_end_offset());
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        self.log_start_offset = offset;
        write_offset_checkpoint(&self.dir, LOG_START_FILE, offset)?;
        self.epochs.truncate_from_start(offset)?;
        if self.active().next_offset <= offset {
            self.roll()?;
        }
        self.delete_segments_below_start()?;
        Ok(offset)
    }

    /// Deletes non-active segments whose records are all below the log start.
    fn delete_segments_below_start(&mut self) -> Result<usize, LogError> {
        let start = self.log_start_offset;
        let doomed: Vec<i64> = self
            .segments
            .values()
            .rev()
            .skip(1)
            .filter(|s| s.next_offset <= start)
            .map(|s| s.base_offset)
            .collect();
        self.delete_segments(&doomed)
    }

    pub(crate) fn delete_segments(&mut self, bases: &[i64]) -> Result<usize, LogError> {
        let mut n = 0;
        for b in bases {
            if let Some(seg) = self.segments.remove(b) {
                seg.delete_files()?;
                n += 1;
            }
        }
        if n > 0 {
            crate::files::sync_dir(&self.dir)?;
        }
        Ok(n)
    }

    /// Time- then size-based retention over whole segments, oldest first.
    /// When every segment has expired by time, a new empty active segment is
    /// rolled first so that all data can go; size retention never deletes the
    /// active segment. The log start offset moves to the first remaining
    /// segment and is persisted durably. Also rolls the active segment when
    /// `segment.ms` has elapsed. Returns the number of segments deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        self.roll_if_due(now_ms)?;
        let mut deleted = self.delete_segments_below_start()?;
        // A tiered log's total retention is the remote log manager's; locally only
        // `enforce_local_retention` may delete, and only what is already remote.
        if self.config.remote_storage_enable() {
            return Ok(deleted);
        }

        // Time and size retention apply only when the policy includes delete.
        let retention_ms = if self.config.is_delete() {
            self.config.retention_ms
        } else {
            -1
        };
        if retention_ms >= 0 {
            let expired = |max_ts: i64| now_ms.saturating_sub(max_ts) > retention_ms;
            let all_expired = self
                .segments
                .values()
                .all(|s| s.is_empty() || expired(s.max_timestamp));
            if all_expired && !self.active().is_empty() {
                self.roll()?;
            }
            let active_base = self.active().base_offset;
            let doomed: Vec<i64> = self
                .segments
                .values()
                .take_while(|s| s.base_offset != active_base && expired(s.max_timestamp))
                .map(|s| s.base_offset)
                .collect();
            deleted += self.delete_segments(&doomed)?;
        }

        let retention_bytes = if self.config.is_delete() {
            self.config.retention_bytes
        } else {
            -1
        };
        if retention_bytes >= 0 {
            let mut diff = self.size_bytes() as i64 - retention_bytes;
            let active_base = self.active().base_offset;
            let mut doomed = Vec::new();
            for s in self.segments.values() {
                if s.base_offset == active_base || diff - (s.size as i64) < 0 {
                    break;
                }
                diff -= s.size as i64;
                doomed.push(s.base_offset);
            }
            deleted += self.delete_segments(&doomed)?;
        }

        let first_base = self.segments.keys().next().copied().unwrap_or(0);
        if first_base > self.log_start_offset {
            self.log_start_offset = first_base;
            write_offset_checkpoint(&self.dir, LOG_START_FILE, first_base)?;
            self.epochs.truncate_from_start(first_base)?;
        }
        Ok(deleted)
    }
}
