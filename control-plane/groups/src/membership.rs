//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup: the classic protocol's rebalance rules.

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

    pub(crate) fn member_list(&self, g: &Group) -> Vec<JoinedMember> {
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

    pub(crate) fn update_member(&mut self, group_id: &str, member: Member, now: i64) {
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

    pub(crate) fn prepare_rebalance(&mut self, group_id: &str, now: i64, out: &mut Output) {
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

    pub(crate) fn try_complete_join(&mut self, group_id: &str, now: i64, out: &mut Output) {
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
    pub(crate) fn complete_join(&mut self, group_id: &str, now: i64, out: &mut Output) {
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

    pub(crate) fn heartbeat(
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

    pub(crate) fn leave(
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
    pub(crate) fn remove_member(
        &mut self,
        group_id: &str,
        member_id: &str,
        now: i64,
        out: &mut Output,
    ) {
        self.detach_member(group_id, member_id, out);
        self.after_removal(group_id, now, out);
    }

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
        // A group left with no members completes at once (and becomes Empty).
        if let Some(g) = self.groups.get(group_id) {
            if g.members.is_empty() && g.state == GroupState::PreparingRebalance {
                self.complete_join(group_id, now, out);
            }
        }
    }
}
