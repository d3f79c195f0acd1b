//! The classic protocol's rebalance rules, one test per rule.

use bytes::Bytes;

use crate::test_support::*;
use crate::*;

/// a, b and c form generation 1 (initial delay), sync, consume; c is killed and its
/// session expires; a and b rebalance into generation 2 without it.
#[test]
fn three_member_eager_rebalance_and_a_killed_member() {
    let mut c = coordinator(3000);
    assert!(c
        .handle(1, join("", None, &["range"], false), 0)
        .replies
        .is_empty());
    assert_eq!(state(&mut c, "g"), GroupState::PreparingRebalance);
    assert_eq!(c.next_deadline(), Some(3000));
    assert!(c
        .handle(2, join("", None, &["range"], false), 1000)
        .replies
        .is_empty());
    // b extended the delay to 4000; c extends it to 6000.
    assert!(c
        .handle(3, join("", None, &["range"], false), 3000)
        .replies
        .is_empty());
    assert_eq!(c.next_deadline(), Some(6000));
    assert!(c.tick(5999).replies.is_empty());
    let out = c.tick(6000);
    let (ra, rb, rc) = (
        join_reply(&out, 1),
        join_reply(&out, 2),
        join_reply(&out, 3),
    );
    for r in [&ra, &rb, &rc] {
        assert_eq!(r.error, None);
        assert_eq!(r.generation_id, 1);
        assert_eq!(r.leader, "c-m1");
        assert_eq!(r.protocol_name.as_deref(), Some("range"));
    }
    assert_eq!(
        ra.members
            .iter()
            .map(|m| m.member_id.as_str())
            .collect::<Vec<_>>(),
        ["c-m1", "c-m2", "c-m3"]
    );
    assert_eq!(ra.members[1].metadata, Bytes::from("meta-range"));
    assert!(rb.members.is_empty() && rc.members.is_empty());
    assert_eq!(state(&mut c, "g"), GroupState::CompletingRebalance);

    // Followers' syncs wait for the leader's.
    assert!(c.handle(4, sync("c-m2", 1, &[]), 6001).replies.is_empty());
    assert!(c.handle(5, sync("c-m3", 1, &[]), 6001).replies.is_empty());
    let out = c.handle(
        6,
        sync("c-m1", 1, &[("c-m1", "p0"), ("c-m2", "p1"), ("c-m3", "p2")]),
        6002,
    );
    assert_eq!(sync_reply(&out, 4).assignment, Bytes::from("p1"));
    assert_eq!(sync_reply(&out, 5).assignment, Bytes::from("p2"));
    assert_eq!(sync_reply(&out, 6).assignment, Bytes::from("p0"));
    assert!(matches!(
        out.records.as_slice(),
        [GroupRecord::Group { generation: 1, members, .. }] if members.len() == 3
    ));
    assert_eq!(state(&mut c, "g"), GroupState::Stable);

    // a and b heartbeat; c is killed.
    for t in [9000, 12000, 15000] {
        assert_eq!(
            only_reply(&c.handle(7, heartbeat("c-m1", 1), t)),
            Reply::Heartbeat(None)
        );
        assert_eq!(
            only_reply(&c.handle(8, heartbeat("c-m2", 1), t)),
            Reply::Heartbeat(None)
        );
    }
    assert_eq!(
        c.next_deadline(),
        Some(16001),
        "c's session: last sync + 10 s"
    );
    assert!(c.tick(16001).replies.is_empty());
    assert_eq!(state(&mut c, "g"), GroupState::PreparingRebalance);
    assert_eq!(
        only_reply(&c.handle(9, heartbeat("c-m3", 1), 16003)),
        Reply::Heartbeat(Some(GroupError::UnknownMemberId))
    );
    assert_eq!(
        only_reply(&c.handle(10, heartbeat("c-m2", 1), 16003)),
        Reply::Heartbeat(Some(GroupError::RebalanceInProgress))
    );
    assert!(c
        .handle(11, join("c-m2", None, &["range"], false), 16004)
        .replies
        .is_empty());
    let out = c.handle(12, join("c-m1", None, &["range"], false), 16005);
    let (ra, rb) = (join_reply(&out, 12), join_reply(&out, 11));
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    assert_eq!(ra.members.len(), 2);
    // A stale-generation sync is refused; the current one works.
    assert_eq!(
        sync_reply(&c.handle(13, sync("c-m2", 1, &[]), 16006), 13).error,
        Some(GroupError::IllegalGeneration)
    );
    let out = c.handle(
        14,
        sync("c-m1", 2, &[("c-m1", "p0,p2"), ("c-m2", "p1")]),
        16007,
    );
    assert_eq!(sync_reply(&out, 14).assignment, Bytes::from("p0,p2"));
    assert_eq!(
        sync_reply(&c.handle(15, sync("c-m2", 2, &[]), 16008), 15).assignment,
        Bytes::from("p1"),
        "in Stable a sync is answered at once"
    );
}

