//! Golden traces: scripted scenarios whose every reply and record, rendered as text, is
//! compared with `tests/golden/<name>.txt`. `UPDATE_GOLDEN=1 cargo test -p
//! strata-groups --test golden` rewrites them; review the diff like code.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::fmt::Write;

use bytes::Bytes;
use strata_groups::*;

/// One scripted step: a request at a time, or a timer tick.
enum Step {
    Req(i64, Box<Request>),
    Tick(i64),
}

fn coordinator(delay: i32) -> GroupCoordinator {
    let mut n = 0;
    GroupCoordinator::new(
        GroupConfig {
            initial_rebalance_delay_ms: delay,
            offsets_retention_ms: 60_000,
            ..Default::default()
        },
        Box::new(move |client: &str| {
            n += 1;
            format!("{client}-{n}")
        }),
    )
}

fn join(client: &str, member: &str, instance: Option<&str>, meta: &str, v4: bool) -> Request {
    Request::JoinGroup {
        group_id: "g".into(),
        member_id: member.into(),
        group_instance_id: instance.map(String::from),
        protocol_type: "consumer".into(),
        protocols: vec![
            ("range".into(), Bytes::from(meta.to_string())),
            ("roundrobin".into(), Bytes::from(format!("rr:{meta}"))),
        ],
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 20_000,
        require_known_member_id: v4,
        client_id: client.into(),
        client_host: "/10.0.0.1".into(),
        reason: None,
    }
}

fn sync(member: &str, generation: i32, assignments: &[(&str, &str)]) -> Request {
    Request::SyncGroup {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
            .collect(),
    }
}

fn heartbeat(member: &str, generation: i32) -> Request {
    Request::Heartbeat {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
    }
}

fn commit(member: &str, generation: i32, partition: i32, offset: i64) -> Request {
    Request::OffsetCommit {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        offsets: vec![OffsetCommitEntry {
            topic: "orders".into(),
            partition,
            offset,
            leader_epoch: 4,
            metadata: Some(String::new()),
        }],
    }
}

fn fetch() -> Request {
    Request::OffsetFetch {
        group_id: "g".into(),
        partitions: None,
        require_stable: false,
    }
}

fn describe() -> Request {
    Request::DescribeGroups {
        group_ids: vec!["g".into()],
    }
}

