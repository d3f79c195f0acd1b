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
    config: GroupConfig,
    groups: BTreeMap<String, Group>,
    member_ids: MemberIdGenerator,
    join_seq: u64,
}

fn join_error(member_id: &str, error: GroupError) -> Reply {
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

fn sync_error(error: GroupError) -> Reply {
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
    /// phases past their deadline, expired offsets of empty groups.
    pub fn tick(&mut self, now: i64) -> Output {
        let mut out = Output::default();
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for gid in ids {
            let Some(g) = self.groups.get_mut(&gid) else {
                continue;
            };
            g.pending.retain(|_, deadline| *deadline > now);
            let expired: Vec<String> = g
                .members
                .values()
                .filter(|m| m.session_deadline <= now)
                .map(|m| m.member_id.clone())
                .collect();
            for m in &expired {
                self.remove_member(&gid, m, now, &mut out);
            }
            let due = self
                .groups
                .get(&gid)
                .and_then(|g| g.rebalance_deadline)
                .is_some_and(|d| d <= now);
            if due {
                self.complete_join(&gid, now, &mut out);
            } else if !expired.is_empty() {
                self.try_complete_join(&gid, now, &mut out);
            }
            self.expire_offsets(&gid, now, &mut out);
        }
        out
    }

    /// The earliest time `tick` has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        let mut next: Option<i64> = None;
        let mut consider = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
        for g in self.groups.values() {
            for m in g.members.values() {
                consider(m.session_deadline);
            }
            for d in g.pending.values() {
                consider(*d);
            }
            if let Some(d) = g.rebalance_deadline {
                consider(d);
            }
            if g.members.is_empty() && !g.offsets.is_empty() {
                consider(
                    g.empty_since
                        .saturating_add(self.config.offsets_retention_ms),
                );
            }
        }
        next
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
                state_timestamp: _,
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
                let state = if g.members.is_empty() {
                    GroupState::Empty
                } else {
                    GroupState::Stable
                };
                g.transition(state, now);
            }
            GroupRecord::GroupTombstone { group } => {
                self.groups.remove(&group);
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

    // ---- JoinGroup ----

    fn join(
        &mut self,
        id: RequestId,
        group_id: &str,
        mut member: Member,
        require_known_member_id: bool,
        now: i64,
        out: &mut Output,
    ) {
        let reply_err = |out: &mut Output, member_id: &str, e| {
            out.replies.push((id, join_error(member_id, e)));
        };
        if group_id.is_empty() {
            return reply_err(out, &member.member_id, GroupError::InvalidGroupId);
        }
        if member.session_timeout_ms < self.config.min_session_timeout_ms
            || member.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return reply_err(out, &member.member_id, GroupError::InvalidSessionTimeout);
        }
        if !member.member_id.is_empty() && !self.groups.contains_key(group_id) {
            return reply_err(out, &member.member_id, GroupError::UnknownMemberId);
        }
        let g = self
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, now));
        if g.state != GroupState::Empty
            && !g.members.is_empty()
            && (g.protocol_type.as_deref() != Some(member.protocol_type.as_str())
                || !g.supports(&member.protocols))
        {
            return reply_err(
                out,
                &member.member_id,
                GroupError::InconsistentGroupProtocol,
            );
        }
        if member.protocols.is_empty() || member.protocol_type.is_empty() {
            return reply_err(
                out,
                &member.member_id,
                GroupError::InconsistentGroupProtocol,
            );
        }
        if member.member_id.is_empty() {
            // A static member that is known: a new member id replaces (fences) the old.
            if let Some(instance) = member.instance_id.clone() {
                if let Some(old_id) = g.static_members.get(&instance).cloned() {
                    let new_id = (self.member_ids)(&member.client_id);
                    return self
                        .replace_static_member(id, group_id, &old_id, new_id, member, now, out);
                }
            }
            if g.members.len() as i64 >= self.config.max_size as i64 {
                return reply_err(out, "", GroupError::GroupMaxSizeReached);
            }
            let new_id = (self.member_ids)(&member.client_id);
            if require_known_member_id && member.instance_id.is_none() {
                g.pending
                    .insert(new_id.clone(), now + member.session_timeout_ms as i64);
                return reply_err(out, &new_id, GroupError::MemberIdRequired);
            }
            member.member_id = new_id;
            return self.add_member_and_rebalance(group_id, member, now, out);
        }
        let mid = member.member_id.clone();
        if g.pending.remove(&mid).is_some() {
            return self.add_member_and_rebalance(group_id, member, now, out);
        }
        let Some(existing) = g.members.get(&mid) else {
            return reply_err(out, &mid, GroupError::UnknownMemberId);
        };
        if let Some(instance) = &member.instance_id {
            if g.static_members.get(instance) != Some(&mid) {
                return reply_err(out, &mid, GroupError::FencedInstanceId);
            }
        }
        let same = existing.same_protocols(&member.protocols);
        let is_leader = g.leader.as_deref() == Some(mid.as_str());
        match g.state {
            GroupState::PreparingRebalance => {
                self.update_member(group_id, member, now);
                self.try_complete_join(group_id, now, out);
            }
            GroupState::CompletingRebalance if same => {
                let reply = self.current_generation_reply(group_id, &mid, false);
                out.replies.push((id, reply));
            }
            GroupState::Stable if same && !is_leader => {
                if let Some(m) = self
                    .groups
                    .get_mut(group_id)
                    .and_then(|g| g.members.get_mut(&mid))
                {
                    m.session_deadline = now + m.session_timeout_ms as i64;
                }
                let reply = self.current_generation_reply(group_id, &mid, false);
                out.replies.push((id, reply));
            }
            _ => {
                self.update_member(group_id, member, now);
                self.prepare_rebalance(group_id, now, out);
                self.try_complete_join(group_id, now, out);
            }
        }
    }

    fn current_generation_reply(&self, group_id: &str, member_id: &str, skip: bool) -> Reply {
        let Some(g) = self.groups.get(group_id) else {
            return join_error(member_id, GroupError::UnknownMemberId);
        };
        let is_leader = g.leader.as_deref() == Some(member_id);
        let members = if is_leader {
            self.member_list(g)
        } else {
            Vec::new()
        };
        Reply::JoinGroup(JoinGroupReply {
            error: None,
            generation_id: g.generation,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol.clone(),
            leader: g.leader.clone().unwrap_or_default(),
            skip_assignment: skip && is_leader,
            member_id: member_id.to_string(),
            members,
        })
    }

    fn member_list(&self, g: &Group) -> Vec<JoinedMember> {
        let protocol = g.protocol.clone().unwrap_or_default();
        let mut ms: Vec<&Member> = g.members.values().collect();
        ms.sort_by_key(|m| m.join_seq);
        ms.iter()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn replace_static_member(
        &mut self,
        id: RequestId,
        group_id: &str,
        old_id: &str,
        new_id: String,
        member: Member,
        now: i64,
        out: &mut Output,
    ) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        let Some(mut old) = g.members.remove(old_id) else {
            return;
        };
        // The old incarnation's waiting requests learn that they were fenced.
        if let Some(j) = old.awaiting_join.take() {
            out.replies
                .push((j, join_error(old_id, GroupError::FencedInstanceId)));
        }
        if let Some(s) = old.awaiting_sync.take() {
            out.replies
                .push((s, sync_error(GroupError::FencedInstanceId)));
        }
        let same = old.same_protocols(&member.protocols);
        old.member_id = new_id.clone();
        old.client_id = member.client_id.clone();
        old.client_host = member.client_host.clone();
        old.session_timeout_ms = member.session_timeout_ms;
        old.rebalance_timeout_ms = member.rebalance_timeout_ms;
        old.session_deadline = now + member.session_timeout_ms as i64;
        if g.leader.as_deref() == Some(old_id) {
            g.leader = Some(new_id.clone());
        }
        if let Some(instance) = &old.instance_id {
            g.static_members.insert(instance.clone(), new_id.clone());
        }
        let state = g.state;
        if state == GroupState::Stable && same {
            // Same subscription: it gets its assignment back, no rebalance (KIP-345).
            old.protocols = member.protocols;
            g.members.insert(new_id.clone(), old);
            out.records.push(group_record(g));
            let reply = self.current_generation_reply(group_id, &new_id, true);
            out.replies.push((id, reply));
            return;
        }
        old.protocols = member.protocols;
        old.protocol_type = member.protocol_type;
        old.awaiting_join = Some(id);
        g.members.insert(new_id, old);
        if state != GroupState::PreparingRebalance {
            self.prepare_rebalance(group_id, now, out);
        }
        self.try_complete_join(group_id, now, out);
    }

    fn update_member(&mut self, group_id: &str, member: Member, now: i64) {
        if let Some(m) = self
            .groups
            .get_mut(group_id)
            .and_then(|g| g.members.get_mut(&member.member_id))
        {
            m.protocols = member.protocols;
            m.protocol_type = member.protocol_type;
            m.session_timeout_ms = member.session_timeout_ms;
            m.rebalance_timeout_ms = member.rebalance_timeout_ms;
            m.client_id = member.client_id;
            m.client_host = member.client_host;
            m.awaiting_join = member.awaiting_join;
            m.session_deadline = now + m.session_timeout_ms as i64;
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        group_id: &str,
        mut member: Member,
        now: i64,
        out: &mut Output,
    ) {
        self.join_seq += 1;
        member.join_seq = self.join_seq;
        let delay = self.config.initial_rebalance_delay_ms.max(0) as i64;
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        if g.protocol_type.is_none() || g.members.is_empty() {
            g.protocol_type = Some(member.protocol_type.clone());
        }
        if let Some(instance) = &member.instance_id {
            g.static_members
                .insert(instance.clone(), member.member_id.clone());
        }
        let rebalance_timeout = member.rebalance_timeout_ms as i64;
        let was_empty = g.state == GroupState::Empty;
        g.members.insert(member.member_id.clone(), member);
        if was_empty {
            // The first rebalance of an empty group waits a little for more members
            // (group.initial.rebalance.delay.ms), never past the rebalance timeout.
            g.transition(GroupState::PreparingRebalance, now);
            g.rebalance_deadline = Some(now + delay.min(rebalance_timeout));
            if delay == 0 {
                self.try_complete_join(group_id, now, out);
            }
            return;
        }
        if g.state == GroupState::PreparingRebalance {
            if let Some(d) = g.rebalance_deadline {
                // Still in the initial delay: extend it.
                if g.generation == 0 || d <= now + delay {
                    g.rebalance_deadline = Some((now + delay).max(d));
                }
            }
            self.try_complete_join(group_id, now, out);
            return;
        }
        self.prepare_rebalance(group_id, now, out);
        self.try_complete_join(group_id, now, out);
    }

    fn prepare_rebalance(&mut self, group_id: &str, now: i64, out: &mut Output) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        if g.state == GroupState::CompletingRebalance {
            // Syncs waiting for an assignment that will never come must rejoin.
            for m in g.members.values_mut() {
                if let Some(s) = m.awaiting_sync.take() {
                    out.replies
                        .push((s, sync_error(GroupError::RebalanceInProgress)));
                }
            }
        }
        let timeout = g
            .members
            .values()
            .map(|m| m.rebalance_timeout_ms as i64)
            .max()
            .unwrap_or(0);
        g.transition(GroupState::PreparingRebalance, now);
        g.rebalance_deadline = Some(now + timeout);
    }

    fn try_complete_join(&mut self, group_id: &str, now: i64, out: &mut Output) {
        let Some(g) = self.groups.get(group_id) else {
            return;
        };
        if g.state != GroupState::PreparingRebalance {
            return;
        }
        // During the initial delay of a new group, wait for the timer.
        let in_initial_delay = g.generation == 0
            && g.rebalance_deadline.is_some_and(|d| d > now)
            && self.config.initial_rebalance_delay_ms > 0;
        if g.all_rejoined() && !in_initial_delay {
            self.complete_join(group_id, now, out);
        }
    }

    /// Ends the join phase: members that did not rejoin are dropped, the generation
    /// advances, the protocol is chosen and every waiting join is answered.
    fn complete_join(&mut self, group_id: &str, now: i64, out: &mut Output) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        if g.state != GroupState::PreparingRebalance {
            g.rebalance_deadline = None;
            return;
        }
        g.rebalance_deadline = None;
        let gone: Vec<String> = g
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for m in gone {
            if let Some(old) = g.members.remove(&m) {
                if let Some(i) = old.instance_id {
                    g.static_members.remove(&i);
                }
            }
        }
        g.pending.clear();
        g.generation += 1;
        if g.members.is_empty() {
            g.protocol = None;
            g.leader = None;
            g.transition(GroupState::Empty, now);
            out.records.push(group_record(g));
            return;
        }
        g.protocol = g.select_protocol();
        if !g.leader.as_ref().is_some_and(|l| g.members.contains_key(l)) {
            g.leader = g
                .members
                .values()
                .min_by_key(|m| m.join_seq)
                .map(|m| m.member_id.clone());
        }
        g.transition(GroupState::CompletingRebalance, now);
        for m in g.members.values_mut() {
            m.assignment = Bytes::new();
            m.session_deadline = now + m.session_timeout_ms as i64;
        }
        let waiting: Vec<(String, RequestId)> = g
            .members
            .values_mut()
            .filter_map(|m| m.awaiting_join.take().map(|r| (m.member_id.clone(), r)))
            .collect();
        for (mid, req) in waiting {
            let reply = self.current_generation_reply(group_id, &mid, false);
            out.replies.push((req, reply));
        }
    }

    // ---- SyncGroup ----

    #[allow(clippy::too_many_arguments)]
    fn sync(
        &mut self,
        id: RequestId,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now: i64,
        out: &mut Output,
    ) {
        if group_id.is_empty() {
            out.replies
                .push((id, sync_error(GroupError::InvalidGroupId)));
            return;
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            return out
                .replies
                .push((id, sync_error(GroupError::UnknownMemberId)));
        };
        if let Err(e) = check_member(g, member_id, instance_id) {
            return out.replies.push((id, sync_error(e)));
        }
        if generation != g.generation {
            return out
                .replies
                .push((id, sync_error(GroupError::IllegalGeneration)));
        }
        if protocol_type.is_some_and(|p| g.protocol_type.as_deref() != Some(p))
            || protocol_name.is_some_and(|p| g.protocol.as_deref() != Some(p))
        {
            return out
                .replies
                .push((id, sync_error(GroupError::InconsistentGroupProtocol)));
        }
        match g.state {
            GroupState::Empty | GroupState::Dead => {
                out.replies
                    .push((id, sync_error(GroupError::UnknownMemberId)));
            }
            GroupState::PreparingRebalance => {
                out.replies
                    .push((id, sync_error(GroupError::RebalanceInProgress)));
            }
            GroupState::Stable => {
                let m = g.members.get_mut(member_id);
                let assignment = m.map(|m| {
                    m.session_deadline = now + m.session_timeout_ms as i64;
                    m.assignment.clone()
                });
                out.replies.push((
                    id,
                    Reply::SyncGroup(SyncGroupReply {
                        error: None,
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol.clone(),
                        assignment: assignment.unwrap_or_default(),
                    }),
                ));
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = g.members.get_mut(member_id) {
                    m.awaiting_sync = Some(id);
                    m.session_deadline = now + m.session_timeout_ms as i64;
                }
                if g.leader.as_deref() != Some(member_id) {
                    return;
                }
                let mut given: BTreeMap<String, Bytes> = assignments.into_iter().collect();
                for m in g.members.values_mut() {
                    m.assignment = given.remove(&m.member_id).unwrap_or_default();
                }
                g.transition(GroupState::Stable, now);
                out.records.push(group_record(g));
                let (pt, pn) = (g.protocol_type.clone(), g.protocol.clone());
                for m in g.members.values_mut() {
                    if let Some(s) = m.awaiting_sync.take() {
                        out.replies.push((
                            s,
                            Reply::SyncGroup(SyncGroupReply {
                                error: None,
                                protocol_type: pt.clone(),
                                protocol_name: pn.clone(),
                                assignment: m.assignment.clone(),
                            }),
                        ));
                    }
                }
            }
        }
    }

    // ---- Heartbeat, LeaveGroup ----

    fn heartbeat(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now: i64,
    ) -> Option<GroupError> {
        if group_id.is_empty() {
            return Some(GroupError::InvalidGroupId);
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            return Some(GroupError::UnknownMemberId);
        };
        if let Err(e) = check_member(g, member_id, instance_id) {
            return Some(e);
        }
        if let Some(m) = g.members.get_mut(member_id) {
            m.session_deadline = now + m.session_timeout_ms as i64;
        }
        if generation != g.generation {
            return Some(GroupError::IllegalGeneration);
        }
        match g.state {
            GroupState::PreparingRebalance => Some(GroupError::RebalanceInProgress),
            GroupState::Empty | GroupState::Dead => Some(GroupError::UnknownMemberId),
            GroupState::CompletingRebalance | GroupState::Stable => None,
        }
    }

    fn leave(
        &mut self,
        group_id: &str,
        members: Vec<(String, Option<String>, Option<String>)>,
        now: i64,
        out: &mut Output,
    ) -> Reply {
        let mut results = Vec::new();
        if group_id.is_empty() {
            return Reply::LeaveGroup {
                error: Some(GroupError::InvalidGroupId),
                members: Vec::new(),
            };
        }
        if !self.groups.contains_key(group_id) {
            for (m, i, _) in members {
                results.push((m, i, Some(GroupError::UnknownMemberId)));
            }
            return Reply::LeaveGroup {
                error: None,
                members: results,
            };
        }
        let mut removed_any = false;
        for (mid, instance, _reason) in members {
            let Some(g) = self.groups.get_mut(group_id) else {
                break;
            };
            let target = match &instance {
                Some(i) => match g.static_members.get(i) {
                    Some(current) if mid.is_empty() || *current == mid => Ok(current.clone()),
                    Some(_) => Err(GroupError::FencedInstanceId),
                    None => Err(GroupError::UnknownMemberId),
                },
                None if g.pending.remove(&mid).is_some() => {
                    results.push((mid, instance, None));
                    continue;
                }
                None if g.members.contains_key(&mid) => Ok(mid.clone()),
                None => Err(GroupError::UnknownMemberId),
            };
            match target {
                Ok(t) => {
                    self.detach_member(group_id, &t, out);
                    removed_any = true;
                    results.push((mid, instance, None));
                }
                Err(e) => results.push((mid, instance, Some(e))),
            }
        }
        if removed_any {
            self.after_removal(group_id, now, out);
        }
        Reply::LeaveGroup {
            error: None,
            members: results,
        }
    }

    /// Removes a member (leave or session expiry) and starts the rebalance that follows.
    fn remove_member(&mut self, group_id: &str, member_id: &str, now: i64, out: &mut Output) {
        self.detach_member(group_id, member_id, out);
        self.after_removal(group_id, now, out);
    }

    fn detach_member(&mut self, group_id: &str, member_id: &str, out: &mut Output) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        if let Some(m) = g.members.remove(member_id) {
            if let Some(i) = &m.instance_id {
                if g.static_members.get(i).map(String::as_str) == Some(member_id) {
                    g.static_members.remove(i);
                }
            }
            if let Some(j) = m.awaiting_join {
                out.replies
                    .push((j, join_error(member_id, GroupError::UnknownMemberId)));
            }
            if let Some(s) = m.awaiting_sync {
                out.replies
                    .push((s, sync_error(GroupError::UnknownMemberId)));
            }
        }
    }

    fn after_removal(&mut self, group_id: &str, now: i64, out: &mut Output) {
        let Some(g) = self.groups.get(group_id) else {
            return;
        };
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(group_id, now, out);
                self.try_complete_join(group_id, now, out);
            }
            GroupState::PreparingRebalance => self.try_complete_join(group_id, now, out),
            GroupState::Empty | GroupState::Dead => {}
        }
        // A group left with no members completes at once (and becomes Empty).
        if let Some(g) = self.groups.get(group_id) {
            if g.members.is_empty() && g.state == GroupState::PreparingRebalance {
                self.complete_join(group_id, now, out);
            }
        }
    }

    // ---- offsets ----

    #[allow(clippy::too_many_arguments)]
    fn commit(
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

    fn fetch(&self, group_id: &str, partitions: Option<Vec<(String, i32)>>) -> Reply {
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

    fn offset_delete(
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

    fn expire_offsets(&mut self, group_id: &str, now: i64, out: &mut Output) {
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

    // ---- admin ----

    fn list(&self, states: &[String], types: &[String]) -> Vec<GroupListing> {
        if !types.is_empty() && !types.iter().any(|t| t.eq_ignore_ascii_case("classic")) {
            return Vec::new();
        }
        self.groups
            .values()
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(&g.state.to_string()))
            })
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect()
    }

    fn describe(&self, group_id: &str) -> GroupDescription {
        let Some(g) = self.groups.get(group_id) else {
            return GroupDescription {
                group_id: group_id.to_string(),
                error: None,
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol.clone().unwrap_or_default();
        let mut ms: Vec<&Member> = g.members.values().collect();
        ms.sort_by_key(|m| m.join_seq);
        GroupDescription {
            group_id: g.id.clone(),
            error: None,
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: ms
                .into_iter()
                .map(|m| DescribedMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }

    fn delete_group(&mut self, group_id: &str, out: &mut Output) -> Option<GroupError> {
        if group_id.is_empty() {
            return Some(GroupError::InvalidGroupId);
        }
        let Some(g) = self.groups.get(group_id) else {
            return Some(GroupError::GroupIdNotFound);
        };
        if !g.members.is_empty() || g.state != GroupState::Empty {
            return Some(GroupError::NonEmptyGroup);
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
        None
    }
}

/// Checks that `member_id` belongs to the group and is not a fenced static instance.
fn check_member(g: &Group, member_id: &str, instance_id: Option<&str>) -> Result<(), GroupError> {
    if let Some(i) = instance_id {
        if let Some(current) = g.static_members.get(i) {
            if current != member_id {
                return Err(GroupError::FencedInstanceId);
            }
        }
    }
    if !g.members.contains_key(member_id) {
        return Err(GroupError::UnknownMemberId);
    }
    Ok(())
}

/// The group's metadata record as it stands.
fn group_record(g: &Group) -> GroupRecord {
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
