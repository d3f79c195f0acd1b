//! Re-creating a topic from what the bucket holds after every local disk was lost.

use std::collections::BTreeMap;

use strata_remote::{RemoteLogSegmentState, TopicId, TopicIdPartition};
use tokio_util::sync::CancellationToken;

use super::RemoteLogManager;
use crate::error::TieredError;

/// One partition found in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredPartition {
    pub partition: i32,
    /// The first uploaded offset still there.
    pub start_offset: i64,
    /// The highest uploaded offset + 1: where the local log resumes.
    pub next_offset: i64,
    /// Finished segments.
    pub segments: usize,
}

impl RemoteLogManager {
    /// The newest live incarnation of topic `name` in the bucket (its id and, per
    /// partition, what was uploaded), or `None` if the bucket holds none. Incarnations
    /// with a partition-deletion marker are skipped.
    pub async fn find_in_bucket(
        &self,
        name: &str,
    ) -> Result<Option<(TopicId, Vec<RecoveredPartition>)>, TieredError> {
        let cancel = CancellationToken::new();
        let all = self.meta.list_partitions(name, &cancel).await?;
        // Incarnations this node deleted whose purge has not finished yet.
        let deleted: Vec<TopicId> = self
            .cfg
            .deletions_file
            .as_deref()
            .map(super::pending_deletions::load)
            .unwrap_or_default()
            .into_iter()
            .map(|tp| tp.topic_id)
            .collect();
        let mut by_id: BTreeMap<TopicId, Vec<TopicIdPartition>> = BTreeMap::new();
        for tp in all
            .into_iter()
            .filter(|tp| tp.topic() == name && !deleted.contains(&tp.topic_id))
        {
            by_id.entry(tp.topic_id).or_default().push(tp);
        }
        let mut best: Option<(i64, TopicId, Vec<RecoveredPartition>)> = None;
        'ids: for (id, tps) in by_id {
            let mut parts = Vec::new();
            let mut newest = i64::MIN;
            for tp in tps {
                if self
                    .meta
                    .partition_delete_state(&tp, &cancel)
                    .await?
                    .is_some()
                {
                    continue 'ids;
                }
                let segs: Vec<_> = self
                    .meta
                    .list_segments(&tp, &cancel)
                    .await?
                    .into_iter()
                    .filter(|m| m.state == RemoteLogSegmentState::CopySegmentFinished)
                    .collect();
                newest = newest.max(
                    segs.iter()
                        .map(|m| m.event_timestamp_ms)
                        .max()
                        .unwrap_or(i64::MIN),
                );
                parts.push(RecoveredPartition {
                    partition: tp.partition(),
                    start_offset: segs.iter().map(|m| m.start_offset).min().unwrap_or(0),
                    next_offset: segs.iter().map(|m| m.end_offset + 1).max().unwrap_or(0),
                    segments: segs.len(),
                });
            }
            if best.as_ref().is_none_or(|(t, _, _)| newest > *t) {
                best = Some((newest, id, parts));
            }
        }
        Ok(best.map(|(_, id, parts)| (id, parts)))
    }
}