fn bytes(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn err(e: &Option<GroupError>) -> String {
    e.map_or("-".into(), |e| format!("{e:?}"))
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

fn render_request(r: &Request) -> String {
    match r {
        Request::JoinGroup {
            member_id,
            group_instance_id,
            client_id,
            require_known_member_id,
            protocols,
            ..
        } => format!(
            "JoinGroup client={client_id} member={member_id:?} instance={} v4={require_known_member_id} range={}",
            opt(group_instance_id),
            bytes(&protocols[0].1)
        ),
        Request::SyncGroup {
            member_id,
            generation_id,
            assignments,
            ..
        } => format!(
            "SyncGroup member={member_id} gen={generation_id} assignments=[{}]",
            assignments
                .iter()
                .map(|(m, a)| format!("{m}:{}", bytes(a)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Request::Heartbeat {
            member_id,
            generation_id,
            ..
        } => format!("Heartbeat member={member_id} gen={generation_id}"),
        Request::LeaveGroup { members, .. } => format!(
            "LeaveGroup [{}]",
            members
                .iter()
                .map(|(m, i, _)| format!("{m}/{}", opt(i)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Request::OffsetCommit {
            member_id,
            generation_id,
            offsets,
            ..
        } => format!(
            "OffsetCommit member={member_id:?} gen={generation_id} [{}]",
            offsets
                .iter()
                .map(|o| format!("{}-{}@{}", o.topic, o.partition, o.offset))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => format!("{other:?}"),
    }
}

fn render_reply(r: &Reply) -> String {
    match r {
        Reply::JoinGroup(j) => format!(
            "JoinGroup err={} gen={} proto={} leader={} member={} skip={} members=[{}]",
            err(&j.error),
            j.generation_id,
            opt(&j.protocol_name),
            j.leader,
            j.member_id,
            j.skip_assignment,
            j.members
                .iter()
                .map(|m| format!(
                    "{}/{}:{}",
                    m.member_id,
                    opt(&m.group_instance_id),
                    bytes(&m.metadata)
                ))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Reply::SyncGroup(s) => format!(
            "SyncGroup err={} proto={} assignment={}",
            err(&s.error),
            opt(&s.protocol_name),
            bytes(&s.assignment)
        ),
        Reply::Heartbeat(e) => format!("Heartbeat err={}", err(e)),
        Reply::OffsetCommit(ps) => format!(
            "OffsetCommit [{}]",
            ps.iter()
                .map(|((t, p), e)| format!("{t}-{p}:{}", err(e)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Reply::OffsetFetch { error, offsets } => format!(
            "OffsetFetch err={} [{}]",
            err(error),
            offsets
                .iter()
                .map(|(t, p, o, e, _)| format!("{t}-{p}@{o}/e{e}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Reply::DescribeGroups(ds) => ds
            .iter()
            .map(|d| {
                format!(
                    "DescribeGroups {} state={} proto={} members=[{}]",
                    d.group_id,
                    d.state,
                    d.protocol,
                    d.members
                        .iter()
                        .map(|m| format!("{}:{}", m.member_id, bytes(&m.assignment)))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => format!("{other:?}"),
    }
}

fn render_record(r: &GroupRecord) -> String {
    let body = match r {
        GroupRecord::Offset {
            group,
            topic,
            partition,
            offset,
            leader_epoch,
            commit_timestamp,
            ..
        } => format!(
            "Offset {group} {topic}-{partition}@{offset}/e{leader_epoch} ts={commit_timestamp}"
        ),
        GroupRecord::OffsetTombstone {
            group,
            topic,
            partition,
        } => format!("OffsetTombstone {group} {topic}-{partition}"),
        GroupRecord::Group {
            group,
            generation,
            protocol,
            leader,
            state_timestamp,
            members,
            ..
        } => format!(
            "Group {group} gen={generation} proto={} leader={} ts={state_timestamp} members=[{}]",
            opt(protocol),
            opt(leader),
            members
                .iter()
                .map(|m| format!(
                    "{}/{}:{}",
                    m.member_id,
                    opt(&m.group_instance_id),
                    bytes(&m.assignment)
                ))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        GroupRecord::GroupTombstone { group } => format!("GroupTombstone {group}"),
    };
    // Every record must survive its own encoding.
    let back = GroupRecord::decode(&r.key(), r.value().as_deref()).expect("decodes");
    assert_eq!(&back, r);
    body
}

/// Runs the steps (request ids count from 1) and renders the full trace.
fn run(mut c: GroupCoordinator, steps: Vec<Step>) -> String {
    let mut trace = String::new();
    for (i, step) in steps.into_iter().enumerate() {
        let id = i as u64 + 1;
        let out = match step {
            Step::Req(now, req) => {
                let _ = writeln!(trace, "@{now} #{id} {}", render_request(&req));
                c.handle(id, *req, now)
            }
            Step::Tick(now) => {
                let _ = writeln!(trace, "@{now} tick");
                c.tick(now)
            }
        };
        for (rid, r) in &out.replies {
            let _ = writeln!(trace, "  -> #{rid} {}", render_reply(r));
        }
        for r in &out.records {
            let _ = writeln!(trace, "  record {}", render_record(r));
        }
        let _ = writeln!(
            trace,
            "  next deadline {}",
            c.next_deadline().map_or("-".into(), |d| d.to_string())
        );
    }
    trace
}

fn golden(name: &str, trace: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, trace).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 to create it)", path.display()));
    assert!(
        trace == want,
        "golden trace {name} changed (UPDATE_GOLDEN=1 to accept):\n--- want\n{want}\n--- got\n{trace}"
    );
}

#[test]
fn eager_rebalance() {
    use Step::Tick;
    #[allow(non_snake_case)]
    let Req = |now: i64, r: Request| Step::Req(now, Box::new(r));
    let steps = vec![
        Req(0, join("a", "", None, "t", false)),
        Req(1000, join("b", "", None, "t", false)),
        Req(2000, join("c", "", None, "t", false)),
        Tick(4999),
        Tick(5000),
        Req(5001, sync("b-2", 1, &[])),
        Req(
            5002,
            sync("a-1", 1, &[("a-1", "p0"), ("b-2", "p1"), ("c-3", "p2")]),
        ),
        Req(5003, sync("c-3", 1, &[])),
        Req(5004, commit("a-1", 1, 0, 100)),
        Req(5005, commit("b-2", 0, 1, 100)),
        Req(9000, heartbeat("a-1", 1)),
        Req(9000, heartbeat("b-2", 1)),
        // c is killed: its session ends at 15003.
        Tick(15003),
        Req(15004, heartbeat("a-1", 1)),
        Req(15005, join("a", "a-1", None, "t", false)),
        Req(15006, heartbeat("b-2", 1)),
        Req(15007, join("b", "b-2", None, "t", false)),
        Req(15008, sync("a-1", 2, &[("a-1", "p0,p2"), ("b-2", "p1")])),
        Req(15009, sync("b-2", 2, &[])),
        Req(15010, describe()),
        Req(15011, fetch()),
    ];
    golden("eager_rebalance", &run(coordinator(3000), steps));
}

#[test]
fn member_id_required_and_pending_expiry() {
    use Step::Tick;
    #[allow(non_snake_case)]
    let Req = |now: i64, r: Request| Step::Req(now, Box::new(r));
    let steps = vec![
        Req(0, join("a", "", None, "t", true)),
        Req(1, join("a", "a-1", None, "t", true)),
        Req(2, sync("a-1", 1, &[("a-1", "p0")])),
        // b gets an id and rejoins; x gets one and vanishes.
        Req(10, join("b", "", None, "t", true)),
        Req(11, join("x", "", None, "t", true)),
        Req(12, join("b", "b-2", None, "t", true)),
        Req(13, join("a", "a-1", None, "t", true)),
        // The join phase waits for x's pending id until it expires.
        Tick(10_011),
        Req(10_012, sync("a-1", 2, &[("a-1", "p0"), ("b-2", "p1")])),
        Req(10_013, sync("b-2", 2, &[])),
        Req(10_014, join("x", "x-3", None, "t", true)),
    ];
    golden("member_id_required", &run(coordinator(0), steps));
}

#[test]
fn static_member_restart() {
    use Step::Tick;
    #[allow(non_snake_case)]
    let Req = |now: i64, r: Request| Step::Req(now, Box::new(r));
    let steps = vec![
        Req(0, join("a", "", Some("ia"), "t", false)),
        Req(0, join("b", "", Some("ib"), "t", false)),
        Tick(3000),
        Req(3001, sync("b-2", 1, &[])),
        Req(3002, sync("a-1", 1, &[("a-1", "p0"), ("b-2", "p1")])),
        // b restarts within its session timeout: same assignment, no rebalance; the
        // old incarnation is fenced.
        Req(8000, join("b", "", Some("ib"), "t", false)),
        Req(8001, sync("b-3", 1, &[])),
        Req(8002, heartbeat("a-1", 1)),
        Req(
            8003,
            Request::Heartbeat {
                group_id: "g".into(),
                generation_id: 1,
                member_id: "b-2".into(),
                group_instance_id: Some("ib".into()),
            },
        ),
        Req(8004, describe()),
        // b restarts again with a new subscription: this one rebalances.
        Req(9000, join("b", "", Some("ib"), "t,u", false)),
        Req(9001, join("a", "a-1", Some("ia"), "t", false)),
        Req(9002, sync("a-1", 2, &[("a-1", "p0"), ("b-4", "p1,u0")])),
        Req(9003, sync("b-4", 2, &[])),
        // A static leave with no member id removes whoever holds the instance.
        Req(
            9004,
            Request::LeaveGroup {
                group_id: "g".into(),
                members: vec![(String::new(), Some("ib".into()), None)],
            },
        ),
    ];
    golden("static_member_restart", &run(coordinator(3000), steps));
}

#[test]
fn offsets_lifecycle() {
    use Step::Tick;
    #[allow(non_snake_case)]
    let Req = |now: i64, r: Request| Step::Req(now, Box::new(r));
    let steps = vec![
        Req(0, commit("", -1, 0, 5)),
        Req(10, join("a", "", None, "t", false)),
        Req(11, commit("", -1, 0, 6)),
        Req(12, sync("a-1", 1, &[("a-1", "p0")])),
        Req(13, commit("a-1", 1, 0, 7)),
        Req(
            14,
            Request::LeaveGroup {
                group_id: "g".into(),
                members: vec![("a-1".into(), None, None)],
            },
        ),
        Req(15, fetch()),
        Tick(60_013),
        Tick(60_014),
        Req(60_015, fetch()),
        Req(60_016, describe()),
    ];
    golden("offsets_lifecycle", &run(coordinator(0), steps));
}
