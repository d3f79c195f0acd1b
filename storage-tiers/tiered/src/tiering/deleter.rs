//! Deleting a topic's remote data: DELETE_PARTITION_MARKED → STARTED → every object
//! under the partition's folder removed. Survives restarts: partitions listed by
//! [`RemoteLogManager::record_deletions`] before the topic's deletion committed, and
//! unfinished deletions found in the bucket, are finished at start-up.

use std::sync::Arc;
use std::time::Duration;

use strata_remote::{RemotePartitionDeleteState, TopicId, TopicIdPartition};
use tokio_util::sync::CancellationToken;

use super::{pending_deletions, RemoteLogManager};
use crate::error::TieredError;

/// How often deletions that failed are retried.
const DELETION_RETRY: Duration = Duration::from_secs(30);

impl RemoteLogManager {
    /// Lists `partitions` durably as to be deleted from the remote tier. Call before
    /// the topic's deletion commits; an entry whose topic is still hosted at the next
    /// start (the commit failed) is dropped, not purged.
    pub fn record_deletions(&self, partitions: &[TopicIdPartition]) -> std::io::Result<()> {
        let Some(path) = &self.cfg.deletions_file else {
            return Ok(());
        };
        let _guard = self.deletions_lock.lock();
        pending_deletions::update(path, partitions, &[])
    }

    fn forget_deletion(&self, tp: &TopicIdPartition) {
        let Some(path) = &self.cfg.deletions_file else {
            return;
        };
        let _guard = self.deletions_lock.lock();
        if let Err(e) = pending_deletions::update(path, &[], std::slice::from_ref(tp)) {
            tracing::warn!(path = %path.display(), error = %e, "could not update the list of pending remote deletions");
        }
    }

    /// Marks the partition deleted in the bucket and removes its objects in the
    /// background. Call after the partition stopped being hosted.
    pub fn delete_partition(self: &Arc<Self>, tp: TopicIdPartition) {
        // Stop a sweep of the old incarnation first, so nothing is uploaded after the
        // listing below.
        let local = tp.topic_partition.clone();
        self.on_not_leader(&local);
        let me = self.clone();
        self.spawn(async move {
            for _ in 0..100 {
                if !me.running.lock().contains_key(&local) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            me.stats.forget(&local);
            let cancel = me.shutdown_token().child_token();
            match me.purge(&tp, &cancel).await {
                Ok(()) => me.forget_deletion(&tp),
                Err(e) => {
                    tracing::warn!(topic = %tp.topic(), partition = tp.partition(), error = %e,
                    "remote partition deletion interrupted; resumed at next start")
                }
            }
        });
    }

    async fn purge(
        &self,
        tp: &TopicIdPartition,
        cancel: &CancellationToken,
    ) -> Result<(), TieredError> {
        let state = self
            .meta
            .mark_partition_deleted(tp, self.now_ms(), cancel)
            .await?;
        if state == RemotePartitionDeleteState::DeletePartitionMarked {
            self.meta
                .update_partition_delete_state(
                    tp,
                    RemotePartitionDeleteState::DeletePartitionStarted,
                    self.now_ms(),
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
        tracing::info!(topic = %tp.topic(), partition = tp.partition(), segments = segments.len(),
            bytes, objects, "remote partition deleted");
        Ok(())
    }

    /// Finishes partition deletions an earlier run left (those it listed locally, and
    /// those marked in the bucket), then retries listed ones that fail until they
    /// succeed (an object-store outage delays deletion, it never leaks objects).
    pub(super) async fn resume_deletions(self: Arc<Self>) {
        let cancel = self.shutdown_token().child_token();
        self.retry_listed_deletions(&cancel).await;
        self.resume_marked_deletions(&cancel).await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(DELETION_RETRY) => {}
            }
            self.retry_listed_deletions(&cancel).await;
        }
    }

    /// Purges every partition listed locally whose topic is not hosted.
    async fn retry_listed_deletions(&self, cancel: &CancellationToken) {
        if let Some(path) = &self.cfg.deletions_file {
            let hosted: std::collections::HashSet<(TopicId, i32)> = self
                .logs
                .partitions()
                .iter()
                .map(|p| (p.topic_id(), p.topic_partition().partition))
                .collect();
            for tp in pending_deletions::load(path) {
                if hosted.contains(&(tp.topic_id, tp.partition())) {
                    // The topic's deletion never committed.
                    self.forget_deletion(&tp);
                    continue;
                }
                match self.purge(&tp, cancel).await {
                    Ok(()) => self.forget_deletion(&tp),
                    Err(e) => {
                        tracing::warn!(topic = %tp.topic(), partition = tp.partition(), error = %e,
                        "could not finish a remote partition deletion; retrying later")
                    }
                }
            }
        }
    }

    /// Finishes deletions marked in the bucket (DELETE_PARTITION_MARKED or STARTED).
    async fn resume_marked_deletions(&self, cancel: &CancellationToken) {
        let partitions = match self.meta.list_partitions("", cancel).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "could not list the remote tier for unfinished deletions");
                return;
            }
        };
        for tp in partitions {
            match self.meta.partition_delete_state(&tp, cancel).await {
                Ok(Some(_)) => {
                    if let Err(e) = self.purge(&tp, cancel).await {
                        tracing::warn!(topic = %tp.topic(), partition = tp.partition(), error = %e,
                            "could not finish a remote partition deletion");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "partition delete state unreadable"),
            }
        }
    }
}
