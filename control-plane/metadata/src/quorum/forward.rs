//! Admin requests on a cluster: run on the active controller, forwarded to it from
//! every other node (Kafka's envelope forwarding role), answered once the change is in
//! this node's image.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use strata_proto::TopicId;
use strata_rpc::controller as pb;
use strata_rpc::controller::controller_client::ControllerClient as Client;
use strata_rpc::{Code, Request, Response, Status};
use tonic::transport::Channel;

use super::sessions::BrokerSessions;
use super::{controller_log::QuorumLog, Quorum, QuorumDescription, QuorumError, QuorumReplica};
use crate::controller::{
    BrokerRegistrationRequest, ControllerError, CreateTopicSpec, Heartbeat, HeartbeatOutcome,
};
use crate::controller_client::{
    CommitError, Committed, Controller, ControllerClient, ControllerSettings, CreatedTopic,
};
use crate::image::MetadataImage;

type Rpc = Client<Channel>;

/// The controller of a node in a cluster: the rules run on the quorum's leader; on
/// any other node each call is forwarded to it over gRPC, retried at the new leader
/// when leadership moves, and answered once this node has applied the change.
pub struct ClusterController {
    local: Controller<QuorumLog>,
    clients: Mutex<HashMap<String, Rpc>>,
    /// Brokers' heartbeat deadlines, kept while this node is the active controller.
    sessions: BrokerSessions,
    /// Control-plane addresses of the controllers named in the config
    /// (`controller.quorum.voters` or `controller.quorum.bootstrap.servers`), tried in
    /// turn while this node does not know where the leader is (an observer that has not
    /// joined yet).
    bootstrap: Vec<String>,
    next_bootstrap: std::sync::atomic::AtomicUsize,
    stop: tokio::sync::watch::Sender<bool>,
}

/// How often the active controller looks for expired broker sessions.
const SESSION_CHECK: Duration = Duration::from_millis(250);

impl ClusterController {
    /// The controller of a cluster node; brokers that send no heartbeat within
    /// `session_timeout` (`broker.session.timeout.ms`) are fenced.
    /// `bootstrap` lists controllers' control-plane addresses to ask when the leader is
    /// unknown here.
    pub fn new(
        quorum: Arc<Quorum>,
        settings: ControllerSettings,
        session_timeout: Duration,
        bootstrap: Vec<String>,
    ) -> Arc<Self> {
        Arc::new(Self {
            local: Controller::over(QuorumLog::new(quorum), settings),
            clients: Mutex::default(),
            sessions: BrokerSessions::new(session_timeout),
            bootstrap,
            next_bootstrap: Default::default(),
            stop: tokio::sync::watch::channel(false).0,
        })
    }

