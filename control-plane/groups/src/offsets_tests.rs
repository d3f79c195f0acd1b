//! Committed offsets (commit, fetch, delete, expiry), admin queries, replay, and the
//! timer contract of `tick`/`next_deadline`.

use bytes::Bytes;
use proptest::prelude::*;

use crate::test_support::*;
use crate::*;

fn fetch(group: &str, partitions: Option<Vec<(&str, i32)>>) -> Request {
    Request::OffsetFetch {
        group_id: group.into(),
        partitions: partitions.map(|ps| ps.into_iter().map(|(t, p)| (t.to_string(), p)).collect()),
        require_stable: false,
    }
}

/// A consumer-protocol subscription (version 0) to `topics`.
fn subscription(topics: &[&str]) -> String {
    let mut b = vec![0u8, 0];
    b.extend((topics.len() as i32).to_be_bytes());
    for t in topics {
        b.extend((t.len() as i16).to_be_bytes());
        b.extend(t.as_bytes());
    }
    b.extend(0i32.to_be_bytes()); // empty user data
    String::from_utf8(b).unwrap()
}

#[test]
fn simple_commits_fetch_and_metadata_limit() {
    let mut c = coordinator_with(GroupConfig {
        offset_metadata_max_bytes: 4,
        ..Default::default()
    });
    let out = c.handle(
        1,
        Request::OffsetCommit {
            group_id: "s".into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: vec![
                OffsetCommitEntry {
                    topic: "t".into(),
                    partition: 0,
                    offset: 10,
                    leader_epoch: 3,
                    metadata: Some("ok".into()),
                },
                OffsetCommitEntry {
                    topic: "t".into(),
                    partition: 1,
                    offset: 11,
                    leader_epoch: 3,
                    metadata: Some("too long".into()),
                },
            ],
        },
        5,
    );
    assert_eq!(
        only_reply(&out),
        Reply::OffsetCommit(vec![
            (("t".into(), 0), None),
            (("t".into(), 1), Some(GroupError::OffsetMetadataTooLarge)),
        ])
    );
    assert_eq!(out.records.len(), 1);
    assert_eq!(
        only_reply(&c.handle(2, fetch("s", Some(vec![("t", 0), ("t", 1)])), 6)),
        Reply::OffsetFetch {
            error: None,
            offsets: vec![
                ("t".into(), 0, 10, 3, Some("ok".into())),
                ("t".into(), 1, -1, -1, Some(String::new())),
            ]
        }
    );
    assert_eq!(
        only_reply(&c.handle(3, fetch("s", None), 6)),
        Reply::OffsetFetch {
            error: None,
            offsets: vec![("t".into(), 0, 10, 3, Some("ok".into()))]
        }
    );
    assert_eq!(
        only_reply(&c.handle(4, fetch("unknown", None), 6)),
        Reply::OffsetFetch {
            error: None,
            offsets: vec![]
        }
    );
    assert_eq!(c.committed("s"), vec![("t".to_string(), 0, 10)]);
    // A commit naming a generation to a group that does not exist is stale.
    assert_eq!(
        only_reply(&c.handle(5, commit_to("nope", "m", 3, "t", 0, 1), 7)),
        Reply::OffsetCommit(vec![(("t".into(), 0), Some(GroupError::IllegalGeneration))])
    );
}

#[test]
fn member_commits_refused_while_completing_rebalance() {
    let mut c = coordinator(0);
    let _ = c.handle(1, join("", None, &["range"], false), 0);
    assert_eq!(
        only_reply(&c.handle(2, commit("c-m1", 1, 5), 1)),
        Reply::OffsetCommit(vec![(
            ("t".into(), 0),
            Some(GroupError::RebalanceInProgress)
        )])
    );
    let _ = c.handle(3, sync("c-m1", 1, &[]), 2);
    // During PreparingRebalance a member may still commit for the current generation.
    let _ = c.handle(4, join("", None, &["range"], false), 3);
    assert_eq!(
        only_reply(&c.handle(5, commit("c-m1", 1, 5), 4)),
        Reply::OffsetCommit(vec![(("t".into(), 0), None)])
    );
}

