//! Timestamp lookups (ListOffsets by time and MAX_TIMESTAMP).

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::batch::RecordBatchHeader;
use crate::config::TimestampType;
use crate::error::LogError;
use crate::log::{PartitionLog, TimestampOffset};
use crate::scan::{BatchScanner, ScanItem};
use crate::segment::Segment;

impl PartitionLog {
    /// The first record (exact record, not just its batch) at or after the log
    /// start whose timestamp is >= `ts`: found via the time index, then a
    /// batch scan, then decoding the records of the one matching batch
    /// (compressed batches included). `None` if there is no such record.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<TimestampOffset>, LogError> {
        for seg in self.segments.values() {
            if seg.is_empty() || seg.max_timestamp < ts || seg.next_offset <= self.log_start_offset
            {
                continue;
            }
            if let Some(found) = find_in_segment(seg, ts, self.log_start_offset)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (earliest offset on ties) at or
    /// after the log start; `None` for an empty log.
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>, LogError> {
        let mut best: Option<&Segment> = None;
        for seg in self.segments.values() {
            if seg.is_empty() || seg.next_offset <= self.log_start_offset {
                continue;
            }
            if best.is_none_or(|b| seg.max_timestamp > b.max_timestamp) {
                best = Some(seg);
            }
        }
        match best {
            Some(seg) => find_in_segment(seg, seg.max_timestamp, self.log_start_offset),
            None => Ok(None),
        }
    }
}

fn find_in_segment(
    seg: &Segment,
    ts: i64,
    log_start: i64,
) -> Result<Option<TimestampOffset>, LogError> {
    // Every record up to the time-index entry found has a timestamp < ts.
    let start = match seg.time_index.lookup_before(ts) {
        Some(rel) => u64::from(seg.offset_index.lookup(rel)),
        None => 0,
    };
    let mut scanner = BatchScanner::new(seg.file(), start, seg.size, false);
    loop {
        let header = match scanner.next_item()? {
            ScanItem::End => return Ok(None),
            ScanItem::Invalid { pos, reason } => {
                return Err(LogError::CorruptRecord(format!(
                    "segment {} at {pos}: {reason}",
                    seg.base_offset
                )))
            }
            ScanItem::Batch { header, .. } => header,
        };
        if let Some(found) = first_record_at_or_after(&header, ts, log_start)? {
            return Ok(Some(found));
        }
    }
}

/// The first record of one batch with an offset >= `floor` and a timestamp >= `ts`
/// (decoding the batch's records, compressed or not, unless it is LogAppendTime).
/// Used on local segments and on chunks of remote ones.
pub fn first_record_at_or_after(
    header: &RecordBatchHeader<'_>,
    ts: i64,
    floor: i64,
) -> Result<Option<TimestampOffset>, LogError> {
    if header.last_offset() < floor || header.max_timestamp() < ts {
        return Ok(None);
    }
    if header.timestamp_type() == TimestampType::LogAppendTime {
        return Ok(Some(TimestampOffset {
            timestamp: header.max_timestamp(),
            offset: header.base_offset().max(floor),
        }));
    }
    let mut bytes = Bytes::copy_from_slice(header.as_bytes());
    let set = RecordBatchDecoder::decode(&mut bytes)
        .map_err(|e| LogError::CorruptRecord(format!("cannot decode batch: {e}")))?;
    Ok(set
        .records
        .iter()
        .find(|r| r.offset >= floor && r.timestamp >= ts)
        .map(|r| TimestampOffset {
            timestamp: r.timestamp,
            offset: r.offset,
        }))
}
