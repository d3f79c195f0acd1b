//! Request builders and reply extractors shared by the unit tests. Every request goes
//! to group "g" unless it says otherwise; member ids come out as `<client>-m<n>`.

use bytes::Bytes;

use crate::*;

pub(crate) fn coordinator(delay: i32) -> GroupCoordinator {
    coordinator_with(GroupConfig {
        initial_rebalance_delay_ms: delay,
        ..Default::default()
    })
}

pub(crate) fn coordinator_with(config: GroupConfig) -> GroupCoordinator {
    let mut n = 0;
    GroupCoordinator::new(
        config,
        Box::new(move |client: &str| {
            n += 1;
            format!("{client}-m{n}")
        }),
    )
}

/// A JoinGroup to "g" whose protocols carry `meta-<name>` as metadata.
pub(crate) fn join(member: &str, instance: Option<&str>, protocols: &[&str], v4: bool) -> Request {
    let protocols: Vec<(&str, String)> = protocols
        .iter()
        .map(|p| (*p, format!("meta-{p}")))
        .collect();
    join_to("g", member, instance, &protocols, v4)
}

/// A JoinGroup with explicit protocol metadata.
pub(crate) fn join_to(
    group: &str,
    member: &str,
    instance: Option<&str>,
    protocols: &[(&str, String)],
    v4: bool,
) -> Request {
    Request::JoinGroup {
        group_id: group.into(),
        member_id: member.into(),
        group_instance_id: instance.map(String::from),
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|(p, m)| (p.to_string(), Bytes::from(m.clone())))
            .collect(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        require_known_member_id: v4,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        reason: None,
    }
}

pub(crate) fn sync(member: &str, generation: i32, assignments: &[(&str, &str)]) -> Request {
    sync_to("g", member, generation, assignments)
}

pub(crate) fn sync_to(
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &str)],
) -> Request {
    Request::SyncGroup {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: None,
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
            .collect(),
    }
}

pub(crate) fn heartbeat(member: &str, generation: i32) -> Request {
    Request::Heartbeat {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
    }
}

pub(crate) fn commit(member: &str, generation: i32, offset: i64) -> Request {
    commit_to("g", member, generation, "t", 0, offset)
}

pub(crate) fn commit_to(
    group: &str,
    member: &str,
    generation: i32,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Request {
    Request::OffsetCommit {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        offsets: vec![OffsetCommitEntry {
            topic: topic.into(),
            partition,
            offset,
            leader_epoch: 0,
            metadata: None,
        }],
    }
}

pub(crate) fn leave(members: &[(&str, Option<&str>)]) -> Request {
    Request::LeaveGroup {
        group_id: "g".into(),
        members: members
            .iter()
            .map(|(m, i)| (m.to_string(), i.map(String::from), None))
            .collect(),
    }
}

pub(crate) fn join_reply(out: &Output, id: RequestId) -> JoinGroupReply {
    out.replies
        .iter()
        .find_map(|(i, r)| match r {
            Reply::JoinGroup(j) if *i == id => Some(j.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no join reply for {id} in {out:?}"))
}

pub(crate) fn sync_reply(out: &Output, id: RequestId) -> SyncGroupReply {
    out.replies
        .iter()
        .find_map(|(i, r)| match r {
            Reply::SyncGroup(s) if *i == id => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no sync reply for {id} in {out:?}"))
}

/// The only reply of an output (requests answered at once).
pub(crate) fn only_reply(out: &Output) -> Reply {
    assert_eq!(out.replies.len(), 1, "{out:?}");
    out.replies[0].1.clone()
}

pub(crate) fn has_reply(out: &Output, id: RequestId) -> bool {
    out.replies.iter().any(|(i, _)| *i == id)
}

pub(crate) fn state(c: &mut GroupCoordinator, group: &str) -> GroupState {
    match only_reply(&c.handle(
        u64::MAX,
        Request::DescribeGroups {
            group_ids: vec![group.into()],
        },
        0,
    )) {
        Reply::DescribeGroups(d) => d[0].state,
        other => panic!("{other:?}"),
    }
}
