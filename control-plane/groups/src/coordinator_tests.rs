//! Unit tests of the coordinator's basic flows (the golden traces are in
//! `tests/golden.rs`).

use bytes::Bytes;

use crate::test_support::*;
use crate::*;

#[test]
fn member_id_required_then_join_sync_stable() {
    let mut c = coordinator(0);
    let out = c.handle(1, join("", None, &["range"], true), 0);
    let r = join_reply(&out, 1);
    assert_eq!(r.error, Some(GroupError::MemberIdRequired));
    let mid = r.member_id;
    let out = c.handle(2, join(&mid, None, &["range"], true), 1);
    let r = join_reply(&out, 2);
    assert_eq!(
        (r.error, r.generation_id, r.leader.as_str()),
        (None, 1, mid.as_str())
    );
    assert_eq!(r.members.len(), 1);
    let out = c.handle(3, sync(&mid, 1, &[(&mid, "a1")]), 2);
    assert_eq!(sync_reply(&out, 3).assignment, Bytes::from("a1"));
    assert!(out
        .records
        .iter()
        .any(|r| matches!(r, GroupRecord::Group { .. })));
    assert_eq!(
        c.handle(4, heartbeat(&mid, 1), 3).replies[0].1,
        Reply::Heartbeat(None)
    );
}

#[test]
fn three_members_then_one_times_out() {
    let mut c = coordinator(0);
    let a = join_reply(&c.handle(1, join("", None, &["range"], false), 0), 1).member_id;
    let _ = c.handle(2, sync(&a, 1, &[(&a, "all")]), 0);
    // b joins: a must rejoin (heartbeat says so), then both get generation 2.
    let out = c.handle(3, join("", None, &["range"], false), 10);
    assert!(out.replies.is_empty(), "b waits for a to rejoin");
    assert_eq!(
        c.handle(4, heartbeat(&a, 1), 11).replies[0].1,
        Reply::Heartbeat(Some(GroupError::RebalanceInProgress))
    );
    let out = c.handle(5, join(&a, None, &["range"], false), 12);
    let ra = join_reply(&out, 5);
    let rb = join_reply(&out, 3);
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    assert_eq!(ra.leader, a);
    assert_eq!(ra.members.len(), 2);
    assert!(rb.members.is_empty(), "only the leader sees the members");
    let b = rb.member_id;
    // b's sync waits for the leader's.
    assert!(c.handle(6, sync(&b, 2, &[]), 13).replies.is_empty());
    let out = c.handle(7, sync(&a, 2, &[(&a, "p0"), (&b, "p1")]), 14);
    assert_eq!(sync_reply(&out, 6).assignment, Bytes::from("p1"));
    assert_eq!(sync_reply(&out, 7).assignment, Bytes::from("p0"));
    // a keeps heartbeating, b goes silent: its session expires and a is asked to rejoin.
    let _ = c.handle(8, heartbeat(&a, 2), 9_000);
    let out = c.tick(10_014);
    assert!(out.replies.is_empty());
    assert_eq!(
        c.handle(9, heartbeat(&a, 2), 10_015).replies[0].1,
        Reply::Heartbeat(Some(GroupError::RebalanceInProgress))
    );
    let out = c.handle(10, join(&a, None, &["range"], false), 10_016);
    assert_eq!(join_reply(&out, 10).generation_id, 3);
}

#[test]
fn stale_generation_and_unknown_member_commits_are_rejected() {
    let mut c = coordinator(0);
    let a = join_reply(&c.handle(1, join("", None, &["range"], false), 0), 1).member_id;
    let _ = c.handle(2, sync(&a, 1, &[(&a, "x")]), 0);
    let out = c.handle(3, commit(&a, 0, 5), 1);
    assert_eq!(
        out.replies[0].1,
        Reply::OffsetCommit(vec![(("t".into(), 0), Some(GroupError::IllegalGeneration))])
    );
    let out = c.handle(4, commit("nobody", 1, 5), 1);
    assert_eq!(
        out.replies[0].1,
        Reply::OffsetCommit(vec![(("t".into(), 0), Some(GroupError::UnknownMemberId))])
    );
    let out = c.handle(5, commit(&a, 1, 5), 1);
    assert_eq!(out.records.len(), 1);
    // A simple (generation -1) commit is refused while the group has members.
    let out = c.handle(6, commit("", -1, 9), 1);
    assert_eq!(
        out.replies[0].1,
        Reply::OffsetCommit(vec![(("t".into(), 0), Some(GroupError::UnknownMemberId))])
    );
}

