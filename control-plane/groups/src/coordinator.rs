//! The coordinator: routes requests to groups and runs the classic protocol's rules.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::config::GroupConfig;
use crate::error::GroupError;
use crate::group::{Committed, Group, GroupState, Member};
use crate::record::{GroupRecord, MemberRecord};
use crate::request::*;

/// Identifies a request whose reply may come later.
pub type RequestId = u64;

/// Makes member ids from a client id (Kafka: `<client.id>-<uuid>`).
pub type MemberIdGenerator = Box<dyn FnMut(&str) -> String + Send>;

/// Replies to send and records to append, in that order of durability: the shell
/// appends `records` before it sends `replies`.
#[derive(Debug, Default)]
pub struct Output {
    pub replies: Vec<(RequestId, Reply)>,
    pub records: Vec<GroupRecord>,
}

/// The partition of `__consumer_offsets` that holds `group_id` (Kafka:
/// `Utils.abs(groupId.hashCode) % n` with Java's `String.hashCode`).
pub fn partition_for(group_id: &str, num_partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in group_id.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    (h & 0x7fff_ffff) % num_partitions.max(1)
}

/// The classic-protocol group coordinator and offset store of one node.
pub struct GroupCoordinator {
    pub(crate) config: GroupConfig,
    pub(crate) groups: BTreeMap<String, Group>,
    pub(crate) member_ids: MemberIdGenerator,
    pub(crate) join_seq: u64,
}

pub(crate) fn join_error(member_id: &str, error: GroupError) -> Reply {
    Reply::JoinGroup(JoinGroupReply {
        error: Some(error),
        generation_id: -1,
        protocol_type: None,
        protocol_name: None,
        leader: String::new(),
        skip_assignment: false,
        member_id: member_id.to_string(),
        members: Vec::new(),
    })
}

