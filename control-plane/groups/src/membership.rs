//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup: the classic protocol's rebalance
//! rules, after Apache Kafka's `GroupCoordinator` (the pre-KIP-848 one).
//!
//! A rebalance has two phases. The join phase (`PreparingRebalance`) collects a
//! JoinGroup from every member; it ends when all have rejoined or at the rebalance
//! timeout, dropping those that did not. The sync phase (`CompletingRebalance`) waits
//! for the leader's assignment; members that have not sent SyncGroup by the rebalance
//! timeout are dropped and a new rebalance starts. While a member waits in either
//! phase its session does not expire (the Java client does not heartbeat then); the
//! phase deadlines bound the wait instead.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::coordinator::{
    check_member, group_record, join_error, sync_error, GroupCoordinator, Output, RequestId,
};
use crate::error::GroupError;
use crate::group::{Group, GroupState, Member};
use crate::request::*;

impl GroupCoordinator {
    // ---- JoinGroup ----

    pub(crate) fn join(
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
        if !valid_group_id(group_id) {
            return reply_err(out, &member.member_id, GroupError::InvalidGroupId);
        }
        if member.session_timeout_ms < self.config.min_session_timeout_ms
            || member.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return reply_err(out, &member.member_id, GroupError::InvalidSessionTimeout);
        }
        if member.protocols.is_empty() || member.protocol_type.is_empty() {
            return reply_err(
                out,
                &member.member_id,
                GroupError::InconsistentGroupProtocol,
            );
        }
        if !member.member_id.is_empty() && !self.groups.contains_key(group_id) {
            return reply_err(out, &member.member_id, GroupError::UnknownMemberId);
        }
        let g = self
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, now));
        if !g.members.is_empty()
            && (g.protocol_type.as_deref() != Some(member.protocol_type.as_str())
                || !g.supports(&member.protocols))
        {
            return reply_err(
                out,
                &member.member_id,
                GroupError::InconsistentGroupProtocol,
            );
        }
        if member.member_id.is_empty() {
            // A known static member restarting: the new member id replaces (fences) the
            // old one (KIP-345).
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
                // KIP-394: the id is remembered until the member rejoins with it or its
                // session timeout passes; meanwhile it counts as not yet joined.
                g.pending
                    .insert(new_id.clone(), now + member.session_timeout_ms as i64);
                return reply_err(out, &new_id, GroupError::MemberIdRequired);
            }
            member.member_id = new_id;
            return self.add_member_and_rebalance(group_id, member, now, out);
        }
        let mid = member.member_id.clone();
        if member.instance_id.is_none() && g.pending.remove(&mid).is_some() {
            if g.members.len() as i64 >= self.config.max_size as i64 {
                return reply_err(out, &mid, GroupError::GroupMaxSizeReached);
            }
            return self.add_member_and_rebalance(group_id, member, now, out);
        }
        if let Err(e) = check_member(g, &mid, member.instance_id.as_deref()) {
            return reply_err(out, &mid, e);
        }
        let Some(existing) = g.members.get(&mid) else {
            return reply_err(out, &mid, GroupError::UnknownMemberId);
        };
        let same = existing.same_protocols(&member.protocols);
        let is_leader = g.leader.as_deref() == Some(mid.as_str());
        match g.state {
            GroupState::PreparingRebalance => {
                self.update_member(group_id, member, now, out);
                self.try_complete_join(group_id, now, out);
            }
            // Same metadata: the member probably missed its JoinGroup response; it gets
            // the current generation again.
            GroupState::CompletingRebalance if same => {
                self.refresh_session(group_id, &mid, now);
                let reply = self.current_generation_reply(group_id, &mid, false);
                out.replies.push((id, reply));
            }
            GroupState::Stable if same && !is_leader => {
                self.refresh_session(group_id, &mid, now);
                let reply = self.current_generation_reply(group_id, &mid, false);
                out.replies.push((id, reply));
            }
            GroupState::Empty | GroupState::Dead => {
                reply_err(out, &mid, GroupError::UnknownMemberId);
            }
            // The leader rejoining, or anyone with new metadata: a new rebalance.
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member(group_id, member, now, out);
                self.prepare_rebalance(group_id, now, out);
                self.try_complete_join(group_id, now, out);
            }
        }
    }

    fn refresh_session(&mut self, group_id: &str, member_id: &str, now: i64) {
        if let Some(m) = self
            .groups
            .get_mut(group_id)
            .and_then(|g| g.members.get_mut(member_id))
        {
            m.session_deadline = now + m.session_timeout_ms as i64;
        }
    }

    /// A JoinGroup answer for the group's current generation; the leader gets the
    /// member list (and `skip_assignment` when `skip`, KIP-814).
    pub(crate) fn current_generation_reply(
        &self,
        group_id: &str,
        member_id: &str,
        skip: bool,
    ) -> Reply {
        let Some(g) = self.groups.get(group_id) else {
            return join_error(member_id, GroupError::UnknownMemberId);
        };
        let is_leader = g.leader.as_deref() == Some(member_id);
        let members = if is_leader {
            member_list(g)
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

    /// A known static member joined with a new member id: it takes over the old
    /// member's place. In a Stable group with unchanged protocols it gets the current
    /// generation back without a rebalance; otherwise a rebalance runs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn replace_static_member(
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
        old.client_id = member.client_id;
        old.client_host = member.client_host;
        old.session_timeout_ms = member.session_timeout_ms;
        old.rebalance_timeout_ms = member.rebalance_timeout_ms;
        old.session_deadline = now + member.session_timeout_ms as i64;
        old.protocols = member.protocols;
        old.protocol_type = member.protocol_type;
        if g.leader.as_deref() == Some(old_id) {
            g.leader = Some(new_id.clone());
        }
        if let Some(instance) = &old.instance_id {
            g.static_members.insert(instance.clone(), new_id.clone());
        }
        let state = g.state;
        if state == GroupState::Stable && same {
            g.members.insert(new_id.clone(), old);
            out.records.push(group_record(g));
            let reply = self.current_generation_reply(group_id, &new_id, true);
            out.replies.push((id, reply));
            return;
        }
        old.awaiting_join = Some(id);
        g.members.insert(new_id, old);
        if state != GroupState::PreparingRebalance {
            // In CompletingRebalance the leader may already assign to the old id, so
            // Kafka rebalances here too.
            self.prepare_rebalance(group_id, now, out);
        }
        self.try_complete_join(group_id, now, out);
    }

    /// Takes a known member's new JoinGroup: metadata, timeouts and the waiting request.
    fn update_member(&mut self, group_id: &str, member: Member, now: i64, out: &mut Output) {
        let Some(m) = self
            .groups
            .get_mut(group_id)
            .and_then(|g| g.members.get_mut(&member.member_id))
        else {
            return;
        };
        if let (Some(old), Some(new)) = (m.awaiting_join, member.awaiting_join) {
            if old != new {
                // A duplicate JoinGroup supersedes the first; answer it so its connection
                // is not left waiting.
                out.replies.push((
                    old,
                    join_error(&member.member_id, GroupError::RebalanceInProgress),
                ));
            }
        }
        m.protocols = member.protocols;
        m.protocol_type = member.protocol_type;
        m.session_timeout_ms = member.session_timeout_ms;
        m.rebalance_timeout_ms = member.rebalance_timeout_ms;
        m.client_id = member.client_id;
        m.client_host = member.client_host;
        m.awaiting_join = member.awaiting_join;
        m.session_deadline = now + m.session_timeout_ms as i64;
    }

    pub(crate) fn add_member_and_rebalance(
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
        if g.members.is_empty() {
            g.protocol_type = Some(member.protocol_type.clone());
        }
        if let Some(instance) = &member.instance_id {
            g.static_members
                .insert(instance.clone(), member.member_id.clone());
        }
        g.members.insert(member.member_id.clone(), member);
        match g.state {
            GroupState::PreparingRebalance => {
                if let (Some(since), Some(d)) = (g.initial_delay_since, g.rebalance_deadline) {
                    // Each join during the initial delay extends it, never past the
                    // rebalance timeout counted from the start of the delay.
                    let cap = since + g.rebalance_timeout();
                    g.rebalance_deadline = Some(d.max(now + delay).min(cap).max(d));
                }
            }
            _ => self.prepare_rebalance(group_id, now, out),
        }
        self.try_complete_join(group_id, now, out);
    }

    /// Starts the join phase. From Empty it begins with the initial delay; from
    /// CompletingRebalance the waiting SyncGroups are told to rejoin.
    pub(crate) fn prepare_rebalance(&mut self, group_id: &str, now: i64, out: &mut Output) {
        let delay = self.config.initial_rebalance_delay_ms.max(0) as i64;
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        if g.state == GroupState::CompletingRebalance {
            for m in g.members.values_mut() {
                if let Some(s) = m.awaiting_sync.take() {
                    out.replies
                        .push((s, sync_error(GroupError::RebalanceInProgress)));
                    // Answered, the member's session runs again from now (Kafka's
                    // completeAndScheduleNextHeartbeatExpiration), not from its SyncGroup.
                    m.session_deadline = now + m.session_timeout_ms as i64;
                }
            }
        }
        g.sync_deadline = None;
        let timeout = g.rebalance_timeout();
        if g.state == GroupState::Empty {
            g.initial_delay_since = Some(now);
            g.rebalance_deadline = Some(now + delay.min(timeout));
        } else {
            g.initial_delay_since = None;
            g.rebalance_deadline = Some(now + timeout);
        }
        g.transition(GroupState::PreparingRebalance, now);
    }

    /// Ends the join phase if every member has rejoined (never during the initial
    /// delay, which only its timer ends).
    pub(crate) fn try_complete_join(&mut self, group_id: &str, now: i64, out: &mut Output) {
        let Some(g) = self.groups.get(group_id) else {
            return;
        };
        if g.state != GroupState::PreparingRebalance {
            return;
        }
        let in_initial_delay =
            g.initial_delay_since.is_some() && g.rebalance_deadline.is_some_and(|d| d > now);
        if g.all_rejoined() && !in_initial_delay {
            self.complete_join(group_id, now, out);
        }
    }

    /// Ends the join phase: members that did not rejoin are dropped, the generation
    /// advances, the protocol and leader are chosen and every waiting join is answered.
    /// With no member left the group becomes Empty (and its metadata is written).
    pub(crate) fn complete_join(&mut self, group_id: &str, now: i64, out: &mut Output) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        g.rebalance_deadline = None;
        g.initial_delay_since = None;
        if g.state != GroupState::PreparingRebalance {
            return;
        }
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
        g.sync_deadline = Some(now + g.rebalance_timeout());
        for m in g.members.values_mut() {
            m.assignment = Bytes::new();
            m.session_deadline = now + m.session_timeout_ms as i64;
        }
        let mut waiting: Vec<(u64, String, RequestId)> = g
            .members
            .values_mut()
            .filter_map(|m| {
                m.awaiting_join
                    .take()
                    .map(|r| (m.join_seq, m.member_id.clone(), r))
            })
            .collect();
        waiting.sort();
        for (_, mid, req) in waiting {
            let reply = self.current_generation_reply(group_id, &mid, false);
            out.replies.push((req, reply));
        }
    }

    // ---- SyncGroup ----

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sync(
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
        if !valid_group_id(group_id) {
            return out
                .replies
                .push((id, sync_error(GroupError::InvalidGroupId)));
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
                let assignment = match g.members.get_mut(member_id) {
                    Some(m) => {
                        m.session_deadline = now + m.session_timeout_ms as i64;
                        m.assignment.clone()
                    }
                    None => Bytes::new(),
                };
                out.replies.push((
                    id,
                    Reply::SyncGroup(SyncGroupReply {
                        error: None,
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol.clone(),
                        assignment,
                    }),
                ));
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = g.members.get_mut(member_id) {
                    if let Some(old) = m.awaiting_sync.replace(id) {
                        // A duplicate SyncGroup supersedes the first.
                        out.replies
                            .push((old, sync_error(GroupError::RebalanceInProgress)));
                    }
                    m.session_deadline = now + m.session_timeout_ms as i64;
                }
                if g.leader.as_deref() != Some(member_id) {
                    return;
                }
                // The leader's assignment completes the rebalance; members it does not
                // mention get an empty assignment.
                let mut given: BTreeMap<String, Bytes> = assignments.into_iter().collect();
                for m in g.members.values_mut() {
                    m.assignment = given.remove(&m.member_id).unwrap_or_default();
                }
                g.sync_deadline = None;
                g.transition(GroupState::Stable, now);
                out.records.push(group_record(g));
                let (pt, pn) = (g.protocol_type.clone(), g.protocol.clone());
                let mut waiting: Vec<&mut Member> = g
                    .members
                    .values_mut()
                    .filter(|m| m.awaiting_sync.is_some())
                    .collect();
                waiting.sort_by_key(|m| m.join_seq);
                for m in waiting {
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

    pub(crate) fn heartbeat(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now: i64,
    ) -> Option<GroupError> {
        if !valid_group_id(group_id) {
            return Some(GroupError::InvalidGroupId);
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            return Some(GroupError::UnknownMemberId);
        };
        if let Err(e) = check_member(g, member_id, instance_id) {
            return Some(e);
        }
        if generation != g.generation {
            return Some(GroupError::IllegalGeneration);
        }
        if let Some(m) = g.members.get_mut(member_id) {
            m.session_deadline = now + m.session_timeout_ms as i64;
        }
        match g.state {
            GroupState::PreparingRebalance => Some(GroupError::RebalanceInProgress),
            GroupState::Empty | GroupState::Dead => Some(GroupError::UnknownMemberId),
            GroupState::CompletingRebalance | GroupState::Stable => None,
        }
    }

    pub(crate) fn leave(
        &mut self,
        group_id: &str,
        members: Vec<(String, Option<String>, Option<String>)>,
        now: i64,
        out: &mut Output,
    ) -> Reply {
        if !valid_group_id(group_id) {
            return Reply::LeaveGroup {
                error: Some(GroupError::InvalidGroupId),
                members: Vec::new(),
            };
        }
        let mut results = Vec::with_capacity(members.len());
        let mut removed_any = false;
        for (mid, instance, _reason) in members {
            let Some(g) = self.groups.get_mut(group_id) else {
                results.push((mid, instance, Some(GroupError::UnknownMemberId)));
                continue;
            };
            let target = match &instance {
                // Static leave: the member id may be empty ("whoever holds the
                // instance"), otherwise it must be the current holder.
                Some(i) => match g.static_members.get(i) {
                    Some(current) if mid.is_empty() || *current == mid => Ok(current.clone()),
                    Some(_) => Err(GroupError::FencedInstanceId),
                    None => Err(GroupError::UnknownMemberId),
                },
                None if g.pending.remove(&mid).is_some() => {
                    results.push((mid, instance, None));
                    removed_any = true;
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

    /// Takes a member out of the group, answering its waiting requests with
    /// UNKNOWN_MEMBER_ID. The caller runs [`Self::after_removal`].
    pub(crate) fn detach_member(&mut self, group_id: &str, member_id: &str, out: &mut Output) {
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

    /// After members left or expired: a settled group rebalances; a join phase may now
    /// be complete; a group left with no member becomes Empty at once.
    pub(crate) fn after_removal(&mut self, group_id: &str, now: i64, out: &mut Output) {
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
        if let Some(g) = self.groups.get(group_id) {
            if g.members.is_empty() && g.state == GroupState::PreparingRebalance {
                self.complete_join(group_id, now, out);
            }
        }
    }

    /// Fires the membership timers of one group due at `now`: expired pending member
    /// ids and sessions, the end of the join phase, the sync-phase timeout.
    pub(crate) fn tick_membership(&mut self, group_id: &str, now: i64, out: &mut Output) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        let pending_before = g.pending.len();
        g.pending.retain(|_, deadline| *deadline > now);
        let pending_expired = g.pending.len() != pending_before;
        let expired: Vec<String> = g
            .members
            .values()
            .filter(|m| session_expires(m) && m.session_deadline <= now)
            .map(|m| m.member_id.clone())
            .collect();
        for m in &expired {
            self.detach_member(group_id, m, out);
        }
        if !expired.is_empty() {
            self.after_removal(group_id, now, out);
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        if g.state == GroupState::PreparingRebalance
            && g.rebalance_deadline.is_some_and(|d| d <= now)
        {
            self.complete_join(group_id, now, out);
        } else if pending_expired {
            self.try_complete_join(group_id, now, out);
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        if g.state == GroupState::CompletingRebalance && g.sync_deadline.is_some_and(|d| d <= now) {
            // Members (the leader among them, if it is late) that never sent SyncGroup
            // are dropped, and the rest rebalance without them.
            g.sync_deadline = None;
            let late: Vec<String> = g
                .members
                .values()
                .filter(|m| m.awaiting_sync.is_none())
                .map(|m| m.member_id.clone())
                .collect();
            for m in &late {
                self.detach_member(group_id, m, out);
            }
            if !late.is_empty() {
                self.after_removal(group_id, now, out);
            }
        }
    }

    /// The earliest membership timer of a group, mirroring [`Self::tick_membership`].
    pub(crate) fn membership_deadline(g: &Group) -> Option<i64> {
        let sessions = g
            .members
            .values()
            .filter(|m| session_expires(m))
            .map(|m| m.session_deadline);
        let pending = g.pending.values().copied();
        let phase = match g.state {
            GroupState::PreparingRebalance => g.rebalance_deadline,
            GroupState::CompletingRebalance => g.sync_deadline,
            _ => None,
        };
        sessions.chain(pending).chain(phase).min()
    }
}

/// A member waiting for a JoinGroup or SyncGroup answer does not heartbeat; the phase
/// deadline bounds its wait instead of its session (Kafka's `hasSatisfiedHeartbeat`).
fn session_expires(m: &Member) -> bool {
    m.awaiting_join.is_none() && m.awaiting_sync.is_none()
}

/// Group ids are non-empty and fit a Kafka string (they are part of record keys).
pub(crate) fn valid_group_id(group_id: &str) -> bool {
    !group_id.is_empty() && group_id.len() <= i16::MAX as usize
}

/// Every member with its metadata for the chosen protocol, in join order.
fn member_list(g: &Group) -> Vec<JoinedMember> {
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