#[test]
fn rebalance_timeout_drops_members_that_do_not_rejoin() {
    let mut c = coordinator(0);
    let a = join_reply(&c.handle(1, join("", None, &["range"], false), 0), 1).member_id;
    let _ = c.handle(2, sync(&a, 1, &[]), 0);
    // b joins; a never rejoins (but keeps heartbeating, so its session stays alive).
    assert!(c
        .handle(3, join("", None, &["range"], false), 100)
        .replies
        .is_empty());
    for t in (5_000..30_000).step_by(5_000) {
        let _ = c.handle(4, heartbeat(&a, 1), t);
    }
    assert_eq!(
        c.next_deadline(),
        Some(100 + 30_000),
        "a's rebalance timeout"
    );
    let out = c.tick(30_100);
    let rb = join_reply(&out, 3);
    assert_eq!(
        (rb.generation_id, rb.leader.as_str()),
        (2, rb.member_id.as_str())
    );
    assert_eq!(rb.members.len(), 1);
    assert_eq!(
        only_reply(&c.handle(5, heartbeat(&a, 1), 30_101)),
        Reply::Heartbeat(Some(GroupError::UnknownMemberId))
    );
}

#[test]
fn initial_delay_is_capped_by_the_rebalance_timeout() {
    let mut c = coordinator(3000);
    let _ = c.handle(1, join("", None, &["range"], false), 0);
    // A join every 2 s would extend the delay forever; the cap is 0 + 30 s.
    for (id, t) in (2..).zip((2000..30_000).step_by(2000)) {
        let _ = c.handle(id, join("", None, &["range"], false), t);
        assert!(c.next_deadline().unwrap() <= 30_000);
    }
    let out = c.tick(30_000);
    assert_eq!(out.replies.len(), 15);
    assert!(out
        .replies
        .iter()
        .all(|(_, r)| matches!(r, Reply::JoinGroup(j) if j.generation_id == 1)));
}

#[test]
fn a_group_that_became_empty_waits_the_initial_delay_again() {
    let mut c = coordinator(3000);
    let _ = c.handle(1, join("", None, &["range"], false), 0);
    let _ = c.tick(3000);
    let _ = c.handle(2, leave(&[("c-m1", None)]), 3001);
    assert_eq!(state(&mut c, "g"), GroupState::Empty);
    assert!(c
        .handle(3, join("", None, &["range"], false), 4000)
        .replies
        .is_empty());
    assert_eq!(c.next_deadline(), Some(7000));
    assert_eq!(join_reply(&c.tick(7000), 3).generation_id, 3);
}

#[test]
fn protocol_is_chosen_by_votes_among_common_protocols() {
    let mut c = coordinator(0);
    let _ = c.handle(
        1,
        join("", None, &["range", "roundrobin", "sticky"], false),
        0,
    );
    let _ = c.handle(2, sync("c-m1", 1, &[]), 0);
    let _ = c.handle(3, join("", None, &["roundrobin", "range"], false), 1);
    let _ = c.handle(4, join("", None, &["roundrobin", "range"], false), 1);
    let out = c.handle(
        5,
        join("c-m1", None, &["range", "roundrobin", "sticky"], false),
        2,
    );
    let r = join_reply(&out, 5);
    assert_eq!(r.protocol_name.as_deref(), Some("roundrobin"));
    assert!(r.members.iter().all(|m| m.metadata == "meta-roundrobin"));
    // "sticky" is not supported by everyone; a member with only it is refused.
    let r = join_reply(&c.handle(6, join("", None, &["sticky"], false), 3), 6);
    assert_eq!(r.error, Some(GroupError::InconsistentGroupProtocol));
}