    /// Joins the quorum as an observer (a node that is not a voter), retrying until a
    /// leader has taken it or `wait` passes; the log then arrives from the leader.
    pub async fn join_as_observer(&self, address: &str, wait: Duration) -> Result<(), CommitError> {
        let q = self.quorum().clone();
        let node_id = q.settings().node_id;
        let req = pb::JoinQuorumRequest {
            cluster_id: self.cluster_id(),
            node_id,
            address: address.to_string(),
        };
        let deadline = Instant::now() + wait;
        loop {
            let done = self
                .route(
                    || {
                        let q = q.clone();
                        let addr = address.to_string();
                        Box::pin(async move {
                            q.join_observer(node_id, &addr).await?;
                            Ok(Committed {
                                value: (),
                                image: q.image(),
                            })
                        })
                    },
                    |mut c| {
                        let req = req.clone();
                        Box::pin(async move { c.join_quorum(req).await })
                    },
                    |_| Ok(()),
                )
                .await;
            match done {
                Ok(_) => return Ok(()),
                Err(CommitError::Quorum(e)) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "joining the quorum as an observer");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Promotes (`add`) or demotes voter `node_id` where the leader is.
    async fn change_voter(&self, node_id: u64, add: bool) -> Result<(), CommitError> {
        let req = pb::VoterChangeRequest {
            cluster_id: self.cluster_id(),
            node_id,
        };
        let q = self.quorum().clone();
        self.route(
            || {
                let q = q.clone();
                Box::pin(async move {
                    let done = if add {
                        q.promote(node_id).await
                    } else {
                        q.demote(node_id).await
                    };
                    committed(&q, done)
                })
            },
            |mut c| {
                let req = req.clone();
                Box::pin(async move {
                    if add {
                        c.add_voter(req).await
                    } else {
                        c.remove_voter(req).await
                    }
                })
            },
            |_| Ok(()),
        )
        .await
        .map(|_| ())
    }

    /// The address to send a call to when this node is not the leader: the leader's,
    /// when known, else the next configured controller.
    fn leader_or_bootstrap(&self, leader: Option<u64>) -> Option<String> {
        if let Some(addr) = leader.and_then(|id| self.quorum().address_of(id)) {
            return Some(addr);
        }
        if self.bootstrap.is_empty() {
            return None;
        }
        let i = self
            .next_bootstrap
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(self.bootstrap[i % self.bootstrap.len()].clone())
    }

    /// Starts the task that, while this node is the active controller, fences brokers
    /// whose session expired (their leaderships move to other in-sync replicas).
    pub fn start_session_monitor(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        let mut stop = self.stop.subscribe();
        let rebalance = self.local.settings().leader_rebalance;
        tokio::spawn(async move {
            let mut next_rebalance = rebalance.map(|r| Instant::now() + r.interval);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(SESSION_CHECK) => {}
                    _ = stop.changed() => return,
                }
                let Some(c) = me.upgrade() else { return };
                let now = Instant::now();
                let leading = c.quorum().is_leader();
                c.sessions.set_leader(leading, now);
                if !leading {
                    continue;
                }
                if let (Some(r), Some(at)) = (rebalance, next_rebalance) {
                    if now >= at {
                        next_rebalance = Some(now + r.interval);
                        c.rebalance_leaders(r.per_broker_percentage).await;
                    }
                }
                for broker in c.sessions.expired(&c.image(), now) {
                    match c.local.fence(broker).await {
                        Ok(_) => tracing::warn!(
                            broker,
                            "broker missed its session (no heartbeat within broker.session.timeout.ms): fenced, its leaderships moved"
                        ),
                        Err(e) => tracing::debug!(broker, error = %e, "fencing deferred"),
                    }
                }
            }
        });
    }

    /// `auto.leader.rebalance.enable`: moves leaderships back to the preferred replicas
    /// of brokers over the imbalance threshold.
    async fn rebalance_leaders(&self, percentage: i32) {
        let which = crate::controller::imbalanced(&self.image(), percentage);
        if which.is_empty() {
            return;
        }
        let n = which.len();
        match self.local.elect_preferred(Some(which)).await {
            Ok(_) => tracing::info!(
                partitions = n,
                "leader imbalance: preferred leaders elected"
            ),
            Err(e) => tracing::debug!(error = %e, "leader rebalance deferred"),
        }
    }

    /// Registration on the active controller: refused while another incarnation of the
    /// same node id holds a live session.
    async fn register_here(
        &self,
        req: &BrokerRegistrationRequest,
    ) -> Result<Committed<()>, CommitError> {
        let now = Instant::now();
        if self
            .sessions
            .held_by_other(req.broker_id, req.incarnation_id, now)
        {
            return Err(CommitError::Rejected(
                ControllerError::DuplicateBrokerRegistration(format!(
                    "Another broker is registered with node.id {} and its session has not \
                     expired: a second process with the same node.id, or a restart before \
                     broker.session.timeout.ms passed",
                    req.broker_id
                )),
            ));
        }
        let done = self.local.register(req, true).await?;
        let index = self.quorum().applied_index().unwrap_or(0);
        self.sessions
            .registered(req.broker_id, req.incarnation_id, index, now);
        Ok(done)
    }

    /// A heartbeat on the active controller.
    async fn heartbeat_here(
        &self,
        hb: &Heartbeat,
    ) -> Result<Committed<HeartbeatOutcome>, CommitError> {
        let registered_at = self.sessions.registered_at(hb.broker_id);
        let done = self.local.beat(hb, registered_at).await?;
        if done.value.known {
            self.sessions
                .touch(hb.broker_id, hb.incarnation_id, Instant::now());
        }
        Ok(done)
    }

    pub fn quorum(&self) -> &Arc<Quorum> {
        self.local.log().quorum()
    }

