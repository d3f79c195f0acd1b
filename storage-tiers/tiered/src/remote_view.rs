//! A partition's view of its remote tier: the finished remote segments, by start
//! offset, and the tiered log start offset (retention and DeleteRecords).

use std::collections::BTreeMap;
use std::path::Path;

use strata_remote::RemoteLogSegmentMetadata;

/// Checkpoint file (in the partition directory) of the log start offset that remote
/// retention and DeleteRecords moved, so a restart does not serve expired offsets.
pub const TIERED_LOG_START_FILE: &str = "tiered-log-start-offset";

/// What the remote tier holds of one partition.
#[derive(Debug, Clone, Default)]
pub struct RemoteView {
    /// Whether `segments` was loaded from the metadata store (until then nothing
    /// local may be deleted for want of knowing what is remote).
    pub loaded: bool,
    /// COPY_SEGMENT_FINISHED segments by start offset.
    pub segments: BTreeMap<i64, RemoteLogSegmentMetadata>,
    /// Segments no reader sees any more whose objects are still to be deleted:
    /// orphans of failed or interrupted copies, expired segments whose deletion
    /// failed. Every sweep retries them.
    pub pending_deletes: Vec<RemoteLogSegmentMetadata>,
    /// No offset below this is readable (expired or deleted by DeleteRecords).
    floor: i64,
}

impl RemoteView {
    /// The partition's log start offset given the local log's.
    pub fn log_start_offset(&self, local_start: i64) -> i64 {
        let first_remote = self
            .segments
            .values()
            .find(|m| m.end_offset >= self.floor)
            .map(|m| m.start_offset);
        let start = first_remote.map_or(local_start, |r| r.min(local_start));
        start.max(self.floor)
    }

    /// Every offset below this is in the remote tier (the highest uploaded offset + 1),
    /// 0 if nothing is.
    pub fn remote_upto(&self) -> i64 {
        self.segments
            .values()
            .next_back()
            .map_or(0, |m| m.end_offset + 1)
    }

    /// The highest uploaded offset (ListOffsets -5, LATEST_TIERED), -1 if none.
    pub fn latest_tiered(&self) -> i64 {
        self.segments
            .values()
            .next_back()
            .map_or(-1, |m| m.end_offset)
    }

    /// Bytes in the remote tier.
    pub fn remote_bytes(&self) -> u64 {
        self.segments.values().map(|m| m.segment_size_bytes).sum()
    }

    /// The lowest readable offset set by retention or DeleteRecords.
    pub fn floor(&self) -> i64 {
        self.floor
    }

    /// Raises the floor (never lowers it); persists it in `dir` when it moved.
    pub fn raise_floor(&mut self, offset: i64, dir: &Path) -> std::io::Result<bool> {
        if offset <= self.floor {
            return Ok(false);
        }
        self.floor = offset;
        write_checkpoint(dir, offset)?;
        Ok(true)
    }

    /// Loads the persisted floor (0 if none).
    pub fn load_floor(&mut self, dir: &Path) {
        self.floor = std::fs::read_to_string(dir.join(TIERED_LOG_START_FILE))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
    }

    /// The finished segment holding `offset`, if any.
    pub fn segment_for(&self, offset: i64) -> Option<&RemoteLogSegmentMetadata> {
        self.segments
            .range(..=offset)
            .next_back()
            .map(|(_, m)| m)
            .filter(|m| m.end_offset >= offset)
    }
}

fn write_checkpoint(dir: &Path, offset: i64) -> std::io::Result<()> {
    let tmp = dir.join(format!("{TIERED_LOG_START_FILE}.tmp"));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{offset}")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(TIERED_LOG_START_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_remote::{RemoteLogSegmentId, RemoteLogSegmentState, TopicId, TopicIdPartition};
    use uuid::Uuid;

    fn seg(start: i64, end: i64) -> RemoteLogSegmentMetadata {
        RemoteLogSegmentMetadata {
            segment_id: RemoteLogSegmentId {
                tp: TopicIdPartition::new(TopicId::ZERO, "t", 0),
                id: Uuid::new_v4(),
            },
            start_offset: start,
            end_offset: end,
            max_timestamp_ms: 0,
            broker_id: 0,
            event_timestamp_ms: 0,
            segment_size_bytes: 10,
            segment_leader_epochs: BTreeMap::new(),
            state: RemoteLogSegmentState::CopySegmentFinished,
        }
    }

    #[test]
    fn start_offset_spans_both_tiers() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = RemoteView::default();
        assert_eq!(v.log_start_offset(5), 5);
        assert_eq!(v.latest_tiered(), -1);
        v.segments.insert(0, seg(0, 99));
        v.segments.insert(100, seg(100, 199));
        assert_eq!(v.log_start_offset(150), 0);
        assert_eq!(v.remote_upto(), 200);
        assert_eq!(v.segment_for(150).unwrap().start_offset, 100);
        assert!(v.segment_for(200).is_none());
        v.raise_floor(120, dir.path()).unwrap();
        assert_eq!(v.log_start_offset(150), 120);
        let mut w = RemoteView::default();
        w.load_floor(dir.path());
        assert_eq!(w.floor(), 120);
    }
}
