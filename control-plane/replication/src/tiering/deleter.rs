//! Deleting a topic's remote data: DELETE_PARTITION_MARKED → STARTED → every object
//! under the partition's folder removed. Survives restarts: an unfinished deletion
//! found in the bucket at start-up is finished.

use std::sync::Arc;
use std::time::Duration;

use strata_remote::{RemotePartitionDeleteState, TopicIdPartition};
use tokio_util::sync::CancellationToken;

use super::{now_ms, RemoteLogManager, TieringError};
use crate::replica_manager::TopicPartition;

impl RemoteLogManager {
    /// Marks the partition deleted in the bucket and removes its objects in the
    /// background. Call after the partition stopped being hosted.
    pub fn delete_partition(self: &Arc<Self>, tp: TopicIdPartition) {
        // Stop a sweep of the old incarnation first, so nothing is uploaded after the
        // listing below.
        let local = TopicPartition::new(tp.topic.clone(), tp.partition);
        if let Some(t) = self.running.lock().get(&local) {
            t.cancel();
        }
        let me = self.clone();
        tokio::spawn(async move {
            for _ in 0..100 {
                if !me.running.lock().contains_key(&local) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let cancel = me.shutdown.child_token();
            if let Err(e) = me.purge(&tp, &cancel).await {
                tracing::warn!(topic = %tp.topic, partition = tp.partition, error = %e,
                    "remote partition deletion interrupted; resumed at next start");
            }
        });
    }

    async fn purge(
        &self,
        tp: &TopicIdPartition,
        cancel: &CancellationToken,
    ) -> Result<(), TieringError> {
        let state = self
            .meta
            .mark_partition_deleted(tp, now_ms(), cancel)
            .await?;
        if state == RemotePartitionDeleteState::DeletePartitionMarked {
            self.meta
                .update_partition_delete_state(
                    tp,
                    RemotePartitionDeleteState::DeletePartitionStarted,
                    now_ms(),
                    cancel,
                )
                .await?;
        }
        let segments = self.meta.list_segments(tp, cancel).await?;
        let mut bytes = 0;
        for m in &segments {
            self.rsm.delete_log_segment_data(m, cancel).await?;
            bytes += m.segment_size_bytes;
            self.stats.deleted(m.segment_size_bytes);
        }
        let objects = self.meta.purge_partition(tp, cancel).await?;
        tracing::info!(topic = %tp.topic, partition = tp.partition, segments = segments.len(),
            bytes, objects, "remote partition deleted");
        Ok(())
    }

    /// Finishes partition deletions an earlier run left in the bucket.
    pub(super) async fn resume_deletions(self: Arc<Self>) {
        let cancel = self.shutdown.child_token();
        let partitions = match self.meta.list_partitions("", &cancel).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "could not list the remote tier for unfinished deletions");
                return;
            }
        };
        for tp in partitions {
            match self.meta.partition_delete_state(&tp, &cancel).await {
                Ok(Some(_)) => {
                    if let Err(e) = self.purge(&tp, &cancel).await {
                        tracing::warn!(topic = %tp.topic, partition = tp.partition, error = %e,
                            "could not finish a remote partition deletion");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "partition delete state unreadable"),
            }
        }
    }
}
