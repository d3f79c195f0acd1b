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
        // Kafka's `validateOffsetCommit`. A negative generation is a commit from
        // outside the group (admin tools, consumers using assign()); it may create the
        // group and is accepted only while the group is Empty.
        if !self.groups.contains_key(group_id) {
            if generation >= 0 {
                return all(GroupError::IllegalGeneration, &offsets);
            }
            self.groups
                .insert(group_id.to_string(), Group::new(group_id, now));
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            return all(GroupError::GroupIdNotFound, &offsets);
        };
        let simple = generation < 0 && g.state == GroupState::Empty;
        if !simple {
            if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
                if let Err(e) = check_member(g, member_id, instance_id) {
                    return all(e, &offsets);
                }
                if generation != g.generation {
                    return all(GroupError::IllegalGeneration, &offsets);
                }
            } else {
                return all(GroupError::UnknownMemberId, &offsets);
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
            // Record strings carry an i16 length, whatever the configured maximum.
            let max = self.config.offset_metadata_max_bytes.min(i16::MAX as usize);
            if metadata.len() > max {
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

    /// OffsetDelete (KIP-496): an Empty group's offsets go; a consumer group in use
    /// keeps those of the topics its members subscribe to; any other group in use
    /// refuses with NON_EMPTY_GROUP.
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
        let subscribed = if g.state == GroupState::Empty {
            Vec::new()
        } else {
            let consumer = g.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE);
            match g.subscribed_topics().filter(|_| consumer) {
                Some(topics) => topics,
                None => {
                    return Reply::OffsetDelete {
                        error: Some(GroupError::NonEmptyGroup),
                        partitions: Vec::new(),
                    }
                }
            }
        };
        let mut result = Vec::with_capacity(partitions.len());
        for (t, p) in partitions {
            if subscribed.contains(&t) {
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

    /// When an offset of `g` expires, if it can (Kafka's `removeExpiredOffsets`): only
    /// while the group is Empty; a consumer group's offsets count from when it became
    /// Empty, a simple group's (no protocol type) from each commit.
    fn offset_expiry(&self, g: &Group, c: &Committed) -> Option<i64> {
        if g.state != GroupState::Empty || !g.members.is_empty() {
            return None;
        }
        let base = if g.protocol_type.is_some() {
            g.empty_since
        } else {
            c.commit_timestamp
        };
        Some(base.saturating_add(self.config.offsets_retention_ms))
    }

    /// When an Empty group without offsets (or pending members) is forgotten.
    fn removal_time(&self, g: &Group) -> Option<i64> {
        let removable = g.state == GroupState::Empty
            && g.members.is_empty()
            && g.pending.is_empty()
            && g.offsets.is_empty();
        removable.then(|| {
            g.empty_since
                .saturating_add(EMPTY_GROUP_GRACE_MS.min(self.config.offsets_retention_ms))
        })
    }

    /// The earliest offset-expiry or group-removal time of `g`, mirroring
    /// [`Self::expire_offsets`].
    pub(crate) fn offsets_deadline(&self, g: &Group) -> Option<i64> {
        let expiry = g.offsets.values().filter_map(|c| self.offset_expiry(g, c));
        expiry.chain(self.removal_time(g)).min()
    }

    /// Expires offsets due at `now` (tombstones) and forgets an Empty group left
    /// without offsets (a group tombstone), as Kafka's periodic cleanup does.
    pub(crate) fn expire_offsets(&mut self, group_id: &str, now: i64, out: &mut Output) {
        let Some(g) = self.groups.get(group_id) else {
            return;
        };
        let expired: Vec<(String, i32)> = g
            .offsets
            .iter()
            .filter(|(_, c)| self.offset_expiry(g, c).is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        for (t, p) in expired {
            g.offsets.remove(&(t.clone(), p));
            out.records.push(GroupRecord::OffsetTombstone {
                group: group_id.to_string(),
                topic: t,
                partition: p,
            });
        }
        let Some(g) = self.groups.get(group_id) else {
            return;
        };
        if self.removal_time(g).is_some_and(|t| t <= now) {
            out.records.push(GroupRecord::GroupTombstone {
                group: group_id.to_string(),
            });
            self.groups.remove(group_id);
        }
    }
}

/// How long an Empty group without offsets is kept before it is forgotten (Kafka's
/// `offsets.retention.check.interval.ms` default: its cleanup runs that often), capped
/// by the offsets retention.
pub const EMPTY_GROUP_GRACE_MS: i64 = 600_000;

/// The protocol type of Kafka consumers, whose subscription metadata this crate reads.
pub(crate) const CONSUMER_PROTOCOL_TYPE: &str = "consumer";