#[test]
fn pending_member_id_blocks_completion_until_it_joins_or_expires() {
    let mut c = coordinator(0);
    let a = join_reply(&c.handle(1, join("", None, &["range"], true), 0), 1).member_id;
    assert!(has_reply(
        &c.handle(2, join(&a, None, &["range"], true), 0),
        2
    ));
    let _ = c.handle(3, sync(&a, 1, &[]), 0);
    // b gets an id but never comes back.
    let b = join_reply(&c.handle(4, join("", None, &["range"], true), 10), 4);
    assert_eq!(b.error, Some(GroupError::MemberIdRequired));
    assert_eq!(b.member_id, "c-m2");
    assert_eq!(
        state(&mut c, "g"),
        GroupState::Stable,
        "no rebalance for a pending id"
    );
    // d joins with an id, a rejoins: the join phase still waits for b's pending id.
    let d = join_reply(&c.handle(5, join("", None, &["range"], true), 20), 5).member_id;
    assert!(c
        .handle(6, join(&d, None, &["range"], true), 21)
        .replies
        .is_empty());
    assert!(c
        .handle(7, join(&a, None, &["range"], true), 22)
        .replies
        .is_empty());
    // b's pending id expires with its session timeout (10 s after it was handed out).
    let out = c.tick(10_010);
    assert_eq!(join_reply(&out, 6).generation_id, 2);
    assert_eq!(join_reply(&out, 7).members.len(), 2);
    // b's id is no longer known.
    let r = join_reply(
        &c.handle(8, join(&b.member_id, None, &["range"], true), 10_011),
        8,
    );
    assert_eq!(r.error, Some(GroupError::UnknownMemberId));
}

#[test]
fn static_member_with_a_known_instance_but_another_member_id_is_fenced() {
    let mut c = coordinator(0);
    let a = join_reply(&c.handle(1, join("", Some("i-a"), &["range"], false), 0), 1).member_id;
    let r = join_reply(
        &c.handle(2, join("bogus", Some("i-a"), &["range"], false), 1),
        2,
    );
    assert_eq!(r.error, Some(GroupError::FencedInstanceId));
    let out = c.handle(
        3,
        Request::SyncGroup {
            group_id: "g".into(),
            generation_id: 1,
            member_id: "bogus".into(),
            group_instance_id: Some("i-a".into()),
            protocol_type: None,
            protocol_name: None,
            assignments: vec![],
        },
        1,
    );
    assert_eq!(
        sync_reply(&out, 3).error,
        Some(GroupError::FencedInstanceId)
    );
    // The real one is unaffected.
    assert_eq!(
        sync_reply(&c.handle(4, sync(&a, 1, &[(&a, "x")]), 2), 4).assignment,
        Bytes::from("x")
    );
}

#[test]
fn static_member_restart_with_new_protocols_rebalances() {
    let mut c = coordinator(0);
    let a = join_reply(&c.handle(1, join("", Some("i-a"), &["range"], false), 0), 1).member_id;
    let _ = c.handle(2, sync(&a, 1, &[(&a, "x")]), 0);
    let meta = [("range", "new-subscription".to_string())];
    let out = c.handle(3, join_to("g", "", Some("i-a"), &meta, false), 5);
    let r = join_reply(&out, 3);
    assert_eq!((r.generation_id, r.member_id.as_str()), (2, "c-m2"));
    assert_eq!(r.members[0].metadata, Bytes::from("new-subscription"));
    assert!(!r.skip_assignment);
}

#[test]
fn static_leader_restart_gets_members_and_skip_assignment() {
    let mut c = coordinator(0);
    let a = join_reply(&c.handle(1, join("", Some("i-a"), &["range"], false), 0), 1).member_id;
    let _ = c.handle(2, sync(&a, 1, &[(&a, "x")]), 0);
    let out = c.handle(3, join("", Some("i-a"), &["range"], false), 5);
    let r = join_reply(&out, 3);
    assert_eq!((r.generation_id, r.leader.as_str()), (1, "c-m2"));
    assert!(
        r.skip_assignment,
        "KIP-814: the leader need not assign again"
    );
    assert_eq!(r.members.len(), 1);
    assert!(matches!(
        out.records.as_slice(),
        [GroupRecord::Group { leader: Some(l), .. }] if l == "c-m2"
    ));
}

