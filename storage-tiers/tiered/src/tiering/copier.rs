//! The copier: each sealed segment below the high watermark goes to the remote tier
//! exactly once, in offset order, as COPY_SEGMENT_STARTED → data → COPY_SEGMENT_FINISHED.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use strata_log::SealedSegment;
use strata_remote::{
    LogSegmentData, RemoteLogSegmentId, RemoteLogSegmentMetadata, RemoteLogSegmentState,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{policy, RemoteLogManager};
use crate::error::TieredError;
use crate::tiered_log::TieredLog;

impl RemoteLogManager {
    /// Uploads every sealed segment not yet remote, oldest first; stops at the first
    /// failure (the next sweep retries it with a fresh segment id).
    pub(super) async fn copy_sealed(
        &self,
        p: &Arc<TieredLog>,
        epoch: i32,
        cancel: &CancellationToken,
    ) -> Result<(), TieredError> {
        loop {
            let (sealed, hw) = p.sealed_segments();
            let upto = p.remote().read().remote_upto();
            let pending: Vec<&SealedSegment> = policy::segments_to_copy(&sealed, upto, hw);
            self.stats.set_lag(
                p.topic_partition(),
                pending.len() as u64,
                pending.iter().map(|s| s.size_bytes).sum(),
            );
            let Some(seg) = pending.first().map(|s| (*s).clone()) else {
                return Ok(());
            };
            let _slot = tokio::select! {
                s = self.copy_slots.acquire() => s.map_err(|_| TieredError::NotRemote(seg.base_offset))?,
                _ = cancel.cancelled() => return Ok(()),
            };
            self.copy_one(p, &seg, epoch, cancel).await?;
        }
    }

    async fn copy_one(
        &self,
        p: &Arc<TieredLog>,
        seg: &SealedSegment,
        epoch: i32,
        cancel: &CancellationToken,
    ) -> Result<(), TieredError> {
        let tp = p.topic_id_partition();
        // The segment's own epochs from the leader-epoch cache; data from before the
        // cache existed is filed under the current epoch, as it always was.
        let mut epochs: BTreeMap<i32, i64> = seg
            .leader_epochs
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect();
        if epochs.is_empty() {
            epochs.insert(epoch, seg.base_offset);
        }
        let epoch_index =
            epochs
                .iter()
                .fold(format!("0\n{}\n", epochs.len()), |mut text, (e, o)| {
                    text.push_str(&format!("{e} {o}\n"));
                    text
                });
        let meta = RemoteLogSegmentMetadata {
            segment_id: RemoteLogSegmentId {
                tp,
                id: Uuid::new_v4(),
            },
            start_offset: seg.base_offset,
            end_offset: seg.next_offset - 1,
            max_timestamp_ms: seg.max_timestamp,
            broker_id: self.cfg.broker_id,
            event_timestamp_ms: self.now_ms(),
            segment_size_bytes: seg.size_bytes,
            segment_leader_epochs: epochs,
            state: RemoteLogSegmentState::CopySegmentStarted,
        };
        let data = LogSegmentData {
            log_segment: seg.log_path.clone(),
            offset_index: seg.offset_index_path.clone(),
            time_index: seg.time_index_path.clone(),
            transaction_index: None,
            producer_snapshot: seg.producer_snapshot_path.clone(),
            // Kafka's leader-epoch checkpoint format: version, count, "epoch offset".
            leader_epoch_index: Bytes::from(epoch_index),
        };
        let started = Instant::now();
        let sealed_at = std::fs::metadata(&seg.log_path)
            .and_then(|m| m.modified())
            .ok();
        self.meta.add_segment(&meta, epoch, cancel).await?;
        self.copy_rate.acquire(seg.size_bytes).await;
        if let Err(e) = self.rsm.copy_log_segment_data(&meta, &data, cancel).await {
            self.stats
                .copy_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Leave no orphan if we can; if we cannot, the next sweep retries.
            p.remote().write().pending_deletes.push(meta);
            if let Err(d) = self.delete_pending(p, epoch, cancel).await {
                tracing::debug!(error = %d, "orphan of a failed copy left for the next sweep");
            }
            return Err(e.into());
        }
        let finished = match self
            .meta
            .update_segment_state(
                &meta.segment_id,
                RemoteLogSegmentState::CopySegmentFinished,
                self.now_ms(),
                epoch,
                cancel,
            )
            .await
        {
            Ok(f) => f,
            Err(e) => {
                // The record may have landed all the same: this copy is removed by the
                // next sweep before the segment is uploaded again, so no second record
                // of the same offsets is left behind.
                p.remote().write().pending_deletes.push(meta);
                return Err(e.into());
            }
        };
        let lag_ms = sealed_at
            .and_then(|t| t.elapsed().ok())
            .map(|d| d.as_millis() as u64);
        self.stats.copied(seg.size_bytes, started.elapsed(), lag_ms);
        tracing::info!(
            tp = %p.topic_partition(),
            start = meta.start_offset,
            end = meta.end_offset,
            bytes = seg.size_bytes,
            ms = started.elapsed().as_millis() as u64,
            "segment copied to the remote tier"
        );
        p.remote()
            .write()
            .segments
            .insert(finished.start_offset, finished);
        Ok(())
    }
}