#[test]
fn offset_delete_rules() {
    let mut c = coordinator(0);
    assert_eq!(
        only_reply(&c.handle(
            1,
            Request::OffsetDelete {
                group_id: "g".into(),
                partitions: vec![("t".into(), 0)]
            },
            0
        )),
        Reply::OffsetDelete {
            error: Some(GroupError::GroupIdNotFound),
            partitions: vec![]
        }
    );
    let sub = [("range", subscription(&["t"]))];
    let _ = c.handle(2, join_to("g", "", None, &sub, false), 0);
    let _ = c.handle(3, sync("c-m1", 1, &[]), 0);
    let _ = c.handle(4, commit_to("g", "c-m1", 1, "t", 0, 1), 1);
    let _ = c.handle(5, commit_to("g", "c-m1", 1, "old", 0, 2), 1);
    let out = c.handle(
        6,
        Request::OffsetDelete {
            group_id: "g".into(),
            partitions: vec![("t".into(), 0), ("old".into(), 0)],
        },
        2,
    );
    assert_eq!(
        only_reply(&out),
        Reply::OffsetDelete {
            error: None,
            partitions: vec![
                (("t".into(), 0), Some(GroupError::GroupSubscribedToTopic)),
                (("old".into(), 0), None),
            ]
        }
    );
    assert_eq!(
        out.records,
        vec![GroupRecord::OffsetTombstone {
            group: "g".into(),
            topic: "old".into(),
            partition: 0
        }]
    );
    assert_eq!(c.committed("g"), vec![("t".to_string(), 0, 1)]);
    // A non-consumer group in use refuses outright.
    let mut connect = join_to("k", "", None, &[("v1", "x".into())], false);
    if let Request::JoinGroup { protocol_type, .. } = &mut connect {
        *protocol_type = "connect".into();
    }
    let _ = c.handle(7, connect, 3);
    let out = c.handle(
        8,
        Request::OffsetDelete {
            group_id: "k".into(),
            partitions: vec![("t".into(), 0)],
        },
        4,
    );
    assert_eq!(
        only_reply(&out),
        Reply::OffsetDelete {
            error: Some(GroupError::NonEmptyGroup),
            partitions: vec![]
        }
    );
}

#[test]
fn delete_groups_writes_tombstones_for_offsets_and_group() {
    let mut c = coordinator(0);
    let _ = c.handle(1, commit_to("s", "", -1, "t", 0, 1), 0);
    let _ = c.handle(2, commit_to("s", "", -1, "t", 1, 2), 0);
    let out = c.handle(
        3,
        Request::DeleteGroups {
            group_ids: vec!["s".into(), "".into()],
        },
        1,
    );
    assert_eq!(
        only_reply(&out),
        Reply::DeleteGroups(vec![
            ("s".into(), None),
            ("".into(), Some(GroupError::InvalidGroupId))
        ])
    );
    assert_eq!(out.records.len(), 3);
    assert!(matches!(out.records[2], GroupRecord::GroupTombstone { .. }));
    assert_eq!(state(&mut c, "s"), GroupState::Dead);
    assert!(c.committed("s").is_empty());
}