/// Cooperative rebalancing (KIP-429) needs nothing special from the coordinator:
/// members rejoin with new metadata (owned partitions) after revoking, which is simply
/// another rebalance with the next generation.
#[test]
fn cooperative_flow_is_two_rebalances() {
    let mut c = coordinator(0);
    let coop = |owned: &str| [("cooperative-sticky", format!("owned={owned}"))];
    let a = join_reply(&c.handle(1, join_to("g", "", None, &coop(""), false), 0), 1).member_id;
    let _ = c.handle(2, sync(&a, 1, &[(&a, "p0,p1")]), 0);
    // b joins; a rejoins still owning both partitions.
    assert!(c
        .handle(3, join_to("g", "", None, &coop(""), false), 10)
        .replies
        .is_empty());
    let out = c.handle(4, join_to("g", &a, None, &coop("p0,p1"), false), 11);
    let (ra, rb) = (join_reply(&out, 4), join_reply(&out, 3));
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    assert_eq!(ra.members[0].metadata, Bytes::from("owned=p0,p1"));
    let b = rb.member_id;
    // First rebalance: the leader only revokes p1 from a (b gets nothing yet).
    let _ = c.handle(5, sync(&b, 2, &[]), 12);
    let out = c.handle(6, sync(&a, 2, &[(&a, "p0"), (&b, "")]), 13);
    assert_eq!(sync_reply(&out, 5).assignment, Bytes::new());
    // a revoked p1 and rejoins with new metadata: a second rebalance, generation 3.
    assert!(c
        .handle(7, join_to("g", &a, None, &coop("p0"), false), 20)
        .replies
        .is_empty());
    assert_eq!(
        only_reply(&c.handle(8, heartbeat(&b, 2), 21)),
        Reply::Heartbeat(Some(GroupError::RebalanceInProgress))
    );
    let out = c.handle(9, join_to("g", &b, None, &coop(""), false), 22);
    assert_eq!(join_reply(&out, 7).generation_id, 3);
    assert_eq!(join_reply(&out, 9).generation_id, 3);
    let _ = c.handle(10, sync(&b, 3, &[]), 23);
    let out = c.handle(11, sync(&a, 3, &[(&a, "p0"), (&b, "p1")]), 24);
    assert_eq!(sync_reply(&out, 10).assignment, Bytes::from("p1"));
    // A commit from generation 2 is now stale.
    assert_eq!(
        only_reply(&c.handle(12, commit(&b, 2, 1), 25)),
        Reply::OffsetCommit(vec![(("t".into(), 0), Some(GroupError::IllegalGeneration))])
    );
}

#[test]
fn follower_rejoining_a_stable_group_with_same_metadata_gets_the_current_generation() {
    let mut c = coordinator(0);
    let _ = c.handle(1, join("", None, &["range"], false), 0);
    let _ = c.handle(2, sync("c-m1", 1, &[]), 0);
    let _ = c.handle(3, join("", None, &["range"], false), 1);
    let _ = c.handle(4, join("c-m1", None, &["range"], false), 1);
    let _ = c.handle(5, sync("c-m1", 2, &[("c-m2", "b")]), 1);
    let r = join_reply(&c.handle(6, join("c-m2", None, &["range"], false), 2), 6);
    assert_eq!((r.generation_id, r.members.len()), (2, 0));
    assert_eq!(state(&mut c, "g"), GroupState::Stable);
    // The leader rejoining always rebalances (it may want to reassign).
    assert!(c
        .handle(7, join("c-m1", None, &["range"], false), 3)
        .replies
        .is_empty());
    assert_eq!(state(&mut c, "g"), GroupState::PreparingRebalance);
}