pub(crate) fn sync_error(error: GroupError) -> Reply {
    Reply::SyncGroup(SyncGroupReply {
        error: Some(error),
        protocol_type: None,
        protocol_name: None,
        assignment: Bytes::new(),
    })
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig, member_ids: MemberIdGenerator) -> Self {
        Self {
            config,
            groups: BTreeMap::new(),
            member_ids,
            join_seq: 0,
        }
    }

    /// Forgets every group, keeping the configuration: the state is then rebuilt with
    /// [`GroupCoordinator::replay`] from what the log holds, e.g. after a write whose
    /// records could not be appended (memory must not be ahead of the log).
    pub fn reset(&mut self) {
        self.groups.clear();
    }

    /// Handles one request. Its reply is in the output unless it waits for a rebalance
    /// (JoinGroup, SyncGroup), in which case a later `handle` or `tick` carries it.
    pub fn handle(&mut self, id: RequestId, req: Request, now: i64) -> Output {
        let mut out = Output::default();
        match req {
            Request::JoinGroup {
                group_id,
                member_id,
                group_instance_id,
                protocol_type,
                protocols,
                session_timeout_ms,
                rebalance_timeout_ms,
                require_known_member_id,
                client_id,
                client_host,
                reason: _,
            } => {
                let member = Member {
                    member_id: member_id.clone(),
                    instance_id: group_instance_id,
                    client_id,
                    client_host,
                    session_timeout_ms,
                    rebalance_timeout_ms: if rebalance_timeout_ms > 0 {
                        rebalance_timeout_ms
                    } else {
                        session_timeout_ms
                    },
                    protocol_type,
                    protocols,
                    assignment: Bytes::new(),
                    session_deadline: now + session_timeout_ms as i64,
                    awaiting_join: Some(id),
                    awaiting_sync: None,
                    join_seq: 0,
                };
                self.join(
                    id,
                    &group_id,
                    member,
                    require_known_member_id,
                    now,
                    &mut out,
                );
            }
            Request::SyncGroup {
                group_id,
                generation_id,
                member_id,
                group_instance_id,
                protocol_type,
                protocol_name,
                assignments,
            } => self.sync(
                id,
                &group_id,
                generation_id,
                &member_id,
                group_instance_id.as_deref(),
                protocol_type.as_deref(),
                protocol_name.as_deref(),
                assignments,
                now,
                &mut out,
            ),
            Request::Heartbeat {
                group_id,
                generation_id,
                member_id,
                group_instance_id,
            } => {
                let e = self.heartbeat(
                    &group_id,
                    generation_id,
                    &member_id,
                    group_instance_id.as_deref(),
                    now,
                );
                out.replies.push((id, Reply::Heartbeat(e)));
            }
            Request::LeaveGroup { group_id, members } => {
                let reply = self.leave(&group_id, members, now, &mut out);
                out.replies.push((id, reply));
            }
            Request::OffsetCommit {
                group_id,
                generation_id,
                member_id,
                group_instance_id,
                offsets,
            } => {
                let reply = self.commit(
                    &group_id,
                    generation_id,
                    &member_id,
                    group_instance_id.as_deref(),
                    offsets,
                    now,
                    &mut out,
                );
                out.replies.push((id, Reply::OffsetCommit(reply)));
            }
            Request::OffsetFetch {
                group_id,
                partitions,
                require_stable: _,
            } => {
                let reply = self.fetch(&group_id, partitions);
                out.replies.push((id, reply));
            }
            Request::OffsetDelete {
                group_id,
                partitions,
            } => {
                let reply = self.offset_delete(&group_id, partitions, &mut out);
                out.replies.push((id, reply));
            }
            Request::ListGroups {
                states_filter,
                types_filter,
            } => out.replies.push((
                id,
                Reply::ListGroups(self.list(&states_filter, &types_filter)),
            )),
            Request::DescribeGroups { group_ids } => {
                let d = group_ids.iter().map(|g| self.describe(g)).collect();
                out.replies.push((id, Reply::DescribeGroups(d)));
            }
            Request::DeleteGroups { group_ids } => {
                let r = group_ids
                    .into_iter()
                    .map(|g| {
                        let e = self.delete_group(&g, &mut out);
                        (g, e)
                    })
                    .collect();
                out.replies.push((id, Reply::DeleteGroups(r)));
            }
        }
        out
    }

    /// Fires every timer due at `now`: expired sessions and pending member ids, join
    /// and sync phases past their deadline, expired offsets and the removal of empty
    /// groups without offsets. Each group's timers run independently: a member that
    /// misbehaves delays only its own group.
    ///
    /// Contract: after `tick(t)`, nothing that was due at `t` is due any more, so
    /// [`Self::next_deadline`] is either `None` or later than `t` (no busy loop).
    pub fn tick(&mut self, now: i64) -> Output {
        let mut out = Output::default();
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for gid in ids {
            self.tick_membership(&gid, now, &mut out);
            self.expire_offsets(&gid, now, &mut out);
        }
        out
    }

    /// The earliest time [`Self::tick`] has something to do, if any. The shell calls
    /// `tick` then (a deadline already past means "now").
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups
            .values()
            .filter_map(|g| {
                let membership = Self::membership_deadline(g);
                let offsets = self.offsets_deadline(g);
                membership.into_iter().chain(offsets).min()
            })
            .min()
    }

    /// Rebuilds state from a `__consumer_offsets` record (start-up). Members come back
    /// with fresh sessions, so a consumer that keeps heartbeating keeps its partitions.
    pub fn replay(&mut self, record: GroupRecord, now: i64) {
        match record {
            GroupRecord::Offset {
                group,
                topic,
                partition,
                offset,
                leader_epoch,
                metadata,
                commit_timestamp,
            } => {
                let g = self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(&group, now));
                g.offsets.insert(
                    (topic, partition),
                    Committed {
                        offset,
                        leader_epoch,
                        metadata,
                        commit_timestamp,
                    },
                );
            }
            GroupRecord::OffsetTombstone {
                group,
                topic,
                partition,
            } => {
                if let Some(g) = self.groups.get_mut(&group) {
                    g.offsets.remove(&(topic, partition));
                }
            }
            GroupRecord::Group {
                group,
                protocol_type,
                generation,
                protocol,
                leader,
                state_timestamp,
                members,
            } => {
                let g = self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(&group, now));
                g.generation = generation;
                g.protocol_type = Some(protocol_type.clone()).filter(|p| !p.is_empty());
                g.protocol = protocol.clone();
                g.leader = leader;
                g.members.clear();
                g.static_members.clear();
                g.pending.clear();
                g.rebalance_deadline = None;
                g.initial_delay_since = None;
                g.sync_deadline = None;
                for m in members {
                    self.join_seq += 1;
                    if let Some(i) = &m.group_instance_id {
                        g.static_members.insert(i.clone(), m.member_id.clone());
                    }
                    let protocols = match &protocol {
                        Some(p) => vec![(p.clone(), m.subscription.clone())],
                        None => Vec::new(),
                    };
                    g.members.insert(
                        m.member_id.clone(),
                        Member {
                            member_id: m.member_id,
                            instance_id: m.group_instance_id,
                            client_id: m.client_id,
                            client_host: m.client_host,
                            session_timeout_ms: m.session_timeout_ms,
                            rebalance_timeout_ms: m.rebalance_timeout_ms,
                            protocol_type: protocol_type.clone(),
                            protocols,
                            assignment: m.assignment,
                            session_deadline: now + m.session_timeout_ms.max(0) as i64,
                            awaiting_join: None,
                            awaiting_sync: None,
                            join_seq: self.join_seq,
                        },
                    );
                }
                if g.leader
                    .as_ref()
                    .is_some_and(|l| !g.members.contains_key(l))
                {
                    g.leader = None;
                }
                if g.members.is_empty() {
                    g.state = GroupState::Empty;
                    // Offsets expire relative to when the group became Empty, which
                    // survives restarts through the record's state timestamp.
                    g.empty_since = if state_timestamp >= 0 {
                        state_timestamp
                    } else {
                        now
                    };
                    g.state_timestamp = g.empty_since;
                } else {
                    g.transition(GroupState::Stable, now);
                }
            }
            GroupRecord::GroupTombstone { group } => {
                // The group's metadata is gone; offsets written after it (a later
                // simple commit) keep an Empty group alive.
                if let Some(g) = self.groups.get(&group) {
                    if g.offsets.is_empty() {
                        self.groups.remove(&group);
                    } else {
                        let offsets = g.offsets.clone();
                        let mut fresh = Group::new(&group, now);
                        fresh.offsets = offsets;
                        self.groups.insert(group, fresh);
                    }
                }
            }
        }
    }

    /// Committed offsets of a group, for lag reporting.
    pub fn committed(&self, group_id: &str) -> Vec<(String, i32, i64)> {
        self.groups
            .get(group_id)
            .map(|g| {
                g.offsets
                    .iter()
                    .map(|((t, p), c)| (t.clone(), *p, c.offset))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Kafka's `validateCurrentMember`: with an instance id, it must be known and held by
/// `member_id` (else UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID); the member must exist.
pub(crate) fn check_member(
    g: &Group,
    member_id: &str,
    instance_id: Option<&str>,
) -> Result<(), GroupError> {
    if let Some(i) = instance_id {
        match g.static_members.get(i) {
            Some(current) if current != member_id => return Err(GroupError::FencedInstanceId),
            Some(_) => {}
            None => return Err(GroupError::UnknownMemberId),
        }
    }
    if !g.members.contains_key(member_id) {
        return Err(GroupError::UnknownMemberId);
    }
    Ok(())
}

/// The group's metadata record as it stands.
pub(crate) fn group_record(g: &Group) -> GroupRecord {
    let protocol = g.protocol.clone().unwrap_or_default();
    GroupRecord::Group {
        group: g.id.clone(),
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        generation: g.generation,
        protocol: g.protocol.clone(),
        leader: g.leader.clone(),
        state_timestamp: g.state_timestamp,
        members: g
            .members
            .values()
            .map(|m| MemberRecord {
                member_id: m.member_id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                subscription: m.metadata_for(&protocol),
                assignment: m.assignment.clone(),
            })
            .collect(),
    }
}
