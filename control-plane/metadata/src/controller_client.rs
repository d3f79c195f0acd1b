//! The seam between a broker and the controller: what a broker asks of the cluster's
//! metadata, and [`LocalController`], the single-node implementation over the local
//! metadata log. A Raft-backed controller (forwarding to the active controller over
//! gRPC) implements the same trait; brokers and their handlers do not change.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use strata_log::LogConfig;
use strata_proto::TopicId;

use crate::controller::{
    self, check_partition_limits, validate_tiering, BrokerRegistrationRequest, ControllerError,
    CreateTopicSpec, Heartbeat, HeartbeatOutcome, PartitionLimits,
};
use crate::error::MetadataError;
use crate::image::MetadataImage;
use crate::quorum::QuorumDescription;
use crate::records::metadata_record::Record;
use crate::records::MetadataRecord;
use crate::store::MetadataStore;

/// Why a controller call failed: the controller refused it (a Kafka error code for the
/// client), or the metadata log could not take it.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Rejected(#[from] ControllerError),
    #[error("metadata log: {0}")]
    Log(#[from] MetadataError),
    /// The quorum could not take the change: this node is not the active controller
    /// (forward it), or no majority answered in time (retry).
    #[error("metadata quorum: {0}")]
    Quorum(crate::quorum::QuorumError),
}

/// A call's answer with the image it left (the committed one, or the unchanged one for
/// a `validate_only` call or a change that was a no-op).
#[derive(Debug, Clone)]
pub struct Committed<T> {
    pub value: T,
    pub image: Arc<MetadataImage>,
}

/// A topic as created (or as it would be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedTopic {
    pub id: TopicId,
    pub num_partitions: i32,
    pub replication_factor: i16,
}

/// What a broker asks of the controller. Every call is validated against the
/// controller's latest image and, unless `validate_only`, durable on return (with a
/// quorum: committed by a majority), so the calls are async: a quorum answers after
/// the network round trips, and the local controller runs its fsync off the workers.
#[async_trait::async_trait]
pub trait ControllerClient: Send + Sync {
    /// The latest committed image.
    fn image(&self) -> Arc<MetadataImage>;
    /// Committed images as they arrive, including changes made through other nodes of
    /// a cluster; `None` when every change goes through this node's own calls.
    fn watch(&self) -> Option<tokio::sync::watch::Receiver<Arc<MetadataImage>>> {
        None
    }
    /// The node id of the active controller, when one is known.
    fn active_controller(&self) -> Option<i32>;
    /// Stops what the controller runs (a quorum node and its server).
    async fn shutdown(&self) {}
    /// CreateTopics for one topic; `id` re-uses a topic id (a topic recovered from
    /// the remote tier keeps the incarnation its objects are filed under).
    async fn create_topic(
        &self,
        spec: &CreateTopicSpec,
        id: Option<TopicId>,
        validate_only: bool,
    ) -> Result<Committed<CreatedTopic>, CommitError>;
    /// DeleteTopics for one topic; answers the deleted incarnation's id.
    async fn delete_topic(&self, name: &str) -> Result<Committed<TopicId>, CommitError>;
    /// CreatePartitions: grows `name` to `count` partitions.
    async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: &BTreeMap<i32, Vec<i32>>,
        validate_only: bool,
    ) -> Result<Committed<()>, CommitError>;
    /// (Incremental)AlterConfigs on a topic.
    async fn alter_topic_configs(
        &self,
        name: &str,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
        replace_all: bool,
        validate_only: bool,
    ) -> Result<Committed<()>, CommitError>;
    /// A block of producer ids never handed out before (AllocateProducerIds).
    async fn allocate_producer_ids(
        &self,
        broker_id: i32,
        block: u32,
    ) -> Result<Committed<Range<i64>>, CommitError>;
    /// Registers (or re-registers) a broker and its listener.
    async fn register_broker(
        &self,
        req: &BrokerRegistrationRequest,
    ) -> Result<Committed<()>, CommitError>;
    /// Whether brokers must heartbeat to stay unfenced (a cluster); a single node is
    /// always alive and never heartbeats.
    fn fences_brokers(&self) -> bool {
        false
    }
    /// A broker's liveness heartbeat; `applied_index` is filled in by the client.
    async fn heartbeat(&self, hb: Heartbeat) -> Result<HeartbeatOutcome, CommitError>;
    /// Preferred-leader election (ElectLeaders PREFERRED) over `which`, or every
    /// partition when `None`.
    async fn elect_preferred_leaders(
        &self,
        which: Option<Vec<(String, i32)>>,
    ) -> Result<Committed<()>, CommitError>;
    /// The metadata quorum (DescribeQuorum); `None` on a single node, whose only voter
    /// is itself.
    async fn describe_quorum(&self) -> Result<Option<QuorumDescription>, CommitError> {
        Ok(None)
    }
    /// Promotes an observer to voter (AddRaftVoter); a single node's quorum is fixed.
    async fn add_voter(&self, node_id: u64) -> Result<(), CommitError> {
        Err(CommitError::Rejected(ControllerError::InvalidRequest(
            format!(
                "node {node_id}: a single node has a fixed one-voter quorum; \
             start a cluster with controller.quorum.bootstrap.servers"
            ),
        )))
    }
    /// Demotes a voter to observer (RemoveRaftVoter).
    async fn remove_voter(&self, node_id: u64) -> Result<(), CommitError> {
        Err(CommitError::Rejected(ControllerError::InvalidRequest(
            format!("node {node_id}: a single node has a fixed one-voter quorum"),
        )))
    }
}

