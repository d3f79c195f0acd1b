//! Opening a partition directory: segment loading, crash recovery and
//! producer-state rebuild.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::LogConfig;
use crate::error::LogError;
use crate::files::{
    offset_file, parse_offset_file, read_offset_checkpoint, sync_dir, write_offset_checkpoint,
    CLEAN_SHUTDOWN_FILE, INDEX_SUFFIX, LOG_START_FILE, LOG_SUFFIX, RECOVERY_POINT_FILE,
    SNAPSHOT_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::leader_epochs::LeaderEpochCache;
use crate::log::PartitionLog;
use crate::producer_state::ProducerStateManager;
use crate::scan::{BatchScanner, ScanItem};
use crate::segment::Segment;

impl PartitionLog {
    /// Opens the log in `dir` (created if absent).
    ///
    /// After an unclean shutdown, the segment holding the recovery point and
    /// every later one are scanned: each batch's length and CRC is checked, the
    /// first bad or partial batch and everything after it is truncated (later
    /// segments removed) and the indexes are rebuilt. After a clean `close`
    /// only the tail after each segment's last index entry is read. An index
    /// that does not fit its segment is rebuilt. Producer state is loaded from
    /// the newest valid snapshot at or below the recovered log end and rebuilt
    /// by replaying the batches after it. On return the recovered log is
    /// durable (fsynced, recovery point written).
    pub fn open(dir: &Path, config: LogConfig, now_ms: i64) -> Result<PartitionLog, LogError> {
        let _ = now_ms;
        std::fs::create_dir_all(dir)?;
        crate::cleaner::recover_swaps(dir)?;
        let mut bases = Vec::new();
        let mut index_files = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".tmp") {
                std::fs::remove_file(e.path())?;
            } else if let Some(b) = parse_offset_file(name, LOG_SUFFIX) {
                bases.push(b);
            } else if let Some(b) = parse_offset_file(name, INDEX_SUFFIX)
                .or_else(|| parse_offset_file(name, TIME_INDEX_SUFFIX))
            {
                index_files.push((b, e.path()));
            }
        }
        bases.sort_unstable();
        // Indexes without a log file are leftovers of an interrupted deletion.
        for (b, p) in index_files {
            if bases.binary_search(&b).is_err() {
                std::fs::remove_file(p)?;
            }
        }
        let clean = dir.join(CLEAN_SHUTDOWN_FILE).exists();
        let recovery_point = read_offset_checkpoint(dir, RECOVERY_POINT_FILE)?.unwrap_or(0);
        let stored_start = read_offset_checkpoint(dir, LOG_START_FILE)?;
        let interval = config.index_interval_bytes;

        let mut segments = BTreeMap::new();
        let mut truncated_at: Option<usize> = None;
        for (i, &base) in bases.iter().enumerate() {
            let (mut seg, indexes_ok) = Segment::open(dir, base, &config)?;
            let next_base = bases.get(i + 1).copied();
            let trusted = clean || next_base.is_some_and(|nb| nb <= recovery_point);
            let loaded = trusted && indexes_ok && seg.load_tail()?;
            if !loaded {
                if trusted {
                    tracing::info!(dir = %dir.display(), base, "rebuilding segment indexes");
                }
                if seg.recover(interval)? {
                    truncated_at = Some(i);
                }
            }
            let end = seg.next_offset;
            segments.insert(base, seg);
            if truncated_at.is_some() || next_base.is_some_and(|nb| end > nb) {
                truncated_at = Some(i);
                break;
            }
        }
        if let Some(i) = truncated_at {
            for &base in &bases[i + 1..] {
                tracing::warn!(dir = %dir.display(), base, "removing segment after corruption");
                for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                    match std::fs::remove_file(offset_file(dir, base, suffix)) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        if segments.is_empty() {
            let base = stored_start.unwrap_or(0).max(0);
            segments.insert(base, Segment::create(dir, base, &config)?);
        }
        // A crash from now on must not be taken for a clean shutdown.
        if clean {
            std::fs::remove_file(dir.join(CLEAN_SHUTDOWN_FILE))?;
        }
        sync_dir(dir)?;

        let first_base = segments.keys().next().copied().unwrap_or(0);
        let leo = segments
            .values()
            .next_back()
            .map(|s| s.next_offset)
            .unwrap_or(0);
        let log_start_offset = stored_start.unwrap_or(first_base).max(first_base).min(leo);
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            producers: ProducerStateManager::default(),
            epochs: LeaderEpochCache::load(dir)?,
            unflushed: Vec::new(),
        };
        // The epochs cover no more than the log holds (a crash may have cut the log
        // after the checkpoint was written). Their start is left alone: below the
        // local start of a tiered log, the remote tier still holds those epochs.
        log.epochs.truncate_from_end(leo)?;
        log.load_producer_state()?;
        log.flush()?;
        if stored_start != Some(log_start_offset) {
            write_offset_checkpoint(dir, LOG_START_FILE, log_start_offset)?;
        }
        Ok(log)
    }

    /// Loads the newest valid snapshot at or below the log end (deleting
    /// newer ones) and replays the batches after it.
    pub(crate) fn reload_producer_state(&mut self) -> Result<(), LogError> {
        self.load_producer_state()
    }

    fn load_producer_state(&mut self) -> Result<(), LogError> {
        let leo = self.log_end_offset();
        let mut from = None;
        for off in self.snapshot_offsets()?.into_iter().rev() {
            if off > leo {
                std::fs::remove_file(offset_file(&self.dir, off, SNAPSHOT_SUFFIX))?;
                continue;
            }
            match ProducerStateManager::read_snapshot(&self.dir, off)? {
                Some(state) => {
                    self.producers = state;
                    from = Some(off);
                    break;
                }
                None => {
                    tracing::warn!(offset = off, "ignoring corrupt producer snapshot");
                }
            }
        }
        let from = from.unwrap_or(i64::MIN);
        if from >= leo {
            return Ok(());
        }
        for seg in self.segments.values() {
            if seg.next_offset <= from || seg.is_empty() {
                continue;
            }
            let start = if from > seg.base_offset {
                seg.lookup_position(from)
            } else {
                0
            };
            let mut scanner = BatchScanner::new(seg.file(), start, seg.size, false);
            loop {
                match scanner.next_item()? {
                    ScanItem::End => break,
                    ScanItem::Invalid { pos, reason } => {
                        return Err(LogError::CorruptRecord(format!(
                            "segment {} at {pos}: {reason}",
                            seg.base_offset
                        )))
                    }
                    ScanItem::Batch { header, .. } => {
                        if header.base_offset() >= from {
                            self.producers.replay(&header);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