#[test]
fn sync_rules() {
    let mut c = coordinator(0);
    assert_eq!(
        sync_reply(&c.handle(1, sync("x", 0, &[]), 0), 1).error,
        Some(GroupError::UnknownMemberId)
    );
    assert_eq!(
        sync_reply(&c.handle(2, sync_to("", "x", 0, &[]), 0), 2).error,
        Some(GroupError::InvalidGroupId)
    );
    let _ = c.handle(3, join("", None, &["range"], false), 0);
    assert_eq!(
        sync_reply(&c.handle(4, sync("nobody", 1, &[]), 0), 4).error,
        Some(GroupError::UnknownMemberId)
    );
    assert_eq!(
        sync_reply(&c.handle(5, sync("c-m1", 7, &[]), 0), 5).error,
        Some(GroupError::IllegalGeneration)
    );
    let mut wrong = sync("c-m1", 1, &[]);
    if let Request::SyncGroup { protocol_name, .. } = &mut wrong {
        *protocol_name = Some("roundrobin".into());
    }
    assert_eq!(
        sync_reply(&c.handle(6, wrong, 0), 6).error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    // A waiting sync is told to rejoin when a rebalance starts before the leader syncs.
    assert!(c
        .handle(7, join("", None, &["range"], false), 1)
        .replies
        .is_empty());
    assert_eq!(
        sync_reply(&c.handle(8, sync("c-m1", 1, &[]), 1), 8).error,
        Some(GroupError::RebalanceInProgress),
        "PreparingRebalance"
    );
}

#[test]
fn members_that_never_sync_are_dropped_at_the_rebalance_timeout() {
    let mut c = coordinator(0);
    let _ = c.handle(1, join("", None, &["range"], false), 0);
    let _ = c.handle(2, sync("c-m1", 1, &[]), 0);
    let _ = c.handle(3, join("", None, &["range"], false), 10);
    let _ = c.handle(4, join("c-m1", None, &["range"], false), 10);
    // b syncs; the leader a never does, though it keeps heartbeating.
    assert!(c.handle(5, sync("c-m2", 2, &[]), 20).replies.is_empty());
    for t in (5_000..30_000).step_by(5_000) {
        assert_eq!(
            only_reply(&c.handle(9, heartbeat("c-m1", 2), t)),
            Reply::Heartbeat(None)
        );
    }
    assert_eq!(c.next_deadline(), Some(10 + 30_000));
    let out = c.tick(30_010);
    assert_eq!(
        sync_reply(&out, 5).error,
        Some(GroupError::RebalanceInProgress)
    );
    assert_eq!(state(&mut c, "g"), GroupState::PreparingRebalance);
    let r = join_reply(
        &c.handle(6, join("c-m2", None, &["range"], false), 30_011),
        6,
    );
    assert_eq!(
        (r.generation_id, r.leader.as_str(), r.members.len()),
        (3, "c-m2", 1)
    );
}

#[test]
fn heartbeat_rules() {
    let mut c = coordinator(0);
    assert_eq!(
        only_reply(&c.handle(1, heartbeat("x", 0), 0)),
        Reply::Heartbeat(Some(GroupError::UnknownMemberId))
    );
    let _ = c.handle(2, join("", None, &["range"], false), 0);
    // CompletingRebalance: heartbeats are fine.
    assert_eq!(
        only_reply(&c.handle(3, heartbeat("c-m1", 1), 5_000)),
        Reply::Heartbeat(None)
    );
    assert_eq!(
        only_reply(&c.handle(4, heartbeat("c-m1", 0), 5_000)),
        Reply::Heartbeat(Some(GroupError::IllegalGeneration))
    );
    let _ = c.handle(5, sync("c-m1", 1, &[]), 5_000);
    assert_eq!(
        only_reply(&c.handle(6, heartbeat("c-m1", 1), 14_000)),
        Reply::Heartbeat(None)
    );
    // The heartbeat moved the session deadline to 24 s.
    assert_eq!(c.next_deadline(), Some(24_000));
    assert!(c.tick(23_999).records.is_empty());
    assert_eq!(state(&mut c, "g"), GroupState::Stable);
    let out = c.tick(24_000);
    assert_eq!(state(&mut c, "g"), GroupState::Empty);
    assert!(matches!(
        out.records.as_slice(),
        [GroupRecord::Group { generation: 2, members, .. }] if members.is_empty()
    ));
}

#[test]
fn leave_rules() {
    let mut c = coordinator(0);
    let _ = c.handle(1, join("", Some("i-a"), &["range"], false), 0);
    let _ = c.handle(2, sync("c-m1", 1, &[]), 0);
    let _ = c.handle(3, join("", None, &["range"], false), 1);
    let _ = c.handle(4, join("c-m1", None, &["range"], false), 1);
    let out = c.handle(
        5,
        leave(&[("", Some("i-a")), ("nobody", None), ("c-m9", Some("i-z"))]),
        2,
    );
    assert_eq!(
        only_reply(&out),
        Reply::LeaveGroup {
            error: None,
            members: vec![
                ("".into(), Some("i-a".into()), None),
                ("nobody".into(), None, Some(GroupError::UnknownMemberId)),
                (
                    "c-m9".into(),
                    Some("i-z".into()),
                    Some(GroupError::UnknownMemberId)
                ),
            ]
        }
    );
    assert_eq!(state(&mut c, "g"), GroupState::PreparingRebalance);
    let r = join_reply(&c.handle(6, join("c-m2", None, &["range"], false), 3), 6);
    assert_eq!((r.generation_id, r.leader.as_str()), (3, "c-m2"));
    // A static leave naming the wrong member id is fenced.
    let _ = c.handle(7, join("", Some("i-b"), &["range"], false), 4);
    let out = c.handle(8, leave(&[("wrong", Some("i-b"))]), 5);
    assert_eq!(
        only_reply(&out),
        Reply::LeaveGroup {
            error: None,
            members: vec![(
                "wrong".into(),
                Some("i-b".into()),
                Some(GroupError::FencedInstanceId)
            )]
        }
    );
    // Leaving an unknown group reports each member unknown.
    let out = c.handle(
        9,
        Request::LeaveGroup {
            group_id: "other".into(),
            members: vec![("x".into(), None, None)],
        },
        6,
    );
    assert_eq!(
        only_reply(&out),
        Reply::LeaveGroup {
            error: None,
            members: vec![("x".into(), None, Some(GroupError::UnknownMemberId))]
        }
    );
}

#[test]
fn join_validation() {
    let mut c = coordinator_with(GroupConfig {
        initial_rebalance_delay_ms: 0,
        max_size: 1,
        ..Default::default()
    });
    let r = join_reply(
        &c.handle(1, join_to("", "", None, &[("range", "m".into())], false), 0),
        1,
    );
    assert_eq!(r.error, Some(GroupError::InvalidGroupId));
    let r = join_reply(&c.handle(2, join_to("g", "", None, &[], false), 0), 2);
    assert_eq!(r.error, Some(GroupError::InconsistentGroupProtocol));
    assert_eq!(
        state(&mut c, "g"),
        GroupState::Dead,
        "a refused join creates no group"
    );
    let _ = c.handle(3, join("", None, &["range"], false), 0);
    let r = join_reply(&c.handle(4, join("", None, &["range"], false), 0), 4);
    assert_eq!(r.error, Some(GroupError::GroupMaxSizeReached));
    let mut other_type = join("", None, &["range"], false);
    if let Request::JoinGroup { protocol_type, .. } = &mut other_type {
        *protocol_type = "connect".into();
    }
    let r = join_reply(&c.handle(5, other_type, 0), 5);
    assert_eq!(r.error, Some(GroupError::InconsistentGroupProtocol));
}

#[test]
fn a_stuck_group_does_not_stall_another() {
    let mut c = coordinator(0);
    let one = |g: &str| [("range", g.to_string())];
    let _ = c.handle(1, join_to("slow", "", None, &one("s"), false), 0);
    let _ = c.handle(2, sync_to("slow", "c-m1", 1, &[]), 0);
    // "slow" starts a rebalance that waits up to 30 s for c-m1.
    assert!(c
        .handle(3, join_to("slow", "", None, &one("s"), false), 1)
        .replies
        .is_empty());
    // Meanwhile "fast" forms and settles.
    let r = join_reply(
        &c.handle(4, join_to("fast", "", None, &one("f"), false), 2),
        4,
    );
    assert_eq!(r.generation_id, 1);
    let out = c.handle(
        5,
        sync_to("fast", &r.member_id, 1, &[(&r.member_id, "x")]),
        3,
    );
    assert_eq!(sync_reply(&out, 5).assignment, Bytes::from("x"));
    assert_eq!(state(&mut c, "fast"), GroupState::Stable);
    assert_eq!(state(&mut c, "slow"), GroupState::PreparingRebalance);
}

#[test]
fn duplicate_join_answers_the_superseded_request() {
    let mut c = coordinator(0);
    let _ = c.handle(1, join("", None, &["range"], false), 0);
    let _ = c.handle(2, sync("c-m1", 1, &[]), 0);
    let _ = c.handle(3, join("", None, &["range"], false), 1);
    let out = c.handle(4, join("c-m2", None, &["range"], false), 2);
    assert_eq!(
        join_reply(&out, 3).error,
        Some(GroupError::RebalanceInProgress)
    );
    let out = c.handle(5, join("c-m1", None, &["range"], false), 3);
    assert!(has_reply(&out, 4) && has_reply(&out, 5));
}

#[test]
fn group_state_names_are_kafkas() {
    let names: Vec<String> = [
        GroupState::Empty,
        GroupState::PreparingRebalance,
        GroupState::CompletingRebalance,
        GroupState::Stable,
        GroupState::Dead,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        names,
        [
            "Empty",
            "PreparingRebalance",
            "CompletingRebalance",
            "Stable",
            "Dead"
        ]
    );
}
