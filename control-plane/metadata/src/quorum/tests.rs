//! The quorum against openraft's storage suite, and three nodes on loopback gRPC.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use openraft::testing::{StoreBuilder, Suite};
use strata_rpc::quorum::RaftMessage;

use super::*;
use crate::controller::{register_broker, BrokerRegistrationRequest};

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for SledBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), openraft::StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::Config::new()
            .path(dir.path())
            .flush_every_ms(None)
            .open()
            .expect("sled");
        let logs = LogStore::open(&db).expect("log store");
        let sm = StateMachine::open(&db)?;
        Ok((dir, logs, sm))
    }
}

/// openraft's own storage test suite against the sled log store and the image state
/// machine (a plain test: the suite runs its own runtimes).
#[test]
fn the_store_passes_openrafts_storage_suite() {
    Suite::test_all(SledBuilder).expect("openraft storage suite");
}

fn settings(id: NodeId) -> QuorumSettings {
    let mut s = QuorumSettings::new(id, "test-cluster");
    s.heartbeat = Duration::from_millis(50);
    s.election_timeout = (Duration::from_millis(300), Duration::from_millis(600));
    s.rpc.request_timeout = Duration::from_secs(2);
    s
}

async fn start_on(dir: &Path, s: QuorumSettings, addr: SocketAddr) -> Arc<Quorum> {
    let (incoming, _) = strata_rpc::bind(addr).expect("bind");
    Quorum::start(dir, s, incoming).await.expect("start")
}

/// Three nodes on loopback, bootstrapped by the first.
async fn cluster(
    root: &Path,
    tune: impl Fn(&mut QuorumSettings),
) -> (Vec<Option<Arc<Quorum>>>, BTreeMap<NodeId, String>) {
    let mut voters = BTreeMap::new();
    let mut bound = Vec::new();
    for id in 1..=3u64 {
        let (incoming, addr) =
            strata_rpc::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        voters.insert(id, addr.to_string());
        bound.push((id, incoming));
    }
    let mut nodes = Vec::new();
    for (id, incoming) in bound {
        let mut s = settings(id);
        tune(&mut s);
        let q = Quorum::start(&root.join(id.to_string()), s, incoming)
            .await
            .expect("start");
        nodes.push(Some(q));
    }
    nodes[0]
        .as_ref()
        .expect("node 1")
        .bootstrap(&voters)
        .await
        .expect("bootstrap");
    (nodes, voters)
}

