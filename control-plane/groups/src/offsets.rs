//! Committed offsets: commit, fetch, delete, and expiry of empty groups' offsets.

use crate::coordinator::{check_member, GroupCoordinator, Output};
use crate::error::GroupError;
use crate::group::{Committed, Group, GroupState};
use crate::record::GroupRecord;
use crate::request::*;

impl GroupCoordinator {
    // ---- offsets ----

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn commit(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<OffsetCommitEntry>,
        now: i64,
        out: &mut Output,
    ) -> Vec<((String, i32), Option<GroupError>)> {
        let all = |e: GroupError, offsets: &[OffsetCommitEntry]| {
            offsets
                .iter()
                .map(|o| ((o.topic.clone(), o.partition), Some(e)))
                .collect()
        };
        if group_id.is_empty() {
            return all(GroupError::InvalidGroupId, &offsets);
        }
        let simple = generation < 0 && member_id.is_empty();
        if !self.groups.contains_key(group_id) {
            if !simple {
                return all(GroupError::IllegalGeneration, &offsets);
            }
            self.groups
                .insert(group_id.to_string(), Group::new(group_id, now));
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            return all(GroupError::GroupIdNotFound, &offsets);
        };
        if simple {
            if !g.members.is_empty() {
                return all(GroupError::UnknownMemberId, &offsets);
            }
        } else {
            if let Err(e) = check_member(g, member_id, instance_id) {
                return all(e, &offsets);
            }
            if generation != g.generation {
                return all(GroupError::IllegalGeneration, &offsets);
            }
            if g.state == GroupState::CompletingRebalance {
                return all(GroupError::RebalanceInProgress, &offsets);
            }
            if let Some(m) = g.members.get_mut(member_id) {
                m.session_deadline = now + m.session_timeout_ms as i64;
            }
        }
        let mut result = Vec::with_capacity(offsets.len());
        for o in offsets {
            let metadata = o.metadata.unwrap_or_default();
            if metadata.len() > self.config.offset_metadata_max_bytes {
                result.push((
                    (o.topic, o.partition),
                    Some(GroupError::OffsetMetadataTooLarge),
                ));
                continue;
            }
            out.records.push(GroupRecord::Offset {
                group: group_id.to_string(),
                topic: o.topic.clone(),
                partition: o.partition,
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: metadata.clone(),
                commit_timestamp: now,
            });
            g.offsets.insert(
                (o.topic.clone(), o.partition),
                Committed {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata,
                    commit_timestamp: now,
                },
            );
            result.push(((o.topic, o.partition), None));
        }
        if g.members.is_empty() {
            // Offsets of a group without members live offsets.retention from now.
            g.empty_since = now;
        }
        result
    }

    pub(crate) fn fetch(&self, group_id: &str, partitions: Option<Vec<(String, i32)>>) -> Reply {
        let g = self.groups.get(group_id);
        let offsets = match partitions {
            Some(list) => list
                .into_iter()
                .map(
                    |(t, p)| match g.and_then(|g| g.offsets.get(&(t.clone(), p))) {
                        Some(c) => (t, p, c.offset, c.leader_epoch, Some(c.metadata.clone())),
                        None => (t, p, -1, -1, Some(String::new())),
                    },
                )
                .collect(),
            None => g
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|((t, p), c)| {
                            (
                                t.clone(),
                                *p,
                                c.offset,
                                c.leader_epoch,
                                Some(c.metadata.clone()),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        Reply::OffsetFetch {
            error: None,
            offsets,
        }
    }

    pub(crate) fn offset_delete(
        &mut self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
        out: &mut Output,
    ) -> Reply {
        let Some(g) = self.groups.get_mut(group_id) else {
            return Reply::OffsetDelete {
                error: Some(GroupError::GroupIdNotFound),
                partitions: Vec::new(),
            };
        };
        let subscribed = if g.members.is_empty() {
            Some(Vec::new())
        } else {
            g.subscribed_topics()
        };
        let mut result = Vec::new();
        for (t, p) in partitions {
            let busy = match &subscribed {
                Some(topics) => topics.contains(&t),
                None => true,
            };
            if busy {
                result.push(((t, p), Some(GroupError::GroupSubscribedToTopic)));
                continue;
            }
            if g.offsets.remove(&(t.clone(), p)).is_some() {
                out.records.push(GroupRecord::OffsetTombstone {
                    group: group_id.to_string(),
                    topic: t.clone(),
                    partition: p,
                });
            }
            result.push(((t, p), None));
        }
        Reply::OffsetDelete {
            error: None,
            partitions: result,
        }
    }

    pub(crate) fn expire_offsets(&mut self, group_id: &str, now: i64, out: &mut Output) {
        let retention = self.config.offsets_retention_ms;
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        if !g.members.is_empty() || g.state != GroupState::Empty {
            return;
        }
        if g.empty_since.saturating_add(retention) > now {
            return;
        }
        for (t, p) in g.offsets.keys() {
            out.records.push(GroupRecord::OffsetTombstone {
                group: group_id.to_string(),
                topic: t.clone(),
                partition: *p,
            });
        }
        out.records.push(GroupRecord::GroupTombstone {
            group: group_id.to_string(),
        });
        self.groups.remove(group_id);
    }
}