/// How the local controller fills in and bounds requests.
#[derive(Debug, Clone)]
pub struct ControllerSettings {
    /// `num.partitions` and `default.replication.factor`, for -1.
    pub defaults: (i32, i16),
    pub limits: PartitionLimits,
    /// The broker's log defaults, against which topic overrides are checked.
    pub log_defaults: LogConfig,
    /// `remote.log.storage.system.enable`.
    pub tiered_storage: bool,
    /// This node, the only broker when none is registered yet.
    pub node_id: i32,
    /// `auto.leader.rebalance.enable` and its interval and threshold; `None` when off.
    pub leader_rebalance: Option<LeaderRebalance>,
}

/// When the active controller moves leaderships back to preferred replicas (Kafka's
/// `leader.imbalance.check.interval.seconds` and `leader.imbalance.per.broker.percentage`).
#[derive(Debug, Clone, Copy)]
pub struct LeaderRebalance {
    pub interval: std::time::Duration,
    pub per_broker_percentage: i32,
}

/// Where a controller's records go: validated against the latest committed image,
/// then made durable. The rules (what a request turns into) are [`Controller`]'s and
/// the same for every backend.
#[async_trait::async_trait]
pub trait MetadataLog: Send + Sync {
    /// The latest committed image.
    fn image(&self) -> Arc<MetadataImage>;
    /// Runs `f` against the latest committed image (no other write in between) and
    /// commits the records it returns, unless `validate_only` or there are none.
    async fn apply<T: Send>(
        &self,
        validate_only: bool,
        f: impl for<'i> FnOnce(&'i MetadataImage) -> Result<(T, Vec<MetadataRecord>), ControllerError>
            + Send,
    ) -> Result<Committed<T>, CommitError>;
}

/// The controller: Strata's rules for admin requests over a [`MetadataLog`] (the
/// local metadata log of a single node, or the Raft quorum).
pub struct Controller<L> {
    log: L,
    settings: ControllerSettings,
}

/// The controller of a single node without a quorum: the local metadata log.
pub type LocalController = Controller<LocalMetadataLog>;

impl LocalController {
    pub fn new(store: MetadataStore, settings: ControllerSettings) -> Self {
        Controller::over(LocalMetadataLog::new(store), settings)
    }
}

impl<L: MetadataLog> Controller<L> {
    /// The rules of `settings` over `log`.
    pub fn over(log: L, settings: ControllerSettings) -> Self {
        Self { log, settings }
    }

    /// The log the controller commits to.
    pub fn log(&self) -> &L {
        &self.log
    }

    /// The rules' settings.
    pub fn settings(&self) -> &ControllerSettings {
        &self.settings
    }

    fn brokers(&self, image: &MetadataImage) -> Vec<i32> {
        let mut ids = controller::usable_brokers(image);
        if ids.is_empty() {
            ids.push(self.settings.node_id);
        }
        ids
    }
}

/// The local metadata log ([`MetadataStore`]) as a controller's backend; its commits
/// fsync, so they run off the async workers.
pub struct LocalMetadataLog {
    store: Mutex<MetadataStore>,
    image: RwLock<Arc<MetadataImage>>,
}

impl LocalMetadataLog {
    pub fn new(store: MetadataStore) -> Self {
        let image = Arc::new(store.image().clone());
        Self {
            store: Mutex::new(store),
            image: RwLock::new(image),
        }
    }

    fn apply_now<T>(
        &self,
        validate_only: bool,
        f: impl FnOnce(&MetadataImage) -> Result<(T, Vec<MetadataRecord>), ControllerError>,
    ) -> Result<Committed<T>, CommitError> {
        let mut store = self.store.lock();
        let (value, records) = f(store.image())?;
        if validate_only || records.is_empty() {
            return Ok(Committed {
                value,
                image: self.image.read().clone(),
            });
        }
        store.commit(records)?;
        let image = Arc::new(store.image().clone());
        *self.image.write() = image.clone();
        Ok(Committed { value, image })
    }
}