async fn until<F: Fn() -> bool>(what: &str, f: F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn leader_of(nodes: &[Option<Arc<Quorum>>]) -> Option<usize> {
    nodes
        .iter()
        .position(|n| n.as_ref().is_some_and(|q| q.is_leader()))
}

async fn register(q: &Quorum, broker: i32) -> Result<Option<String>, QuorumError> {
    let records = register_broker(
        &q.image(),
        &BrokerRegistrationRequest::new(broker, "127.0.0.1", 9000 + broker, None),
        false,
    )
    .expect("records");
    q.write(records).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_commit_fail_over_and_agree() {
    let root = tempfile::tempdir().expect("dir");
    let (mut nodes, voters) = cluster(root.path(), |_| {}).await;
    until("a leader", || leader_of(&nodes).is_some()).await;
    let first = leader_of(&nodes).expect("leader");

    assert_eq!(
        register(nodes[first].as_ref().expect("leader"), 1)
            .await
            .expect("write"),
        None
    );
    // A follower refuses a write and names the leader.
    let follower = (first + 1) % 3;
    match register(nodes[follower].as_ref().expect("follower"), 2).await {
        Err(QuorumError::NotLeader {
            leader: Some((id, addr)),
        }) => {
            assert_eq!(id, first as u64 + 1);
            assert_eq!(voters.get(&id), Some(&addr));
        }
        other => panic!("a follower answered {other:?}"),
    }

    // The leader goes away; the other two elect one of them and go on committing.
    nodes[first].take().expect("leader").shutdown().await;
    until("a new leader", || leader_of(&nodes).is_some()).await;
    let second = leader_of(&nodes).expect("new leader");
    assert_ne!(second, first);
    for broker in 2..=20 {
        let q = nodes[second].as_ref().expect("leader");
        assert_eq!(register(q, broker).await.expect("write"), None);
    }
    // Both survivors hold the same image with every acknowledged write.
    let survivors: Vec<&Arc<Quorum>> = nodes.iter().flatten().collect();
    until("both survivors applied every write", || {
        survivors.iter().all(|q| q.image().broker_ids().len() == 20)
    })
    .await;
    assert_eq!(*survivors[0].image(), *survivors[1].image());

    // The old leader comes back on its address and catches up.
    let addr: SocketAddr = voters[&(first as u64 + 1)].parse().expect("addr");
    let back = start_on(
        &root.path().join((first + 1).to_string()),
        settings(first as u64 + 1),
        addr,
    )
    .await;
    until("the restarted node caught up", || {
        back.image().broker_ids().len() == 20
    })
    .await;
    assert_eq!(*back.image(), *survivors[0].image());
    back.shutdown().await;
    for n in nodes.into_iter().flatten() {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_far_behind_catches_up_from_a_snapshot() {
    let root = tempfile::tempdir().expect("dir");
    let (mut nodes, voters) = cluster(root.path(), |s| {
        s.snapshot_every = 10;
        s.logs_kept_after_snapshot = 0;
    })
    .await;
    until("a leader", || leader_of(&nodes).is_some()).await;
    let leader = leader_of(&nodes).expect("leader");
    let behind = (leader + 1) % 3;
    let behind_id = behind as u64 + 1;
    nodes[behind].take().expect("node").shutdown().await;
    for broker in 1..=60 {
        let q = nodes[leader].as_ref().expect("leader");
        assert_eq!(register(q, broker).await.expect("write"), None);
    }
    let q = nodes[leader].as_ref().expect("leader");
    until("the leader snapshotted and purged", || {
        let m = q.metrics();
        m.snapshot.is_some() && m.purged.is_some()
    })
    .await;

    let mut s = settings(behind_id);
    s.snapshot_every = 10;
    s.logs_kept_after_snapshot = 0;
    let addr: SocketAddr = voters[&behind_id].parse().expect("addr");
    let back = start_on(&root.path().join(behind_id.to_string()), s, addr).await;
    until("the node behind caught up", || {
        back.image().broker_ids().len() == 60
    })
    .await;
    assert_eq!(*back.image(), *q.image());
    assert!(back.metrics().snapshot.is_some(), "it was sent a snapshot");
    back.shutdown().await;
    for n in nodes.into_iter().flatten() {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_another_cluster_or_garbage_are_refused() {
    let root = tempfile::tempdir().expect("dir");
    let (nodes, voters) = cluster(root.path(), |_| {}).await;
    until("a leader", || leader_of(&nodes).is_some()).await;
    let rpc = strata_rpc::RpcSettings::default();
    let ch = strata_rpc::channel(&voters[&1], &rpc).expect("channel");
    let mut client = strata_rpc::quorum_client(ch, &rpc);
    let foreign = client
        .vote(RaftMessage {
            cluster_id: "another".into(),
            payload: vec![0u8; 8].into(),
        })
        .await
        .expect_err("foreign cluster");
    assert_eq!(foreign.code(), strata_rpc::Code::FailedPrecondition);
    for garbage in [vec![], vec![0xff; 3], vec![0xff; 64]] {
        let err = client
            .append_entries(RaftMessage {
                cluster_id: "test-cluster".into(),
                payload: garbage.into(),
            })
            .await
            .expect_err("garbage");
        assert_eq!(err.code(), strata_rpc::Code::InvalidArgument);
    }
    // An oversized message (from a client that does not bound what it sends) is
    // refused by the server's bound.
    let ch = strata_rpc::channel(&voters[&1], &rpc).expect("channel");
    let mut unbounded = strata_rpc::quorum::quorum_client::QuorumClient::new(ch)
        .max_encoding_message_size(usize::MAX);
    let big = unbounded
        .append_entries(RaftMessage {
            cluster_id: "test-cluster".into(),
            payload: vec![0u8; rpc.max_message_bytes + 1].into(),
        })
        .await
        .expect_err("oversized");
    assert_ne!(big.code(), strata_rpc::Code::Ok, "{big:?}");
    // The quorum is unharmed.
    let leader = leader_of(&nodes).expect("leader");
    assert_eq!(
        register(nodes[leader].as_ref().expect("leader"), 1)
            .await
            .expect("write"),
        None
    );
    for n in nodes.into_iter().flatten() {
        n.shutdown().await;
    }
}

fn controller_settings(node: i32) -> crate::ControllerSettings {
    crate::ControllerSettings {
        defaults: (1, 1),
        limits: crate::PartitionLimits::default(),
        log_defaults: strata_log::LogConfig::default(),
        tiered_storage: false,
        node_id: node,
        leader_rebalance: None,
    }
}

/// Admin calls made on any node run on the leader and return once the calling node's
/// own image has the change; refusals come back as the controller's errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_on_a_follower_are_forwarded_to_the_leader() {
    use crate::{CommitError, ControllerClient, ControllerError, CreateTopicSpec};
    let root = tempfile::tempdir().expect("dir");
    let mut voters = BTreeMap::new();
    let mut bound = Vec::new();
    for id in 1..=3u64 {
        let (incoming, addr) =
            strata_rpc::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        voters.insert(id, addr.to_string());
        bound.push((id, incoming));
    }
    let mut controllers = Vec::new();
    for (id, incoming) in bound {
        let q = Quorum::open(&root.path().join(id.to_string()), settings(id))
            .await
            .expect("open");
        let c = ClusterController::new(
            q.clone(),
            controller_settings(id as i32),
            Duration::from_secs(9),
            Vec::new(),
        );
        q.bootstrap(&voters).await.expect("bootstrap");
        q.serve(incoming, Some(ControllerService::new(c.clone())));
        controllers.push(c);
    }
    until("a leader", || {
        controllers.iter().any(|c| c.quorum().is_leader())
    })
    .await;
    let follower = controllers
        .iter()
        .find(|c| !c.quorum().is_leader())
        .expect("a follower");
    for id in 1..=3 {
        follower
            .register_broker(&BrokerRegistrationRequest::new(
                id,
                "127.0.0.1",
                9000 + id,
                None,
            ))
            .await
            .expect("register");
    }
    // Registered brokers start fenced; their heartbeats (forwarded too) unfence them.
    for id in 1..=3 {
        let hb = crate::controller::Heartbeat {
            broker_id: id,
            incarnation_id: [0; 16],
            applied_index: 0,
            want_shut_down: false,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let o = follower.heartbeat(hb).await.expect("heartbeat");
            assert!(o.known);
            if !o.fenced {
                break;
            }
            assert!(Instant::now() < deadline, "broker {id} stays fenced");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let spec = CreateTopicSpec {
        name: "t".into(),
        num_partitions: 6,
        replication_factor: 3,
        ..Default::default()
    };
    let made = follower
        .create_topic(&spec, None, false)
        .await
        .expect("create");
    assert_eq!(
        (made.value.num_partitions, made.value.replication_factor),
        (6, 3)
    );
    // The follower's own image has the topic as soon as the call returns.
    assert_eq!(
        follower.image().topic("t").map(|t| t.id),
        Some(made.value.id)
    );
    assert!(matches!(
        follower.create_topic(&spec, None, false).await,
        Err(CommitError::Rejected(ControllerError::TopicAlreadyExists(
            _
        )))
    ));
    let ids = follower
        .allocate_producer_ids(2, 100)
        .await
        .expect("ids")
        .value;
    let more = controllers[0]
        .allocate_producer_ids(3, 100)
        .await
        .expect("ids")
        .value;
    assert!(
        more.start >= ids.end || ids.start >= more.end,
        "{ids:?} {more:?}"
    );
    for c in &controllers {
        c.quorum().shutdown().await;
    }
}
