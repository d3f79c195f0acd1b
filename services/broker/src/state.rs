//! What every handler shares: the metadata image, the hosted partitions, and the admin
//! operations that change both.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use strata_log::LogConfig;
use strata_metadata::{
    CommitError, ControllerClient, ControllerError, CreateTopicSpec, LocalController,
    MetadataError, MetadataImage, MetadataStore, TopicImage,
};
use strata_proto::{SharedClock, TopicId};
use strata_replication::{Partition, ReplicaManager, TopicPartition};
use strata_tiered::{LogManager, RecoveredPartition, RemoteLogManager, TieredError};
use uuid::Uuid;

use crate::config::BrokerConfig;
use crate::group_shell::{self, GroupShell, OFFSETS_TOPIC};
use crate::lifecycle;

/// Name of the metadata log directory inside the data directory (as in KRaft).
const METADATA_DIR: &str = "__cluster_metadata-0";
/// Producer ids are reserved from the metadata log in blocks of this size.
const PRODUCER_ID_BLOCK: i64 = 1000;

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Controller(#[from] ControllerError),
    #[error("metadata log: {0}")]
    Metadata(#[from] MetadataError),
    #[error("partition log: {0}")]
    Log(#[from] TieredError),
    /// The durable list of remote deletions could not be written (so the topic is not
    /// deleted: its remote data would never be purged after a crash).
    #[error("recording the remote deletion: {0}")]
    RecordDeletions(#[source] std::io::Error),
    /// `__consumer_offsets` could not be replayed: the node does not start rather
    /// than serve groups older than what it acknowledged.
    #[error("loading the group coordinator from {OFFSETS_TOPIC}: {0}")]
    GroupLoad(#[from] group_shell::LoadError),
    /// The metadata quorum could not take the change (no active controller, no
    /// majority in time).
    #[error(transparent)]
    Quorum(#[from] strata_metadata::quorum::QuorumError),
}

impl From<CommitError> for AdminError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Rejected(e) => AdminError::Controller(e),
            CommitError::Log(e) => AdminError::Metadata(e),
            CommitError::Quorum(e) => AdminError::Quorum(e),
        }
    }
}

/// The state shared by every connection of one node.
pub struct BrokerState {
    pub(crate) config: BrokerConfig,
    pub(crate) node_id: i32,
    /// This process start, as registered with the controller.
    pub(crate) incarnation_id: [u8; 16],
    pub(crate) advertised: (String, i32),
    pub(crate) cluster_id: String,
    log_defaults: LogConfig,
    /// Where metadata changes are decided and made durable (today the local
    /// controller; a Raft quorum's client behind the same trait).
    controller: Arc<dyn ControllerClient>,
    /// The image last applied to this node's logs (see `publisher`).
    pub(crate) image: RwLock<Arc<MetadataImage>>,
    /// Serializes publishing, so images reach the logs in commit order.
    pub(crate) publishing: Mutex<()>,
    /// The partitions hosted here, and through it the node's logs.
    pub(crate) replicas: ReplicaManager,
    /// The remote log manager, unless `remote.log.storage.system.enable` is false.
    tier: Option<Arc<RemoteLogManager>>,
    producer_ids: tokio::sync::Mutex<std::ops::Range<i64>>,
    /// The consumer-group coordinator, reached through its task.
    pub(crate) groups: GroupShell,
    /// Where this node reads the time (timestamps, retention, expiry, timers).
    pub(crate) clock: SharedClock,
}

/// A topic as created (or as it would be, for `validate_only`).
pub struct CreatedTopic {
    pub id: TopicId,
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub overrides: BTreeMap<String, String>,
}

impl BrokerState {
    /// Opens the metadata log and every partition log it names, recovering both, with
    /// the system clock and no remote tier (what tests and tools need; a serving node
    /// is built by [`crate::node::NodeBuilder`]).
    #[cfg(test)]
    pub(crate) async fn open(
        config: BrokerConfig,
        advertised: (String, i32),
    ) -> Result<Self, AdminError> {
        let replicas = Arc::new(LogManager::new(&config.log_dirs, None)?);
        let (controller, cluster_id) = local_controller(&config)?;
        Self::assemble(
            config,
            advertised,
            replicas,
            None,
            strata_proto::SystemClock::shared(),
            controller,
            cluster_id,
        )
        .await
    }

    /// Builds the state over `logs` (and the remote tier, if any), then opens the
    /// metadata log and every partition log it names and loads the group coordinator.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn assemble(
        config: BrokerConfig,
        advertised: (String, i32),
        logs: Arc<LogManager>,
        tier: Option<Arc<RemoteLogManager>>,
        clock: SharedClock,
        controller: Arc<dyn ControllerClient>,
        cluster_id: String,
    ) -> Result<Self, AdminError> {
        let log_defaults = config.log_defaults();
        let incarnation_id = *Uuid::new_v4().as_bytes();
        let registration = lifecycle::registration(&config, &advertised, incarnation_id);
        lifecycle::register(controller.as_ref(), &registration).await?;
        let group_config = config.group_config();
        let factory: group_shell::CoordinatorFactory = Box::new(move || {
            strata_groups::GroupCoordinator::new(
                group_config.clone(),
                Box::new(|client_id: &str| {
                    // Kafka's `<client.id>-<uuid>`, kept within a Kafka STRING (the
                    // `-<uuid>` suffix is 37 bytes) so the group's record stores it whole.
                    let prefix = strata_groups::truncate_on_char_boundary(
                        client_id,
                        strata_groups::MAX_STRING_BYTES - 37,
                    );
                    format!("{prefix}-{}", Uuid::new_v4())
                }),
            )
        });
        let groups = GroupShell::new(config.offsets_topic_num_partitions, factory, clock.clone());
        let state = Self {
            node_id: config.node_id,
            incarnation_id,
            cluster_id,
            advertised,
            log_defaults,
            controller,
            image: RwLock::new(Arc::new(MetadataImage::default())),
            publishing: Mutex::new(()),
            replicas: ReplicaManager::new(logs),
            tier,
            producer_ids: tokio::sync::Mutex::new(0..0),
            groups,
            clock,
            config,
        };
        off_worker(|| state.publish_initial())?;
        if state.controller.fences_brokers() {
            lifecycle::wait_unfenced(&state).await;
            off_worker(|| state.publish())?;
        }
        state.load_groups().await?;
        Ok(state)
    }

    /// Creates `__consumer_offsets` if needed and rebuilds the group coordinator from it
    /// before the node serves anything, so no client ever sees a half-loaded coordinator.
    async fn load_groups(&self) -> Result<(), AdminError> {
        if self.image().topic(OFFSETS_TOPIC).is_none() {
            self.await_voters_unfenced().await;
            let spec = CreateTopicSpec {
                name: OFFSETS_TOPIC.to_string(),
                num_partitions: self.config.offsets_topic_num_partitions,
                replication_factor: -1,
                assignments: Default::default(),
                configs: [
                    ("cleanup.policy".to_string(), "compact".to_string()),
                    (
                        "segment.bytes".to_string(),
                        self.config.offsets_topic_segment_bytes.to_string(),
                    ),
                ]
                .into_iter()
                .collect(),
            };
            match self.create_topic(spec, false).await {
                // Another node of the cluster created it first.
                Ok(_) | Err(AdminError::Controller(ControllerError::TopicAlreadyExists(_))) => {}
                Err(e) => return Err(e),
            }
        }
        let n = off_worker(|| self.load_new_group_shards()).map_err(AdminError::GroupLoad)?;
        tracing::info!(records = n, "group coordinator loaded");
        Ok(())
    }

    /// On a cluster of combined nodes starting for the first time, gives the other
    /// voters a few seconds to register, so `__consumer_offsets` is spread over them
    /// rather than placed on the first node up. Brokers of dedicated roles do not know
    /// how many brokers to expect and go on.
    async fn await_voters_unfenced(&self) {
        let Some(voters) = self.config.quorum_voters() else {
            return;
        };
        if self.config.roles() != (true, true) {
            return;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let usable = self
                .controller_image()
                .brokers()
                .filter(|b| b.is_usable())
                .count();
            if usable >= voters.len() || self.controller_image().topic(OFFSETS_TOPIC).is_some() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Runs the group-coordinator shard of exactly the `__consumer_offsets` partitions
    /// this node leads: loads those it has not loaded yet, unloads those it no longer
    /// leads (their groups answer NOT_COORDINATOR and clients find the new leader). In a
    /// cluster the topic may be created by another node after this one started and
    /// leaders move, so this runs again after every metadata change; until it has,
    /// clients of those groups get COORDINATOR_NOT_AVAILABLE and retry.
    pub(crate) fn load_new_group_shards(&self) -> Result<usize, group_shell::LoadError> {
        let loaded = self.groups.loaded();
        let led = self.offsets_partitions();
        for index in &loaded {
            if !led.iter().any(|p| p.topic_partition().partition == *index) {
                self.groups.unload(*index);
            }
        }
        let mut n = 0;
        for p in led {
            if !loaded.contains(&p.topic_partition().partition) {
                n += self.groups.load(p)?;
            }
        }
        Ok(n)
    }

    /// The hosted partitions of `__consumer_offsets` this node leads.
    pub(crate) fn offsets_partitions(&self) -> Vec<Arc<Partition>> {
        let image = self.image();
        let leads = |index: i32| {
            image
                .topic(OFFSETS_TOPIC)
                .and_then(|t| t.partitions.get(&index))
                .is_some_and(|p| p.leader == self.node_id)
        };
        self.replicas
            .partitions()
            .into_iter()
            .filter(|p| {
                let tp = p.topic_partition();
                tp.topic == OFFSETS_TOPIC && leads(tp.partition)
            })
            .collect()
    }

    /// The remote log manager, if tiered storage is enabled on this node.
    pub fn tier(&self) -> Option<&Arc<RemoteLogManager>> {
        self.tier.as_ref()
    }

    /// The controller this node asks for metadata changes.
    pub(crate) fn controller(&self) -> &Arc<dyn ControllerClient> {
        &self.controller
    }

    /// The controller's latest committed image (what the publisher applies next).
    pub(crate) fn controller_image(&self) -> Arc<MetadataImage> {
        self.controller.image()
    }

    /// The metadata image this node serves (cheap: an `Arc` clone).
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().clone()
    }

    /// Broker defaults with the topic's overrides applied. Overrides were validated when
    /// stored, so a failure here (a config written by a newer version) falls back to the
    /// defaults and is logged.
    pub fn log_config_for(&self, topic: &TopicImage) -> LogConfig {
        match self.log_defaults.with_overrides(&topic.configs) {
            Ok(c) => c,
            Err(errs) => {
                tracing::warn!(topic = %topic.name, ?errs, "ignoring invalid stored topic configs");
                self.log_defaults.clone()
            }
        }
    }

    pub fn log_defaults(&self) -> &LogConfig {
        &self.log_defaults
    }

    /// The partition as hosted here, if the topic and partition exist.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.replicas.get(&TopicPartition::new(topic, partition))
    }

    /// Creates a topic (or only checks that it could be, for `validate_only`) and opens
    /// its partition logs. Durable on return.
    pub async fn create_topic(
        &self,
        spec: CreateTopicSpec,
        validate_only: bool,
    ) -> Result<CreatedTopic, AdminError> {
        self.create_topic_from(spec, validate_only, None).await
    }

    /// [`Self::create_topic`]; with `recovered`, the topic takes the id its objects in
    /// the remote tier are filed under and each partition's log resumes after the
    /// highest uploaded offset, so every uploaded offset is readable again.
    pub async fn create_topic_from(
        &self,
        spec: CreateTopicSpec,
        validate_only: bool,
        recovered: Option<(TopicId, &[RecoveredPartition])>,
    ) -> Result<CreatedTopic, AdminError> {
        let id = recovered.map(|(id, _)| id);
        let created = |t: strata_metadata::CreatedTopic| CreatedTopic {
            id: t.id,
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            overrides: spec.configs.clone(),
        };
        if let Some((id, parts)) = recovered.filter(|_| !validate_only) {
            // The logs are seeded before the commit, so the topic is checked first.
            let shape = self
                .controller
                .create_topic(&spec, Some(id), true)
                .await?
                .value;
            off_worker(|| {
                for p in parts {
                    if p.partition < shape.num_partitions {
                        self.replicas.logs().seed_partition(
                            &TopicPartition::new(spec.name.clone(), p.partition),
                            id,
                            p.next_offset,
                        )?;
                    }
                }
                Ok::<(), AdminError>(())
            })?;
        }
        let made = self
            .controller
            .create_topic(&spec, id, validate_only)
            .await?
            .value;
        if !validate_only {
            off_worker(|| self.publish())?;
        }
        Ok(created(made))
    }

    /// Deletes a topic and its logs. Durable on return.
    pub async fn delete_topic(&self, name: &str) -> Result<TopicId, AdminError> {
        if name == OFFSETS_TOPIC {
            return Err(ControllerError::InvalidRequest(format!(
                "the internal topic {name} cannot be deleted"
            ))
            .into());
        }
        let image = self.controller.image();
        let topic = image
            .topic(name)
            .ok_or_else(|| ControllerError::UnknownTopic(name.to_string()))?;
        if let Some(tier) = self
            .tier()
            .filter(|_| self.log_config_for(topic).remote_storage_enable())
        {
            // Durably listed before the commit: a crash after it still purges the bucket.
            let remote: Vec<_> = topic
                .partitions
                .keys()
                .map(|p| strata_remote::TopicIdPartition::new(topic.id, name, *p))
                .collect();
            off_worker(|| tier.record_deletions(&remote)).map_err(AdminError::RecordDeletions)?;
        }
        let id = self.controller.delete_topic(name).await?.value;
        off_worker(|| self.publish())?;
        Ok(id)
    }

    /// Grows a topic to `count` partitions.
    pub async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: BTreeMap<i32, Vec<i32>>,
        validate_only: bool,
    ) -> Result<(), AdminError> {
        self.controller
            .create_partitions(name, count, &assignments, validate_only)
            .await?;
        if !validate_only {
            off_worker(|| self.publish())?;
        }
        Ok(())
    }

    /// Changes a topic's config overrides and applies them to its open logs.
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
        replace_all: bool,
        validate_only: bool,
    ) -> Result<(), AdminError> {
        self.controller
            .alter_topic_configs(name, set, delete, replace_all, validate_only)
            .await?;
        if !validate_only {
            off_worker(|| self.publish())?;
        }
        Ok(())
    }

    /// A producer id never handed out before on this cluster (ids are reserved from the
    /// metadata log in blocks, so a restart never reuses one).
    pub async fn next_producer_id(&self) -> Result<i64, AdminError> {
        let mut ids = self.producer_ids.lock().await;
        if ids.is_empty() {
            *ids = self
                .controller
                .allocate_producer_ids(self.node_id, PRODUCER_ID_BLOCK as u32)
                .await?
                .value;
        }
        let id = ids.start;
        ids.start += 1;
        Ok(id)
    }
}

pub use strata_metadata::off_worker;

/// The controller of a node without a quorum: the local metadata log in the data
/// directory (its `meta.properties` names the cluster).
pub(crate) fn local_controller(
    config: &BrokerConfig,
) -> Result<(Arc<dyn ControllerClient>, String), AdminError> {
    let dir = config.log_dirs.join(METADATA_DIR);
    let store = off_worker(|| MetadataStore::open(&dir, config.node_id))?;
    if let Some(wanted) = config
        .cluster_id
        .as_deref()
        .filter(|w| *w != store.cluster_id())
    {
        return Err(MetadataError::ClusterIdMismatch {
            stored: store.cluster_id().to_string(),
            configured: wanted.to_string(),
        }
        .into());
    }
    let cluster_id = store.cluster_id().to_string();
    let controller = Arc::new(LocalController::new(store, config.controller_settings()));
    Ok((controller, cluster_id))
}

/// Where a node of a cluster keeps `meta.properties` and its quorum store.
pub(crate) fn metadata_dir(config: &BrokerConfig) -> std::path::PathBuf {
    config.log_dirs.join(METADATA_DIR)
}