#[async_trait::async_trait]
impl MetadataLog for LocalMetadataLog {
    fn image(&self) -> Arc<MetadataImage> {
        self.image.read().clone()
    }

    async fn apply<T: Send>(
        &self,
        validate_only: bool,
        f: impl for<'i> FnOnce(&'i MetadataImage) -> Result<(T, Vec<MetadataRecord>), ControllerError>
            + Send,
    ) -> Result<Committed<T>, CommitError> {
        off_worker(|| self.apply_now(validate_only, f))
    }
}

fn partition_shape(records: &[MetadataRecord]) -> (i32, i16) {
    let mut count = 0;
    let mut rf = 0;
    for r in records {
        if let Some(Record::Partition(p)) = &r.record {
            count += 1;
            rf = p.replicas.len() as i16;
        }
    }
    (count, rf)
}

#[async_trait::async_trait]
impl<L: MetadataLog> ControllerClient for Controller<L> {
    fn image(&self) -> Arc<MetadataImage> {
        self.log.image()
    }

    fn active_controller(&self) -> Option<i32> {
        Some(self.settings.node_id)
    }

    async fn create_topic(
        &self,
        spec: &CreateTopicSpec,
        id: Option<TopicId>,
        validate_only: bool,
    ) -> Result<Committed<CreatedTopic>, CommitError> {
        let s = &self.settings;
        validate_tiering(&s.log_defaults, s.tiered_storage, &spec.configs, None)?;
        self.log
            .apply(validate_only, |image| {
                let brokers = self.brokers(image);
                let (id, records) =
                    controller::create_topic_with_id(image, spec, s.defaults, &brokers, id)?;
                check_partition_limits(image, &records, s.limits)?;
                let (num_partitions, replication_factor) = partition_shape(&records);
                let created = CreatedTopic {
                    id,
                    num_partitions,
                    replication_factor,
                };
                Ok((created, records))
            })
            .await
    }

    async fn delete_topic(&self, name: &str) -> Result<Committed<TopicId>, CommitError> {
        self.log
            .apply(false, |image| {
                let id = image
                    .topic(name)
                    .map(|t| t.id)
                    .ok_or_else(|| ControllerError::UnknownTopic(name.to_string()))?;
                Ok((id, controller::delete_topic(image, name)?))
            })
            .await
    }

    async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: &BTreeMap<i32, Vec<i32>>,
        validate_only: bool,
    ) -> Result<Committed<()>, CommitError> {
        self.log
            .apply(validate_only, |image| {
                let brokers = self.brokers(image);
                let records =
                    controller::create_partitions(image, name, count, assignments, &brokers)?;
                check_partition_limits(image, &records, self.settings.limits)?;
                Ok(((), records))
            })
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
        let s = &self.settings;
        self.log
            .apply(validate_only, |image| {
                if let Some(topic) = image.topic(name) {
                    let mut next = if replace_all {
                        BTreeMap::new()
                    } else {
                        topic.configs.clone()
                    };
                    for k in &delete {
                        next.remove(k);
                    }
                    next.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
                    let current = s.log_defaults.with_overrides(&topic.configs).ok();
                    validate_tiering(&s.log_defaults, s.tiered_storage, &next, current.as_ref())?;
                }
                let records =
                    controller::alter_topic_configs(image, name, set, delete, replace_all)?;
                Ok(((), records))
            })
            .await
    }

    async fn allocate_producer_ids(
        &self,
        broker_id: i32,
        block: u32,
    ) -> Result<Committed<Range<i64>>, CommitError> {
        self.log
            .apply(false, |image| {
                let (first, records) = controller::allocate_producer_ids(image, broker_id, block);
                Ok((first..first + i64::from(block.max(1)), records))
            })
            .await
    }

    async fn register_broker(
        &self,
        req: &BrokerRegistrationRequest,
    ) -> Result<Committed<()>, CommitError> {
        self.register(req, false).await
    }

    async fn heartbeat(&self, hb: Heartbeat) -> Result<HeartbeatOutcome, CommitError> {
        Ok(HeartbeatOutcome {
            known: true,
            fenced: false,
            should_shut_down: hb.want_shut_down,
        })
    }

    async fn elect_preferred_leaders(
        &self,
        which: Option<Vec<(String, i32)>>,
    ) -> Result<Committed<()>, CommitError> {
        self.elect_preferred(which).await
    }
}