#[test]
fn static_member_rejoins_without_rebalance() {
    let mut c = coordinator(0);
    let a = join_reply(&c.handle(1, join("", Some("i-a"), &["range"], false), 0), 1).member_id;
    let out = c.handle(2, join("", Some("i-b"), &["range"], false), 0);
    assert!(out.replies.is_empty());
    let out = c.handle(3, join(&a, Some("i-a"), &["range"], false), 1);
    let b = join_reply(&out, 2).member_id;
    let _ = c.handle(4, sync(&b, 2, &[]), 2);
    let _ = c.handle(5, sync(&a, 2, &[(&a, "pa"), (&b, "pb")]), 2);
    // b restarts with the same instance id and no member id: same assignment, same
    // generation, and a is not disturbed.
    let out = c.handle(6, join("", Some("i-b"), &["range"], false), 100);
    let r = join_reply(&out, 6);
    assert_eq!((r.error, r.generation_id), (None, 2));
    let b2 = r.member_id;
    assert_ne!(b2, b);
    assert_eq!(
        sync_reply(&c.handle(7, sync(&b2, 2, &[]), 101), 7).assignment,
        Bytes::from("pb")
    );
    assert_eq!(
        c.handle(8, heartbeat(&a, 2), 102).replies[0].1,
        Reply::Heartbeat(None)
    );
    // The old incarnation is fenced.
    let fenced = c.handle(
        9,
        Request::Heartbeat {
            group_id: "g".into(),
            generation_id: 2,
            member_id: b,
            group_instance_id: Some("i-b".into()),
        },
        103,
    );
    assert_eq!(
        fenced.replies[0].1,
        Reply::Heartbeat(Some(GroupError::FencedInstanceId))
    );
}

#[test]
fn delete_needs_an_empty_group_and_replay_restores_offsets() {
    let mut c = coordinator(0);
    let a = join_reply(&c.handle(1, join("", None, &["range"], false), 0), 1).member_id;
    let mut records = Vec::new();
    records.extend(c.handle(2, sync(&a, 1, &[(&a, "x")]), 0).records);
    records.extend(c.handle(3, commit(&a, 1, 42), 1).records);
    let del = c.handle(
        4,
        Request::DeleteGroups {
            group_ids: vec!["g".into(), "nope".into()],
        },
        2,
    );
    assert_eq!(
        del.replies[0].1,
        Reply::DeleteGroups(vec![
            ("g".into(), Some(GroupError::NonEmptyGroup)),
            ("nope".into(), Some(GroupError::GroupIdNotFound))
        ])
    );
    let mut fresh = coordinator(0);
    for r in records {
        let r = GroupRecord::decode(&r.key(), r.value().as_deref()).unwrap();
        fresh.replay(r, 5);
    }
    assert_eq!(fresh.committed("g"), vec![("t".to_string(), 0, 42)]);
    // The member came back with a fresh session and may keep heartbeating.
    assert_eq!(
        fresh.handle(5, heartbeat(&a, 1), 6).replies[0].1,
        Reply::Heartbeat(None)
    );
    // Leaving empties the group; then it can be deleted.
    let _ = fresh.handle(
        6,
        Request::LeaveGroup {
            group_id: "g".into(),
            members: vec![(a, None, None)],
        },
        7,
    );
    let del = fresh.handle(
        7,
        Request::DeleteGroups {
            group_ids: vec!["g".into()],
        },
        8,
    );
    assert_eq!(
        del.replies[0].1,
        Reply::DeleteGroups(vec![("g".into(), None)])
    );
    assert!(del
        .records
        .iter()
        .any(|r| matches!(r, GroupRecord::GroupTombstone { .. })));
}

#[test]
fn inconsistent_protocols_and_bad_inputs() {
    let mut c = coordinator(0);
    let a = join_reply(&c.handle(1, join("", None, &["range"], false), 0), 1).member_id;
    let _ = c.handle(2, sync(&a, 1, &[]), 0);
    let r = join_reply(&c.handle(3, join("", None, &["roundrobin"], false), 1), 3);
    assert_eq!(r.error, Some(GroupError::InconsistentGroupProtocol));
    let mut bad = join("", None, &["range"], false);
    if let Request::JoinGroup {
        session_timeout_ms, ..
    } = &mut bad
    {
        *session_timeout_ms = 10;
    }
    assert_eq!(
        join_reply(&c.handle(4, bad, 1), 4).error,
        Some(GroupError::InvalidSessionTimeout)
    );
    let r = join_reply(&c.handle(5, join("ghost", None, &["range"], false), 1), 5);
    assert_eq!(r.error, Some(GroupError::UnknownMemberId));
}

#[test]
fn empty_group_offsets_expire() {
    let mut c = GroupCoordinator::new(
        GroupConfig {
            offsets_retention_ms: 1000,
            ..Default::default()
        },
        Box::new(|_: &str| "m".to_string()),
    );
    let _ = c.handle(1, commit("", -1, 7), 0);
    assert_eq!(c.next_deadline(), Some(1000));
    let out = c.tick(1000);
    assert!(out
        .records
        .iter()
        .any(|r| matches!(r, GroupRecord::OffsetTombstone { .. })));
    assert!(c.committed("g").is_empty());
}

#[test]
fn partition_for_matches_java_string_hash_code() {
    // "test".hashCode() == 3556498; "console-consumer-123".hashCode() is negative.
    assert_eq!(partition_for("test", 50), 3556498 % 50);
    let h = "console-consumer-123"
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    assert_eq!(
        partition_for("console-consumer-123", 50),
        (h & 0x7fff_ffff) % 50
    );
}