#[test]
fn consumer_group_offsets_expire_from_when_it_became_empty() {
    let mut c = coordinator_with(GroupConfig {
        initial_rebalance_delay_ms: 0,
        offsets_retention_ms: 100_000,
        ..Default::default()
    });
    let _ = c.handle(1, join("", None, &["range"], false), 0);
    let _ = c.handle(2, sync("c-m1", 1, &[]), 0);
    let _ = c.handle(3, commit("c-m1", 1, 5), 1);
    // While the group has members nothing expires.
    let _ = c.handle(4, heartbeat("c-m1", 1), 5_000);
    let _ = c.tick(5_000);
    assert_eq!(c.committed("g").len(), 1);
    let _ = c.handle(5, leave(&[("c-m1", None)]), 50_000);
    assert_eq!(c.next_deadline(), Some(150_000));
    assert!(c.tick(149_999).records.is_empty());
    let out = c.tick(150_000);
    assert_eq!(
        out.records,
        vec![
            GroupRecord::OffsetTombstone {
                group: "g".into(),
                topic: "t".into(),
                partition: 0
            },
            GroupRecord::GroupTombstone { group: "g".into() },
        ]
    );
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn simple_group_offsets_expire_one_by_one_from_their_commit() {
    let mut c = coordinator_with(GroupConfig {
        offsets_retention_ms: 1000,
        ..Default::default()
    });
    let _ = c.handle(1, commit_to("s", "", -1, "t", 0, 1), 0);
    let _ = c.handle(2, commit_to("s", "", -1, "t", 1, 1), 500);
    assert_eq!(c.next_deadline(), Some(1000));
    let out = c.tick(1000);
    assert_eq!(out.records.len(), 1);
    assert_eq!(c.committed("s"), vec![("t".to_string(), 1, 1)]);
    let out = c.tick(1500);
    assert_eq!(out.records.len(), 2, "last offset, then the group");
    assert_eq!(state(&mut c, "s"), GroupState::Dead);
}

#[test]
fn list_and_describe() {
    let mut c = coordinator(0);
    let _ = c.handle(1, commit_to("simple", "", -1, "t", 0, 1), 0);
    let _ = c.handle(2, join("", None, &["range"], false), 0);
    let list = |c: &mut GroupCoordinator, states: &[&str], types: &[&str]| -> Vec<String> {
        match only_reply(&c.handle(
            9,
            Request::ListGroups {
                states_filter: states.iter().map(|s| s.to_string()).collect(),
                types_filter: types.iter().map(|s| s.to_string()).collect(),
            },
            0,
        )) {
            Reply::ListGroups(l) => l.into_iter().map(|g| g.group_id).collect(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(list(&mut c, &[], &[]), ["g", "simple"]);
    assert_eq!(list(&mut c, &["completingrebalance"], &[]), ["g"]);
    assert_eq!(list(&mut c, &["Empty", "Stable"], &[]), ["simple"]);
    assert_eq!(list(&mut c, &[], &["Classic"]), ["g", "simple"]);
    assert!(list(&mut c, &[], &["consumer"]).is_empty());
    let _ = c.handle(3, sync("c-m1", 1, &[("c-m1", "asg")]), 1);
    match only_reply(&c.handle(
        4,
        Request::DescribeGroups {
            group_ids: vec!["g".into(), "nope".into()],
        },
        2,
    )) {
        Reply::DescribeGroups(d) => {
            assert_eq!(
                (d[0].state, d[0].protocol.as_str()),
                (GroupState::Stable, "range")
            );
            assert_eq!(d[0].members[0].assignment, Bytes::from("asg"));
            assert_eq!(d[0].members[0].metadata, Bytes::from("meta-range"));
            assert_eq!((d[1].state, d[1].error), (GroupState::Dead, None));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn replay_restores_offsets_and_group_metadata() {
    let mut c = coordinator(0);
    let mut records = Vec::new();
    let mut run = |c: &mut GroupCoordinator, id, req, now| {
        let out = c.handle(id, req, now);
        records.extend(out.records.clone());
        out
    };
    let _ = run(&mut c, 1, join("", Some("i-a"), &["range"], false), 0);
    let _ = run(&mut c, 2, sync("c-m1", 1, &[("c-m1", "pa")]), 0);
    let _ = run(&mut c, 3, commit("c-m1", 1, 42), 1);
    let _ = run(&mut c, 4, commit_to("s", "", -1, "u", 2, 7), 1);
    let _ = run(&mut c, 5, commit_to("s", "", -1, "u", 2, 8), 2);
    let mut fresh = coordinator(0);
    for r in &records {
        let r = GroupRecord::decode(&r.key(), r.value().as_deref()).unwrap();
        fresh.replay(r, 100);
    }
    assert_eq!(fresh.committed("g"), vec![("t".to_string(), 0, 42)]);
    assert_eq!(fresh.committed("s"), vec![("u".to_string(), 2, 8)]);
    match only_reply(&fresh.handle(
        6,
        Request::DescribeGroups {
            group_ids: vec!["g".into()],
        },
        101,
    )) {
        Reply::DescribeGroups(d) => {
            assert_eq!(d[0].state, GroupState::Stable);
            assert_eq!(d[0].members[0].member_id, "c-m1");
            assert_eq!(d[0].members[0].group_instance_id.as_deref(), Some("i-a"));
            assert_eq!(d[0].members[0].assignment, Bytes::from("pa"));
        }
        other => panic!("{other:?}"),
    }
    // The restored member has a fresh session from the replay time.
    assert_eq!(fresh.next_deadline(), Some(100 + 10_000));
    // The static member restarting gets its assignment back without a rebalance.
    let r = join_reply(
        &fresh.handle(7, join("", Some("i-a"), &["range"], false), 102),
        7,
    );
    assert_eq!((r.error, r.generation_id), (None, 1));
    assert_eq!(
        sync_reply(&fresh.handle(8, sync(&r.member_id, 1, &[]), 103), 8).assignment,
        Bytes::from("pa")
    );
}

#[test]
fn replay_keeps_empty_time_and_applies_tombstones() {
    let mut c = coordinator_with(GroupConfig {
        initial_rebalance_delay_ms: 0,
        offsets_retention_ms: 1_000_000,
        ..Default::default()
    });
    let mut records = Vec::new();
    records.extend(c.handle(1, join("", None, &["range"], false), 0).records);
    records.extend(c.handle(2, sync("c-m1", 1, &[]), 0).records);
    records.extend(c.handle(3, commit("c-m1", 1, 1), 1).records);
    records.extend(c.handle(4, leave(&[("c-m1", None)]), 500).records);
    let mut fresh = coordinator_with(GroupConfig {
        offsets_retention_ms: 1_000_000,
        ..Default::default()
    });
    for r in records {
        fresh.replay(r, 900_000);
    }
    // Retention counts from when the group became Empty (500), not from the restart.
    assert_eq!(fresh.next_deadline(), Some(1_000_500));
    fresh.replay(
        GroupRecord::OffsetTombstone {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
        },
        900_001,
    );
    assert!(fresh.committed("g").is_empty());
    fresh.replay(GroupRecord::GroupTombstone { group: "g".into() }, 900_002);
    assert_eq!(state(&mut fresh, "g"), GroupState::Dead);
    assert_eq!(fresh.next_deadline(), None);
}

/// One step of a random workload over two groups and a few members.
#[derive(Debug, Clone)]
enum Op {
    Join(u8, u8, bool, bool),
    Sync(u8, u8, bool),
    Heartbeat(u8, u8),
    Leave(u8, u8),
    Commit(u8, u8, bool),
    Tick,
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..2, 0u8..4, any::<bool>(), any::<bool>())
            .prop_map(|(g, m, s, v)| Op::Join(g, m, s, v)),
        (0u8..2, 0u8..4, any::<bool>()).prop_map(|(g, m, l)| Op::Sync(g, m, l)),
        (0u8..2, 0u8..4).prop_map(|(g, m)| Op::Heartbeat(g, m)),
        (0u8..2, 0u8..4).prop_map(|(g, m)| Op::Leave(g, m)),
        (0u8..2, 0u8..4, any::<bool>()).prop_map(|(g, m, s)| Op::Commit(g, m, s)),
        Just(Op::Tick),
        (0u16..20_000).prop_map(Op::Advance),
    ]
}

proptest! {
    /// Random workloads never panic; every request is answered exactly once (at once
    /// or later); and `tick(next_deadline())` always consumes what was due, so the
    /// shell's timer loop cannot spin.
    #[test]
    fn timers_always_make_progress_and_every_request_is_answered(ops in proptest::collection::vec(op(), 1..80)) {
        let mut c = coordinator_with(GroupConfig {
            initial_rebalance_delay_ms: 1000,
            offsets_retention_ms: 50_000,
            ..Default::default()
        });
        let mut now = 0i64;
        let mut id = 0u64;
        let mut answered = std::collections::HashSet::new();
        // Member ids the coordinator gave out, per group, by slot.
        let mut ids: [[String; 4]; 2] = Default::default();
        let groups = ["g0", "g1"];
        let mut gens = [0i32; 2];
        let mut sent = std::collections::HashSet::new();
        for op in ops {
            id += 1;
            let (req, slot) = match op {
                Op::Join(g, m, stat, v4) => {
                    let (g, m) = (g as usize, m as usize);
                    let instance = format!("i{m}");
                    let mut r = join_to(groups[g], &ids[g][m], stat.then_some(instance.as_str()), &[("range", "x".into())], v4);
                    if let Request::JoinGroup { session_timeout_ms, .. } = &mut r {
                        *session_timeout_ms = 6000 + 1000 * m as i32;
                    }
                    (Some(r), Some((g, m)))
                }
                Op::Sync(g, m, lead) => {
                    let (g, m) = (g as usize, m as usize);
                    let asg: Vec<(&str, &str)> = if lead { ids[g].iter().map(|i| (i.as_str(), "a")).collect() } else { vec![] };
                    (Some(sync_to(groups[g], &ids[g][m], gens[g], &asg)), None)
                }
                Op::Heartbeat(g, m) => {
                    let (g, m) = (g as usize, m as usize);
                    let mut r = heartbeat(&ids[g][m], gens[g]);
                    if let Request::Heartbeat { group_id, .. } = &mut r { *group_id = groups[g].into(); }
                    (Some(r), None)
                }
                Op::Leave(g, m) => {
                    let (g, m) = (g as usize, m as usize);
                    let mut r = leave(&[(ids[g][m].as_str(), None)]);
                    if let Request::LeaveGroup { group_id, .. } = &mut r { *group_id = groups[g].into(); }
                    (Some(r), None)
                }
                Op::Commit(g, m, simple) => {
                    let (g, m) = (g as usize, m as usize);
                    let r = if simple { commit_to(groups[g], "", -1, "t", m as i32, 1) } else { commit_to(groups[g], &ids[g][m], gens[g], "t", m as i32, 1) };
                    (Some(r), None)
                }
                Op::Tick => (None, None),
                Op::Advance(ms) => { now += ms as i64; (None, None) }
            };
            if let Some(req) = req {
                let out = c.handle(id, req, now);
                sent.insert(id);
                check(&out, id, &mut answered, &mut ids, &mut gens, slot)?;
            } else if let Some(due) = c.next_deadline() {
                if due <= now {
                    let out = c.tick(now);
                    check(&out, id, &mut answered, &mut ids, &mut gens, None)?;
                    prop_assert!(c.next_deadline().is_none_or(|d| d > now), "tick({}) left {:?} due", now, c.next_deadline());
                }
            }
        }
        // Drain every timer: each tick moves the deadline forward, and in the end
        // every request has its answer.
        for _ in 0..1000 {
            let Some(due) = c.next_deadline() else { break };
            now = now.max(due);
            let out = c.tick(now);
            check(&out, id, &mut answered, &mut ids, &mut gens, None)?;
            prop_assert!(c.next_deadline().is_none_or(|d| d > now), "tick({}) left {:?} due", now, c.next_deadline());
        }
        prop_assert_eq!(c.next_deadline(), None);
        prop_assert_eq!(answered, sent);
    }
}

/// Records the replies of one output: each request is answered once; a JoinGroup
/// answer to request `id` teaches the member id of `slot` and the group's generation.
fn check(
    out: &Output,
    id: u64,
    answered: &mut std::collections::HashSet<u64>,
    ids: &mut [[String; 4]; 2],
    gens: &mut [i32; 2],
    slot: Option<(usize, usize)>,
) -> Result<(), TestCaseError> {
    for (rid, r) in &out.replies {
        prop_assert!(answered.insert(*rid), "request {} answered twice", rid);
        if let (Some((g, m)), Reply::JoinGroup(j)) = (slot, r) {
            if *rid == id && !j.member_id.is_empty() {
                ids[g][m] = j.member_id.clone();
            }
            if j.error.is_none() {
                gens[g] = j.generation_id;
            }
        }
    }
    Ok(())
}
