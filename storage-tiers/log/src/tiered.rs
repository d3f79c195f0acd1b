//! What the remote log manager needs from a local log: the sealed segments to upload
//! and local retention that never deletes what is not yet remote.

use std::path::PathBuf;

use crate::error::LogError;
use crate::files::{offset_file, write_offset_checkpoint, LOG_START_FILE, SNAPSHOT_SUFFIX};
use crate::log::PartitionLog;

/// A sealed (no longer active) segment's files, as the copier uploads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSegment {
    /// Offset of its first batch (its file name).
    pub base_offset: i64,
    /// Its last offset + 1 (the base offset of the next segment).
    pub next_offset: i64,
    /// Bytes of the `.log` file.
    pub size_bytes: u64,
    /// Largest batch max timestamp.
    pub max_timestamp: i64,
    /// The `.log` file.
    pub log_path: PathBuf,
    /// The `.index` file.
    pub offset_index_path: PathBuf,
    /// The `.timeindex` file.
    pub time_index_path: PathBuf,
    /// The producer-state snapshot taken when the segment was sealed, if still on disk.
    pub producer_snapshot_path: Option<PathBuf>,
    /// The leader epochs over the segment's offsets (from the epoch cache), each with
    /// the first offset it covers here; empty for data written before the cache existed.
    pub leader_epochs: Vec<crate::EpochEntry>,
}

impl PartitionLog {
    /// Every non-empty segment but the active one, oldest first.
    pub fn sealed_segments(&self) -> Vec<SealedSegment> {
        let active = self.active().base_offset;
        self.segments
            .values()
            .filter(|s| s.base_offset != active && !s.is_empty())
            .map(|s| {
                let snap = offset_file(&self.dir, s.next_offset, SNAPSHOT_SUFFIX);
                SealedSegment {
                    base_offset: s.base_offset,
                    next_offset: s.next_offset,
                    size_bytes: s.size,
                    max_timestamp: s.max_timestamp,
                    log_path: s.log_path().to_path_buf(),
                    offset_index_path: s.offset_index.path().to_path_buf(),
                    time_index_path: s.time_index.path().to_path_buf(),
                    producer_snapshot_path: snap.exists().then_some(snap),
                    leader_epochs: self.leader_epochs_in(s.base_offset, s.next_offset),
                }
            })
            .collect()
    }

    /// Local retention of a tiered log (`local.retention.ms` / `local.retention.bytes`):
    /// deletes the oldest sealed segments that are beyond local retention *and* wholly
    /// below `remote_upto` (every offset below it is safely in the remote tier). Moves
    /// this log's start offset (the local log start) to the first remaining segment.
    /// Rolls the active segment when `segment.ms` is due. Returns segments deleted.
    pub fn enforce_local_retention(
        &mut self,
        now_ms: i64,
        remote_upto: i64,
    ) -> Result<usize, LogError> {
        self.roll_if_due(now_ms)?;
        let retention_ms = self.config.local_retention_ms();
        let retention_bytes = self.config.local_retention_bytes();
        let active = self.active().base_offset;
        let mut excess = if retention_bytes >= 0 {
            self.size_bytes() as i64 - retention_bytes
        } else {
            i64::MIN
        };
        let mut doomed = Vec::new();
        for s in self.segments.values() {
            if s.base_offset == active || s.next_offset > remote_upto {
                break;
            }
            let by_time =
                retention_ms >= 0 && now_ms.saturating_sub(s.max_timestamp) > retention_ms;
            let by_size = excess != i64::MIN && excess - (s.size as i64) >= 0;
            // Below the log start already: nothing readable is lost.
            let below_start = s.next_offset <= self.log_start_offset;
            if !(by_time || by_size || below_start) {
                break;
            }
            if excess != i64::MIN {
                excess -= s.size as i64;
            }
            doomed.push(s.base_offset);
        }
        let n = self.delete_segments(&doomed)?;
        let first_base = self.segments.keys().next().copied().unwrap_or(0);
        if first_base > self.log_start_offset {
            self.log_start_offset = first_base;
            write_offset_checkpoint(&self.dir, LOG_START_FILE, first_base)?;
        }
        Ok(n)
    }
}

/// Prepares an empty partition directory so that the log opened there starts at
/// `offset` (a topic re-created from the remote tier resumes after what was uploaded).
pub fn seed_log_start(dir: &std::path::Path, offset: i64) -> Result<(), LogError> {
    std::fs::create_dir_all(dir)?;
    write_offset_checkpoint(dir, LOG_START_FILE, offset)?;
    Ok(())
}
