//! Reads below the local log start: Fetch and ListOffsets served from the remote tier
//! through the chunk cache.

use std::sync::Arc;

use strata_log::TimestampOffset;
use tokio_util::sync::CancellationToken;

use super::{RemoteLogManager, TieringError};
use crate::partition::Partition;

/// Segments after the one read that read-ahead may run on into.
const READ_AHEAD_SEGMENTS: usize = 16;

/// Records read from the remote tier: slices of cached chunks that, concatenated, are
/// whole batches as stored (the broker writes them out without joining them).
#[derive(Debug, Clone)]
pub struct RemoteRecords {
    pub parts: Vec<bytes::Bytes>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

impl RemoteRecords {
    /// Bytes of records.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }

    /// Whether no records were read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RemoteLogManager {
    /// Whole batches from `offset` (which must be below the local log start) up to
    /// `max_bytes` (at least one batch with `min_one_batch`), from the one remote
    /// segment holding `offset`; the next fetch continues from where this one ends.
    pub async fn read(
        &self,
        p: &Arc<Partition>,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<RemoteRecords, TieringError> {
        let cancel = self.shutdown.child_token();
        self.ensure_loaded(p, &cancel).await?;
        let (meta, next) = {
            let view = p.remote().read();
            let meta = view
                .segment_for(offset)
                .cloned()
                .ok_or(TieringError::NotRemote(offset))?;
            // Enough following segments for read-ahead to run on into.
            let next: Vec<_> = view
                .segments
                .range(meta.start_offset + 1..)
                .take(READ_AHEAD_SEGMENTS)
                .map(|(_, m)| m.clone())
                .collect();
            (meta, next)
        };
        let parts = self
            .reader
            .read(
                &meta,
                next.as_ref(),
                offset,
                max_bytes,
                min_one_batch,
                &cancel,
            )
            .await?;
        Ok(RemoteRecords {
            parts,
            high_watermark: p.high_watermark(),
            log_start_offset: p.log_start_offset(),
        })
    }

    /// The first record with a timestamp >= `ts` in the remote tier, if any there
    /// (then the local log is not consulted).
    pub async fn offset_for_timestamp(
        &self,
        p: &Arc<Partition>,
        ts: i64,
    ) -> Result<Option<TimestampOffset>, TieringError> {
        let cancel = self.shutdown.child_token();
        self.ensure_loaded(p, &cancel).await?;
        let start = p.log_start_offset();
        let candidates: Vec<_> = p
            .remote()
            .read()
            .segments
            .values()
            .filter(|m| m.end_offset >= start && m.max_timestamp_ms >= ts)
            .cloned()
            .collect();
        for m in candidates {
            if let Some(found) = self
                .reader
                .offset_for_timestamp(&m, ts, start, &cancel)
                .await?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp in the remote tier, if it beats
    /// `local_max` (ListOffsets -3 across tiers).
    pub async fn max_timestamp_offset(
        &self,
        p: &Arc<Partition>,
        local_max: Option<TimestampOffset>,
    ) -> Result<Option<TimestampOffset>, TieringError> {
        let cancel = self.shutdown.child_token();
        self.ensure_loaded(p, &cancel).await?;
        let start = p.log_start_offset();
        let best = p
            .remote()
            .read()
            .segments
            .values()
            .filter(|m| m.end_offset >= start)
            .max_by_key(|m| (m.max_timestamp_ms, std::cmp::Reverse(m.start_offset)))
            .cloned();
        match best {
            Some(m) if local_max.is_none_or(|l| m.max_timestamp_ms > l.timestamp) => Ok(self
                .reader
                .offset_for_timestamp(&m, m.max_timestamp_ms, start, &cancel)
                .await?
                .or(local_max)),
            _ => Ok(local_max),
        }
    }

    /// Loads the partition's remote view if it is not yet (for describe/ListOffsets).
    pub async fn load_view(&self, p: &Arc<Partition>) -> Result<(), TieringError> {
        let cancel: CancellationToken = self.shutdown.child_token();
        self.ensure_loaded(p, &cancel).await
    }
}
