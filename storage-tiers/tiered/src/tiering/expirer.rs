//! The expirer: total retention (`retention.ms`, `retention.bytes`) and DeleteRecords
//! applied to the remote tier, oldest segment first; the log start offset follows.

use std::sync::Arc;

use strata_remote::{RemoteLogSegmentMetadata, RemoteLogSegmentState};
use tokio_util::sync::CancellationToken;

use super::{policy, RemoteLogManager};
use crate::error::TieredError;
use crate::tiered_log::TieredLog;

impl RemoteLogManager {
    /// Deletes remote segments beyond total retention or below the log start floor.
    pub(super) async fn expire(
        &self,
        p: &Arc<TieredLog>,
        epoch: i32,
        cancel: &CancellationToken,
    ) -> Result<(), TieredError> {
        let cfg = p.config();
        let now = self.now_ms();
        let doomed: Vec<RemoteLogSegmentMetadata> = {
            let view = p.remote().read();
            // Kafka counts the remote bytes plus local bytes not yet uploaded.
            let local_not_uploaded = p.local_bytes_from(view.remote_upto());
            let retention = policy::Retention {
                delete: cfg.is_delete(),
                retention_ms: cfg.retention_ms,
                retention_bytes: cfg.retention_bytes,
            };
            policy::segments_to_expire(
                view.segments.values(),
                view.floor(),
                local_not_uploaded,
                retention,
                now,
            )
            .into_iter()
            .cloned()
            .collect()
        };
        let Some(next) = doomed.last().map(|m| m.end_offset + 1) else {
            return Ok(());
        };
        {
            // Readers stop seeing them (and the log start moves once, to its final
            // place) before any goes.
            let mut view = p.remote().write();
            for m in &doomed {
                view.segments.remove(&m.start_offset);
            }
            view.raise_floor(next, &p.dir())
                .map_err(|e| TieredError::Log(e.into()))?;
        }
        for m in &doomed {
            tracing::info!(
                tp = %p.topic_partition(),
                start = m.start_offset,
                end = m.end_offset,
                "remote segment expired"
            );
        }
        // Out of the view already: deleted through the queue every sweep retries.
        p.remote().write().pending_deletes.extend(doomed);
        self.delete_pending(p, epoch, cancel).await
    }

    /// DELETE_SEGMENT_STARTED → data and indexes deleted → DELETE_SEGMENT_FINISHED →
    /// record removed. Also how orphans of failed copies are cleaned.
    pub(super) async fn delete_segment(
        &self,
        m: RemoteLogSegmentMetadata,
        epoch: i32,
        cancel: &CancellationToken,
    ) -> Result<(), TieredError> {
        if m.state != RemoteLogSegmentState::DeleteSegmentFinished {
            if m.state != RemoteLogSegmentState::DeleteSegmentStarted {
                self.meta
                    .update_segment_state(
                        &m.segment_id,
                        RemoteLogSegmentState::DeleteSegmentStarted,
                        self.now_ms(),
                        epoch,
                        cancel,
                    )
                    .await?;
            }
            self.rsm.delete_log_segment_data(&m, cancel).await?;
            self.meta
                .update_segment_state(
                    &m.segment_id,
                    RemoteLogSegmentState::DeleteSegmentFinished,
                    self.now_ms(),
                    epoch,
                    cancel,
                )
                .await?;
        }
        self.meta.remove_segment_record(&m, cancel).await?;
        self.tier.reader.forget(&m);
        self.stats.deleted(m.segment_size_bytes);
        Ok(())
    }
}