impl<L: MetadataLog> Controller<L> {
    /// Registers `req`, `fenced` on a cluster (see [`controller::register_broker`]).
    pub async fn register(
        &self,
        req: &BrokerRegistrationRequest,
        fenced: bool,
    ) -> Result<Committed<()>, CommitError> {
        self.log
            .apply(false, |image| {
                Ok(((), controller::register_broker(image, req, fenced)?))
            })
            .await
    }

    /// Answers a heartbeat on the active controller of a cluster and commits what it
    /// causes (unfencing, the end of a controlled shutdown).
    pub async fn beat(
        &self,
        hb: &Heartbeat,
        registered_at: Option<u64>,
    ) -> Result<Committed<HeartbeatOutcome>, CommitError> {
        self.log
            .apply(false, |image| {
                Ok(controller::heartbeat(image, hb, registered_at))
            })
            .await
    }

    /// Fences `broker` whose session expired; its leaderships move.
    pub async fn fence(&self, broker: i32) -> Result<Committed<()>, CommitError> {
        self.log
            .apply(false, |image| {
                let still_unfenced = image.broker(broker).is_some_and(|b| !b.fenced);
                let records = if still_unfenced {
                    controller::fence_broker(image, broker, false)
                } else {
                    Vec::new()
                };
                Ok(((), records))
            })
            .await
    }

    /// Preferred-leader election over `which` (all partitions when `None`).
    pub async fn elect_preferred(
        &self,
        which: Option<Vec<(String, i32)>>,
    ) -> Result<Committed<()>, CommitError> {
        self.log
            .apply(false, |image| {
                Ok(((), controller::elect_preferred(image, which.as_deref())))
            })
            .await
    }
}

/// Runs blocking work (a metadata commit with its fsync, opening or removing logs)
/// from async code without stalling the worker's other tasks: on the multi-threaded
/// runtime the worker hands its tasks to another thread first.
pub fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(dir: &std::path::Path, limits: PartitionLimits) -> LocalController {
        let store = MetadataStore::open(dir, 1).unwrap();
        LocalController::new(
            store,
            ControllerSettings {
                defaults: (1, 1),
                limits,
                log_defaults: LogConfig::default(),
                tiered_storage: false,
                node_id: 1,
                leader_rebalance: None,
            },
        )
    }

    fn spec(name: &str, n: i32) -> CreateTopicSpec {
        CreateTopicSpec {
            name: name.into(),
            num_partitions: n,
            replication_factor: -1,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn commits_are_durable_and_validate_only_commits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let c = local(dir.path(), PartitionLimits::default());
        c.register_broker(&BrokerRegistrationRequest::new(1, "127.0.0.1", 9092, None))
            .await
            .unwrap();
        let dry = c.create_topic(&spec("a", 3), None, true).await.unwrap();
        assert_eq!(dry.value.num_partitions, 3);
        assert!(dry.image.topic("a").is_none());
        let made = c.create_topic(&spec("a", 3), None, false).await.unwrap();
        assert_eq!(made.image.topic("a").map(|t| t.id), Some(made.value.id));
        let ids = c.allocate_producer_ids(1, 1000).await.unwrap().value;
        assert_eq!(ids.end - ids.start, 1000);
        drop(c);
        let c = local(dir.path(), PartitionLimits::default());
        assert_eq!(c.image().topic("a").map(|t| t.partitions.len()), Some(3));
        let more = c.allocate_producer_ids(1, 1000).await.unwrap().value;
        assert!(more.start >= ids.end, "{more:?} after {ids:?}");
        assert!(c
            .delete_topic("a")
            .await
            .unwrap()
            .image
            .topic("a")
            .is_none());
        assert!(matches!(
            c.delete_topic("a").await,
            Err(CommitError::Rejected(ControllerError::UnknownTopic(_)))
        ));
    }

    #[tokio::test]
    async fn the_controller_applies_the_tiering_rule_and_the_partition_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let c = local(
            dir.path(),
            PartitionLimits {
                per_request: 4,
                per_broker: 6,
            },
        );
        let mut tiered = spec("t", 1);
        tiered
            .configs
            .insert("remote.storage.enable".into(), "true".into());
        assert!(matches!(
            c.create_topic(&tiered, None, false).await,
            Err(CommitError::Rejected(ControllerError::InvalidConfig(_)))
        ));
        assert!(matches!(
            c.create_topic(&spec("big", 5), None, false).await,
            Err(CommitError::Rejected(ControllerError::InvalidPartitions(_)))
        ));
        c.create_topic(&spec("x", 4), None, false).await.unwrap();
        assert!(matches!(
            c.create_partitions("x", 7, &BTreeMap::new(), false).await,
            Err(CommitError::Rejected(ControllerError::InvalidPartitions(_)))
        ));
        c.create_partitions("x", 6, &BTreeMap::new(), false)
            .await
            .unwrap();
    }
}