    fn client(&self, addr: &str) -> Result<Rpc, CommitError> {
        let mut clients = self.clients.lock();
        if let Some(c) = clients.get(addr) {
            return Ok(c.clone());
        }
        let rpc = &self.quorum().settings().rpc;
        let ch = strata_rpc::channel(addr, rpc)
            .map_err(|e| CommitError::Quorum(QuorumError::Forward(e.to_string())))?;
        let c = strata_rpc::controller_client(ch, rpc);
        clients.insert(addr.to_string(), c.clone());
        Ok(c)
    }

    fn cluster_id(&self) -> String {
        self.quorum().settings().cluster_id.clone()
    }

    /// Runs a call where the leader is: `local` here when this node leads, else
    /// `remote` against the leader, until one answers or the write timeout passes.
    async fn route<'a, T: Send>(
        &'a self,
        local: impl Fn() -> BoxFuture<'a, Result<Committed<T>, CommitError>> + Send + Sync + 'a,
        remote: impl Fn(Rpc) -> BoxFuture<'static, Result<Response<pb::AdminReply>, Status>>
            + Send
            + Sync,
        value: impl Fn(&pb::AdminReply) -> Result<T, CommitError> + Send + Sync,
    ) -> Result<Committed<T>, CommitError> {
        let quorum = self.quorum().clone();
        let wait = quorum.settings().write_timeout;
        let deadline = Instant::now() + wait;
        loop {
            let leader = quorum.leader();
            let me = quorum.settings().node_id;
            let retry = if leader == Some(me) {
                match local().await {
                    Err(CommitError::Quorum(QuorumError::NotLeader { .. })) => true,
                    done => return done,
                }
            } else {
                match self.leader_or_bootstrap(leader) {
                    None => true,
                    Some(addr) => match remote(self.client(&addr)?).await {
                        Ok(r) => {
                            let reply = r.into_inner();
                            if reply.not_leader {
                                true
                            } else {
                                return self.finish(&reply, &value).await;
                            }
                        }
                        Err(s) if s.code() == Code::Unavailable => true,
                        Err(s) if s.code() == Code::DeadlineExceeded => {
                            return Err(CommitError::Quorum(QuorumError::Timeout(wait)))
                        }
                        Err(s) => {
                            return Err(CommitError::Quorum(QuorumError::Forward(format!(
                                "{addr}: {s}"
                            ))))
                        }
                    },
                }
            };
            if retry && Instant::now() >= deadline {
                return Err(CommitError::Quorum(QuorumError::NotLeader {
                    leader: leader.and_then(|id| quorum.address_of(id).map(|a| (id, a))),
                }));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn finish<T>(
        &self,
        reply: &pb::AdminReply,
        value: &impl Fn(&pb::AdminReply) -> Result<T, CommitError>,
    ) -> Result<Committed<T>, CommitError> {
        if let Some(r) = &reply.refusal {
            return Err(CommitError::Rejected(refusal_error(r)));
        }
        // 0: nothing this node has to wait for (an observer joining has no log yet).
        if reply.applied_index > 0 {
            self.quorum().wait_applied(reply.applied_index).await?;
        }
        Ok(Committed {
            value: value(reply)?,
            image: self.image(),
        })
    }
}

/// A membership change's result as a controller call's: a refused change (already a
/// voter, not an observer, the last voter, one change already under way) is the
/// caller's mistake, answered with Kafka's code for it.
fn committed(quorum: &Quorum, r: Result<(), QuorumError>) -> Result<Committed<()>, CommitError> {
    match r {
        Ok(()) => Ok(Committed {
            value: (),
            image: quorum.image(),
        }),
        Err(QuorumError::Membership(m)) => {
            Err(CommitError::Rejected(ControllerError::InvalidRequest(m)))
        }
        Err(QuorumError::DuplicateVoter(m)) => {
            Err(CommitError::Rejected(ControllerError::DuplicateVoter(m)))
        }
        Err(QuorumError::VoterNotFound(m)) => {
            Err(CommitError::Rejected(ControllerError::VoterNotFound(m)))
        }
        Err(e) => Err(CommitError::Quorum(e)),
    }
}

fn replica(r: &QuorumReplica) -> pb::QuorumReplica {
    pb::QuorumReplica {
        node_id: r.node_id,
        address: r.address.clone(),
        log_end: r.log_end.map_or(-1, |i| i as i64),
    }
}

fn from_replica(r: pb::QuorumReplica) -> QuorumReplica {
    QuorumReplica {
        node_id: r.node_id,
        address: r.address,
        log_end: u64::try_from(r.log_end).ok(),
    }
}

fn from_description(d: pb::QuorumDescription) -> QuorumDescription {
    QuorumDescription {
        leader_id: u64::try_from(d.leader_id).ok(),
        term: d.term,
        high_watermark: u64::try_from(d.high_watermark).ok(),
        voters: d.voters.into_iter().map(from_replica).collect(),
        observers: d.observers.into_iter().map(from_replica).collect(),
    }
}

fn replicas(m: &BTreeMap<i32, Vec<i32>>) -> HashMap<i32, pb::Replicas> {
    m.iter()
        .map(|(p, ids)| {
            (
                *p,
                pb::Replicas {
                    broker_ids: ids.clone(),
                },
            )
        })
        .collect()
}

fn from_replicas(m: HashMap<i32, pb::Replicas>) -> BTreeMap<i32, Vec<i32>> {
    m.into_iter().map(|(p, r)| (p, r.broker_ids)).collect()
}

fn topic_id(bytes: &[u8]) -> Result<TopicId, CommitError> {
    let b: [u8; 16] = bytes.try_into().map_err(|_| {
        CommitError::Quorum(QuorumError::Forward(format!(
            "a topic id of {} bytes",
            bytes.len()
        )))
    })?;
    Ok(TopicId::from_bytes(b))
}

fn incarnation(bytes: &[u8]) -> Result<[u8; 16], Status> {
    bytes.try_into().map_err(|_| {
        Status::invalid_argument(format!("an incarnation id of {} bytes", bytes.len()))
    })
}

fn refusal(e: &ControllerError) -> pb::Refusal {
    use pb::RefusalKind as K;
    let kind = match e {
        ControllerError::TopicAlreadyExists(_) => K::TopicAlreadyExists,
        ControllerError::InvalidTopic(_) => K::InvalidTopic,
        ControllerError::InvalidPartitions(_) => K::InvalidPartitions,
        ControllerError::InvalidReplicationFactor(_) => K::InvalidReplicationFactor,
        ControllerError::InvalidReplicaAssignment(_) => K::InvalidReplicaAssignment,
        ControllerError::InvalidConfig(_) => K::InvalidConfig,
        ControllerError::UnknownTopic(_) => K::UnknownTopic,
        ControllerError::InvalidRequest(_) => K::InvalidRequest,
        ControllerError::DuplicateBrokerRegistration(_) => K::DuplicateBrokerRegistration,
        ControllerError::DuplicateVoter(_) => K::DuplicateVoter,
        ControllerError::VoterNotFound(_) => K::VoterNotFound,
    };
    pb::Refusal {
        kind: kind as i32,
        message: e.to_string(),
    }
}

fn refusal_error(r: &pb::Refusal) -> ControllerError {
    use pb::RefusalKind as K;
    let m = r.message.clone();
    match K::try_from(r.kind).unwrap_or(K::Unspecified) {
        K::TopicAlreadyExists => ControllerError::TopicAlreadyExists(m),
        K::InvalidTopic => ControllerError::InvalidTopic(m),
        K::InvalidPartitions => ControllerError::InvalidPartitions(m),
        K::InvalidReplicationFactor => ControllerError::InvalidReplicationFactor(m),
        K::InvalidReplicaAssignment => ControllerError::InvalidReplicaAssignment(m),
        K::InvalidConfig => ControllerError::InvalidConfig(m),
        K::UnknownTopic => ControllerError::UnknownTopic(m),
        K::DuplicateBrokerRegistration => ControllerError::DuplicateBrokerRegistration(m),
        K::DuplicateVoter => ControllerError::DuplicateVoter(m),
        K::VoterNotFound => ControllerError::VoterNotFound(m),
        K::InvalidRequest | K::Unspecified => ControllerError::InvalidRequest(m),
    }
}

#[async_trait::async_trait]
impl ControllerClient for ClusterController {
    fn image(&self) -> Arc<MetadataImage> {
        self.local.image()
    }

    fn watch(&self) -> Option<tokio::sync::watch::Receiver<Arc<MetadataImage>>> {
        Some(self.quorum().subscribe())
    }

    fn active_controller(&self) -> Option<i32> {
        self.quorum().leader().and_then(|l| i32::try_from(l).ok())
    }

    async fn shutdown(&self) {
        self.stop.send_replace(true);
        self.quorum().shutdown().await;
    }

    async fn create_topic(
        &self,
        spec: &CreateTopicSpec,
        id: Option<TopicId>,
        validate_only: bool,
    ) -> Result<Committed<CreatedTopic>, CommitError> {
        let req = pb::CreateTopicRequest {
            cluster_id: self.cluster_id(),
            name: spec.name.clone(),
            num_partitions: spec.num_partitions,
            replication_factor: i32::from(spec.replication_factor),
            assignments: replicas(&spec.assignments),
            configs: spec.configs.clone().into_iter().collect(),
            topic_id: id.map(|i| i.as_bytes().to_vec()).unwrap_or_default().into(),
            validate_only,
        };
        self.route(
            || Box::pin(self.local.create_topic(spec, id, validate_only)),
            |mut c| {
                let req = req.clone();
                Box::pin(async move { c.create_topic(req).await })
            },
            |r| {
                Ok(CreatedTopic {
                    id: topic_id(&r.topic_id)?,
                    num_partitions: r.num_partitions,
                    replication_factor: r.replication_factor as i16,
                })
            },
        )
        .await
    }

    async fn delete_topic(&self, name: &str) -> Result<Committed<TopicId>, CommitError> {
        let req = pb::DeleteTopicRequest {
            cluster_id: self.cluster_id(),
            name: name.to_string(),
        };
        self.route(
            || Box::pin(self.local.delete_topic(name)),
            |mut c| {
                let req = req.clone();
                Box::pin(async move { c.delete_topic(req).await })
            },
            |r| topic_id(&r.topic_id),
        )
        .await
    }

    async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: &BTreeMap<i32, Vec<i32>>,
        validate_only: bool,
    ) -> Result<Committed<()>, CommitError> {
        let req = pb::CreatePartitionsRequest {
            cluster_id: self.cluster_id(),
            name: name.to_string(),
            count,
            assignments: replicas(assignments),
            validate_only,
        };
        self.route(
            || {
                Box::pin(
                    self.local
                        .create_partitions(name, count, assignments, validate_only),
                )
            },
            |mut c| {
                let req = req.clone();
                Box::pin(async move { c.create_partitions(req).await })
            },
            |_| Ok(()),
        )
        .await
    }

    async fn alter_topic_configs(
        &self,
        name: &str,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
        replace_all: bool,
        validate_only: bool,
    ) -> Result<Committed<()>, CommitError> {
        let req = pb::AlterTopicConfigsRequest {
            cluster_id: self.cluster_id(),
            name: name.to_string(),
            set: set.clone().into_iter().collect(),
            delete: delete.clone(),
            replace_all,
            validate_only,
        };
        self.route(
            || {
                Box::pin(self.local.alter_topic_configs(
                    name,
                    set.clone(),
                    delete.clone(),
                    replace_all,
                    validate_only,
                ))
            },
            |mut c| {
                let req = req.clone();
                Box::pin(async move { c.alter_topic_configs(req).await })
            },
            |_| Ok(()),
        )
        .await
    }

    async fn allocate_producer_ids(
        &self,
        broker_id: i32,
        block: u32,
    ) -> Result<Committed<Range<i64>>, CommitError> {
        let req = pb::AllocateProducerIdsRequest {
            cluster_id: self.cluster_id(),
            broker_id,
            block,
        };
        self.route(
            || Box::pin(self.local.allocate_producer_ids(broker_id, block)),
            |mut c| {
                let req = req.clone();
                Box::pin(async move { c.allocate_producer_ids(req).await })
            },
            |r| Ok(r.first_producer_id..r.end_producer_id),
        )
        .await
    }

    async fn register_broker(
        &self,
        r: &BrokerRegistrationRequest,
    ) -> Result<Committed<()>, CommitError> {
        let req = pb::RegisterBrokerRequest {
            cluster_id: self.cluster_id(),
            broker_id: r.broker_id,
            host: r.host.clone(),
            port: r.port,
            rack: r.rack.clone(),
            incarnation_id: r.incarnation_id.to_vec().into(),
        };
        self.route(
            || Box::pin(self.register_here(r)),
            |mut c| {
                let req = req.clone();
                Box::pin(async move { c.register_broker(req).await })
            },
            |_| Ok(()),
        )
        .await
    }

    fn fences_brokers(&self) -> bool {
        true
    }

    async fn heartbeat(&self, mut hb: Heartbeat) -> Result<HeartbeatOutcome, CommitError> {
        hb.applied_index = self.quorum().applied_index().unwrap_or(0);
        let req = pb::BrokerHeartbeatRequest {
            cluster_id: self.cluster_id(),
            broker_id: hb.broker_id,
            incarnation_id: hb.incarnation_id.to_vec().into(),
            applied_index: hb.applied_index,
            want_shut_down: hb.want_shut_down,
        };
        let done = self
            .route(
                || Box::pin(self.heartbeat_here(&hb)),
                |mut c| {
                    let req = req.clone();
                    Box::pin(async move { c.broker_heartbeat(req).await })
                },
                |r| {
                    Ok(HeartbeatOutcome {
                        known: r.broker_known,
                        fenced: r.broker_fenced,
                        should_shut_down: r.should_shut_down,
                    })
                },
            )
            .await?;
        Ok(done.value)
    }

    async fn elect_preferred_leaders(
        &self,
        which: Option<Vec<(String, i32)>>,
    ) -> Result<Committed<()>, CommitError> {
        let req = pb::ElectPreferredLeadersRequest {
            cluster_id: self.cluster_id(),
            all: which.is_none(),
            partitions: which
                .iter()
                .flatten()
                .map(|(topic, partition)| pb::TopicPartition {
                    topic: topic.clone(),
                    partition: *partition,
                })
                .collect(),
        };
        self.route(
            || Box::pin(self.local.elect_preferred(which.clone())),
            |mut c| {
                let req = req.clone();
                Box::pin(async move { c.elect_preferred_leaders(req).await })
            },
            |_| Ok(()),
        )
        .await
    }

    async fn describe_quorum(&self) -> Result<Option<QuorumDescription>, CommitError> {
        let quorum = self.quorum().clone();
        let wait = quorum.settings().write_timeout;
        let deadline = Instant::now() + wait;
        let req = pb::DescribeQuorumRequest {
            cluster_id: self.cluster_id(),
        };
        loop {
            let leader = quorum.leader();
            if quorum.is_leader() {
                return Ok(Some(quorum.describe()));
            }
            if let Some(addr) = self.leader_or_bootstrap(leader) {
                match self.client(&addr)?.describe_quorum(req.clone()).await {
                    Ok(r) if !r.get_ref().not_leader => {
                        return Ok(Some(from_description(r.into_inner())))
                    }
                    Ok(_) => {}
                    Err(s) if s.code() == Code::Unavailable => {}
                    Err(s) => {
                        return Err(CommitError::Quorum(QuorumError::Forward(format!(
                            "{addr}: {s}"
                        ))))
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(CommitError::Quorum(QuorumError::Timeout(wait)));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn add_voter(&self, node_id: u64) -> Result<(), CommitError> {
        self.change_voter(node_id, true).await
    }

    async fn remove_voter(&self, node_id: u64) -> Result<(), CommitError> {
        self.change_voter(node_id, false).await
    }
}

/// Serves forwarded admin requests on the active controller.
pub struct ControllerService {
    controller: Arc<ClusterController>,
}

impl ControllerService {
    pub fn new(controller: Arc<ClusterController>) -> Self {
        Self { controller }
    }

    fn check(&self, cluster_id: &str) -> Result<(), Status> {
        let mine = &self.controller.quorum().settings().cluster_id;
        if cluster_id != mine {
            return Err(Status::failed_precondition(format!(
                "this node is in cluster {mine}, the request is for cluster {cluster_id}"
            )));
        }
        Ok(())
    }

    /// The reply for a local call's result: the applied index on success, the
    /// refusal, or "not the leader" so the sender retries where the leader is.
    fn reply<T>(
        &self,
        result: Result<Committed<T>, CommitError>,
        fill: impl FnOnce(T, &mut pb::AdminReply),
    ) -> Result<Response<pb::AdminReply>, Status> {
        let q = self.controller.quorum();
        let mut reply = pb::AdminReply {
            leader_id: q.leader().map(|l| l as i64).unwrap_or(-1),
            ..Default::default()
        };
        match result {
            Ok(c) => {
                reply.applied_index = q.applied_index().unwrap_or(0);
                fill(c.value, &mut reply);
            }
            Err(CommitError::Rejected(e)) => reply.refusal = Some(refusal(&e)),
            Err(CommitError::Quorum(QuorumError::NotLeader { .. })) => reply.not_leader = true,
            Err(CommitError::Quorum(QuorumError::Timeout(d))) => {
                return Err(Status::deadline_exceeded(format!("no quorum within {d:?}")))
            }
            Err(e) => return Err(Status::internal(e.to_string())),
        }
        Ok(Response::new(reply))
    }

    fn not_leader(&self) -> Option<Result<Response<pb::AdminReply>, Status>> {
        let q = self.controller.quorum();
        (!q.is_leader()).then(|| {
            Ok(Response::new(pb::AdminReply {
                not_leader: true,
                leader_id: q.leader().map(|l| l as i64).unwrap_or(-1),
                ..Default::default()
            }))
        })
    }
}

#[tonic::async_trait]
impl pb::controller_server::Controller for ControllerService {
    async fn create_topic(
        &self,
        req: Request<pb::CreateTopicRequest>,
    ) -> Result<Response<pb::AdminReply>, Status> {
        let r = req.into_inner();
        self.check(&r.cluster_id)?;
        if let Some(answer) = self.not_leader() {
            return answer;
        }
        let id = match r.topic_id.len() {
            0 => None,
            _ => Some(topic_id(&r.topic_id).map_err(|e| Status::invalid_argument(e.to_string()))?),
        };
        let spec = CreateTopicSpec {
            name: r.name,
            num_partitions: r.num_partitions,
            replication_factor: i16::try_from(r.replication_factor)
                .map_err(|_| Status::invalid_argument("replication factor out of range"))?,
            assignments: from_replicas(r.assignments),
            configs: r.configs.into_iter().collect(),
        };
        let result = self
            .controller
            .local
            .create_topic(&spec, id, r.validate_only)
            .await;
        self.reply(result, |t, reply| {
            reply.topic_id = t.id.as_bytes().to_vec().into();
            reply.num_partitions = t.num_partitions;
            reply.replication_factor = i32::from(t.replication_factor);
        })
    }

    async fn delete_topic(
        &self,
        req: Request<pb::DeleteTopicRequest>,
    ) -> Result<Response<pb::AdminReply>, Status> {
        let r = req.into_inner();
        self.check(&r.cluster_id)?;
        if let Some(answer) = self.not_leader() {
            return answer;
        }
        let result = self.controller.local.delete_topic(&r.name).await;
        self.reply(result, |id, reply| {
            reply.topic_id = id.as_bytes().to_vec().into()
        })
    }

    async fn create_partitions(
        &self,
        req: Request<pb::CreatePartitionsRequest>,
    ) -> Result<Response<pb::AdminReply>, Status> {
        let r = req.into_inner();
        self.check(&r.cluster_id)?;
        if let Some(answer) = self.not_leader() {
            return answer;
        }
        let assignments = from_replicas(r.assignments);
        let result = self
            .controller
            .local
            .create_partitions(&r.name, r.count, &assignments, r.validate_only)
            .await;
        self.reply(result, |(), _| {})
    }

    async fn alter_topic_configs(
        &self,
        req: Request<pb::AlterTopicConfigsRequest>,
    ) -> Result<Response<pb::AdminReply>, Status> {
        let r = req.into_inner();
        self.check(&r.cluster_id)?;
        if let Some(answer) = self.not_leader() {
            return answer;
        }
        let result = self
            .controller
            .local
            .alter_topic_configs(
                &r.name,
                r.set.into_iter().collect(),
                r.delete,
                r.replace_all,
                r.validate_only,
            )
            .await;
        self.reply(result, |(), _| {})
    }

    async fn allocate_producer_ids(
        &self,
        req: Request<pb::AllocateProducerIdsRequest>,
    ) -> Result<Response<pb::AdminReply>, Status> {
        let r = req.into_inner();
        self.check(&r.cluster_id)?;
        if let Some(answer) = self.not_leader() {
            return answer;
        }
        let result = self
            .controller
            .local
            .allocate_producer_ids(r.broker_id, r.block)
            .await;
        self.reply(result, |ids, reply| {
            reply.first_producer_id = ids.start;
            reply.end_producer_id = ids.end;
        })
    }

    async fn register_broker(
        &self,
        req: Request<pb::RegisterBrokerRequest>,
    ) -> Result<Response<pb::AdminReply>, Status> {
        let r = req.into_inner();
        self.check(&r.cluster_id)?;
        if let Some(answer) = self.not_leader() {
            return answer;
        }
        let incarnation_id = incarnation(&r.incarnation_id)?;
        let req = BrokerRegistrationRequest {
            broker_id: r.broker_id,
            incarnation_id,
            host: r.host,
            port: r.port,
            rack: r.rack,
        };
        let result = self.controller.register_here(&req).await;
        self.reply(result, |(), _| {})
    }

    async fn broker_heartbeat(
        &self,
        req: Request<pb::BrokerHeartbeatRequest>,
    ) -> Result<Response<pb::AdminReply>, Status> {
        let r = req.into_inner();
        self.check(&r.cluster_id)?;
        if let Some(answer) = self.not_leader() {
            return answer;
        }
        let hb = Heartbeat {
            broker_id: r.broker_id,
            incarnation_id: incarnation(&r.incarnation_id)?,
            applied_index: r.applied_index,
            want_shut_down: r.want_shut_down,
        };
        let result = self.controller.heartbeat_here(&hb).await;
        self.reply(result, |o, reply| {
            reply.broker_known = o.known;
            reply.broker_fenced = o.fenced;
            reply.should_shut_down = o.should_shut_down;
        })
    }

    async fn elect_preferred_leaders(
        &self,
        req: Request<pb::ElectPreferredLeadersRequest>,
    ) -> Result<Response<pb::AdminReply>, Status> {
        let r = req.into_inner();
        self.check(&r.cluster_id)?;
        if let Some(answer) = self.not_leader() {
            return answer;
        }
        let which = (!r.all).then(|| {
            r.partitions
                .into_iter()
                .map(|p| (p.topic, p.partition))
                .collect()
        });
        let result = self.controller.local.elect_preferred(which).await;
        self.reply(result, |(), _| {})
    }

    async fn join_quorum(
        &self,
        req: Request<pb::JoinQuorumRequest>,
    ) -> Result<Response<pb::AdminReply>, Status> {
        let r = req.into_inner();
        self.check(&r.cluster_id)?;
        if let Some(answer) = self.not_leader() {
            return answer;
        }
        let q = self.controller.quorum();
        let result = committed(q, q.join_observer(r.node_id, &r.address).await);
        let mut reply = self.reply(result, |(), _| {})?;
        // The observer has no log yet: it must not wait to apply the membership entry.
        reply.get_mut().applied_index = 0;
        Ok(reply)
    }

    async fn describe_quorum(
        &self,
        req: Request<pb::DescribeQuorumRequest>,
    ) -> Result<Response<pb::QuorumDescription>, Status> {
        let r = req.into_inner();
        self.check(&r.cluster_id)?;
        let q = self.controller.quorum();
        if !q.is_leader() {
            return Ok(Response::new(pb::QuorumDescription {
                not_leader: true,
                leader_id: q.leader().map_or(-1, |l| l as i64),
                ..Default::default()
            }));
        }
        let d = q.describe();
        Ok(Response::new(pb::QuorumDescription {
            leader_id: d.leader_id.map_or(-1, |l| l as i64),
            term: d.term,
            high_watermark: d.high_watermark.map_or(-1, |i| i as i64),
            voters: d.voters.iter().map(replica).collect(),
            observers: d.observers.iter().map(replica).collect(),
            not_leader: false,
        }))
    }

    async fn add_voter(
        &self,
        req: Request<pb::VoterChangeRequest>,
    ) -> Result<Response<pb::AdminReply>, Status> {
        let r = req.into_inner();
        self.check(&r.cluster_id)?;
        if let Some(answer) = self.not_leader() {
            return answer;
        }
        let q = self.controller.quorum();
        let result = committed(q, q.promote(r.node_id).await);
        self.reply(result, |(), _| {})
    }

    async fn remove_voter(
        &self,
        req: Request<pb::VoterChangeRequest>,
    ) -> Result<Response<pb::AdminReply>, Status> {
        let r = req.into_inner();
        self.check(&r.cluster_id)?;
        if let Some(answer) = self.not_leader() {
            return answer;
        }
        let q = self.controller.quorum();
        let result = committed(q, q.demote(r.node_id).await);
        self.reply(result, |(), _| {})
    }
}
