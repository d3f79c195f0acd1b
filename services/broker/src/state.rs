//! What every handler shares: the metadata image, the hosted partitions, and the admin
//! operations that change both.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use strata_log::LogConfig;
use strata_metadata::records::MetadataRecord;
use strata_metadata::{
    ControllerError, CreateTopicSpec, MetadataError, MetadataImage, MetadataStore, TopicImage,
};
use strata_proto::{SharedClock, SystemClock, TopicId};
use strata_replication::{
    Partition, RecoveredPartition, RemoteLogManager, ReplicaManager, ReplicationError,
    TopicPartition,
};
use uuid::Uuid;

use crate::config::BrokerConfig;
use crate::group_shell::{self, GroupShell, GroupTask, OFFSETS_TOPIC};

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
    Replication(#[from] ReplicationError),
    #[error("remote tier: {0}")]
    RemoteTier(String),
    /// `__consumer_offsets` could not be replayed: the node does not start rather
    /// than serve groups older than what it acknowledged.
    #[error("loading the group coordinator from {OFFSETS_TOPIC}: {0}")]
    GroupLoad(String),
}

/// The state shared by every connection of one node.
pub struct BrokerState {
    pub config: BrokerConfig,
    pub node_id: i32,
    pub advertised: (String, i32),
    pub cluster_id: String,
    log_defaults: LogConfig,
    metadata: Mutex<MetadataStore>,
    image: RwLock<Arc<MetadataImage>>,
    pub replicas: Arc<ReplicaManager>,
    /// The remote log manager, unless `remote.log.storage.system.enable` is false.
    tier: std::sync::OnceLock<Arc<RemoteLogManager>>,
    producer_ids: Mutex<(i64, i64)>,
    /// The consumer-group coordinator, reached through its task.
    pub groups: GroupShell,
    group_task: Mutex<Option<GroupTask>>,
    /// Where this node reads the time (timestamps, retention, expiry, timers).
    pub clock: SharedClock,
}

/// A topic as created (or as it would be, for `validate_only`).
pub struct CreatedTopic {
    pub id: TopicId,
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub overrides: BTreeMap<String, String>,
}

impl BrokerState {
    /// Opens the metadata log and every partition log it names, recovering both.
    pub fn open(config: BrokerConfig, advertised: (String, i32)) -> Result<Self, AdminError> {
        Self::open_with_clock(config, advertised, SystemClock::shared())
    }

    /// [`BrokerState::open`] with the clock every timestamp of this node is read from.
    pub fn open_with_clock(
        config: BrokerConfig,
        advertised: (String, i32),
        clock: SharedClock,
    ) -> Result<Self, AdminError> {
        let data_dir = config.log_dirs.clone();
        let replicas = Arc::new(ReplicaManager::new(&data_dir)?);
        let mut store = MetadataStore::open(&data_dir.join(METADATA_DIR), config.node_id)?;
        let register = strata_metadata::register_broker(
            store.image(),
            config.node_id,
            &advertised.0,
            advertised.1,
            None,
        )?;
        if !register.is_empty() {
            store.commit(register)?;
        }
        let image = Arc::new(store.image().clone());
        let log_defaults = config.log_defaults();
        let coordinator = strata_groups::GroupCoordinator::new(
            config.group_config(),
            Box::new(|client_id: &str| {
                // Kafka's `<client.id>-<uuid>`, kept within a Kafka STRING (the
                // `-<uuid>` suffix is 37 bytes) so the group's record stores it whole.
                let prefix = strata_groups::truncate_on_char_boundary(
                    client_id,
                    strata_groups::MAX_STRING_BYTES - 37,
                );
                format!("{prefix}-{}", Uuid::new_v4())
            }),
        );
        let (groups, group_task) = GroupShell::new(coordinator);
        let state = Self {
            node_id: config.node_id,
            cluster_id: store.cluster_id().to_string(),
            advertised,
            log_defaults,
            metadata: Mutex::new(store),
            image: RwLock::new(image.clone()),
            replicas,
            tier: std::sync::OnceLock::new(),
            producer_ids: Mutex::new((0, 0)),
            groups,
            group_task: Mutex::new(Some(group_task)),
            clock,
            config,
        };
        let now = state.clock.now_ms();
        let mut keep = Vec::new();
        for topic in image.topics() {
            let cfg = state.log_config_for(topic);
            for p in topic.partitions.keys() {
                let tp = TopicPartition::new(topic.name.clone(), *p);
                state
                    .replicas
                    .ensure_partition(&tp, topic.id, cfg.clone(), now)?;
                keep.push(tp);
            }
        }
        state.replicas.remove_strays(&keep)?;
        state.load_groups()?;
        Ok(state)
    }

    /// Creates `__consumer_offsets` if needed and rebuilds the group coordinator from it
    /// before the node serves anything, so no client ever sees a half-loaded coordinator.
    fn load_groups(&self) -> Result<(), AdminError> {
        if self.image().topic(OFFSETS_TOPIC).is_none() {
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
            self.create_topic(spec, false)?;
        }
        let partitions = self.offsets_partitions();
        let mut task = self.group_task.lock();
        if let Some(task) = task.as_mut() {
            let n = group_shell::load(&partitions, task.coordinator_mut(), self.clock.now_ms())
                .map_err(|e| AdminError::GroupLoad(e.to_string()))?;
            tracing::info!(records = n, "group coordinator loaded");
        }
        Ok(())
    }

    /// The hosted partitions of `__consumer_offsets`.
    pub(crate) fn offsets_partitions(&self) -> Vec<Arc<Partition>> {
        self.replicas
            .partitions()
            .into_iter()
            .filter(|p| p.topic_partition().topic == OFFSETS_TOPIC)
            .collect()
    }

    /// The remote log manager, if tiered storage is enabled on this node.
    pub fn tier(&self) -> Option<&Arc<RemoteLogManager>> {
        self.tier.get()
    }

    /// Installs the remote log manager (once, at start-up).
    pub fn set_tier(&self, tier: Arc<RemoteLogManager>) {
        let _ = self.tier.set(tier);
    }

    /// The coordinator task, handed to the server once (see `Broker::run`).
    pub fn take_group_task(&self) -> Option<GroupTask> {
        self.group_task.lock().take()
    }

    /// The current metadata image (cheap: an `Arc` clone).
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

    fn commit(
        &self,
        store: &mut MetadataStore,
        records: Vec<MetadataRecord>,
    ) -> Result<Arc<MetadataImage>, AdminError> {
        store.commit(records)?;
        let image = Arc::new(store.image().clone());
        *self.image.write() = image.clone();
        Ok(image)
    }

    fn brokers(&self, image: &MetadataImage) -> Vec<i32> {
        let mut ids = image.broker_ids();
        if ids.is_empty() {
            ids.push(self.node_id);
        }
        ids
    }

    /// Creates a topic (or only checks that it could be, for `validate_only`) and opens
    /// its partition logs. Durable on return.
    pub fn create_topic(
        &self,
        spec: CreateTopicSpec,
        validate_only: bool,
    ) -> Result<CreatedTopic, AdminError> {
        self.create_topic_from(spec, validate_only, None)
    }

    /// [`Self::create_topic`]; with `recovered`, the topic takes the id its objects in
    /// the remote tier are filed under and each partition's log resumes after the
    /// highest uploaded offset, so every uploaded offset is readable again.
    pub fn create_topic_from(
        &self,
        spec: CreateTopicSpec,
        validate_only: bool,
        recovered: Option<(TopicId, &[RecoveredPartition])>,
    ) -> Result<CreatedTopic, AdminError> {
        self.check_tiering(&spec.configs, None)?;
        let mut store = self.metadata.lock();
        let image = store.image().clone();
        let brokers = self.brokers(&image);
        let (id, records) = strata_metadata::create_topic_with_id(
            &image,
            &spec,
            (
                self.config.num_partitions,
                self.config.default_replication_factor,
            ),
            &brokers,
            recovered.map(|(id, _)| id),
        )?;
        let (num_partitions, replication_factor) = partition_shape(&records);
        self.check_partition_limits(&image, &records)?;
        let created = CreatedTopic {
            id,
            num_partitions,
            replication_factor,
            overrides: spec.configs.clone(),
        };
        if validate_only {
            return Ok(created);
        }
        if let Some((_, parts)) = recovered {
            for p in parts {
                if p.partition < num_partitions {
                    self.replicas.seed_partition(
                        &TopicPartition::new(spec.name.clone(), p.partition),
                        id,
                        p.next_offset,
                    )?;
                }
            }
        }
        let image = self.commit(&mut store, records)?;
        drop(store);
        if let Some(topic) = image.topic(&spec.name) {
            self.open_partitions(topic)?;
        }
        Ok(created)
    }

    /// Kafka's tiered-storage rules for a topic's configs (`current`: the overrides
    /// before an alter). Strata refuses remote storage on compacted topics, as Kafka
    /// does (KAFKA-19273): the remote tier holds immutable uploaded segments, and
    /// compaction rewrites segments.
    fn check_tiering(
        &self,
        overrides: &BTreeMap<String, String>,
        current: Option<&LogConfig>,
    ) -> Result<(), AdminError> {
        let Ok(cfg) = self.log_defaults.with_overrides(overrides) else {
            // Bad values are reported by the controller's validation.
            return Ok(());
        };
        let invalid = |m: String| Err(ControllerError::InvalidConfig(m).into());
        if cfg.remote_storage_enable() {
            if self.tier().is_none() {
                return invalid(
                    "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
                        .into(),
                );
            }
            if cfg.is_compact() {
                return invalid(format!(
                    "Remote log storage is not supported for compacted topics: cleanup.policy={} with remote.storage.enable=true (Strata, like Kafka, tiers only delete-policy topics)",
                    cfg.cleanup_policy
                ));
            }
            let local_ms = overrides
                .get("local.retention.ms")
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(-2);
            if local_ms != -2
                && cfg.retention_ms != -1
                && (local_ms == -1 || local_ms > cfg.retention_ms)
            {
                return invalid(format!(
                    "Invalid value {local_ms} for configuration local.retention.ms: must not be more than retention.ms ({})",
                    cfg.retention_ms
                ));
            }
            let local_bytes = overrides
                .get("local.retention.bytes")
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(-2);
            if local_bytes != -2
                && cfg.retention_bytes != -1
                && (local_bytes == -1 || local_bytes > cfg.retention_bytes)
            {
                return invalid(format!(
                    "Invalid value {local_bytes} for configuration local.retention.bytes: must not be more than retention.bytes ({})",
                    cfg.retention_bytes
                ));
            }
        }
        if let Some(cur) = current {
            if cur.remote_storage_enable() && !cfg.remote_storage_enable() {
                return invalid(
                    "remote.storage.enable cannot be turned off once enabled (Strata keeps the remote tier of a topic until the topic is deleted)"
                        .into(),
                );
            }
        }
        Ok(())
    }

    fn open_partitions(&self, topic: &TopicImage) -> Result<(), AdminError> {
        let cfg = self.log_config_for(topic);
        let now = self.clock.now_ms();
        for p in topic.partitions.keys() {
            let tp = TopicPartition::new(topic.name.clone(), *p);
            self.replicas
                .ensure_partition(&tp, topic.id, cfg.clone(), now)?;
        }
        Ok(())
    }

    /// Deletes a topic and its logs. Durable on return.
    pub fn delete_topic(&self, name: &str) -> Result<TopicId, AdminError> {
        if name == OFFSETS_TOPIC {
            return Err(ControllerError::InvalidRequest(format!(
                "the internal topic {name} cannot be deleted"
            ))
            .into());
        }
        let mut store = self.metadata.lock();
        let image = store.image().clone();
        let topic = image
            .topic(name)
            .ok_or_else(|| ControllerError::UnknownTopic(name.to_string()))?;
        let id = topic.id;
        let partitions: Vec<i32> = topic.partitions.keys().copied().collect();
        let records = strata_metadata::delete_topic(&image, name)?;
        let tiered = self
            .tier()
            .filter(|_| self.log_config_for(topic).remote_storage_enable());
        let remote: Vec<_> = partitions
            .iter()
            .map(|p| strata_remote::TopicIdPartition::new(id, name.to_string(), *p))
            .collect();
        if let Some(tier) = tiered {
            // Durably listed first: a crash after the commit still purges the bucket.
            tier.record_deletions(&remote)
                .map_err(|e| AdminError::RemoteTier(format!("recording the deletion: {e}")))?;
        }
        self.commit(&mut store, records)?;
        drop(store);
        for (p, tp) in partitions.into_iter().zip(remote) {
            self.replicas
                .remove_partition(&TopicPartition::new(name, p))?;
            if let Some(tier) = tiered {
                tier.delete_partition(tp);
            }
        }
        Ok(id)
    }

    /// Grows a topic to `count` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: BTreeMap<i32, Vec<i32>>,
        validate_only: bool,
    ) -> Result<(), AdminError> {
        let mut store = self.metadata.lock();
        let image = store.image().clone();
        let brokers = self.brokers(&image);
        let records =
            strata_metadata::create_partitions(&image, name, count, &assignments, &brokers)?;
        self.check_partition_limits(&image, &records)?;
        if validate_only {
            return Ok(());
        }
        let image = self.commit(&mut store, records)?;
        drop(store);
        if let Some(topic) = image.topic(name) {
            self.open_partitions(topic)?;
        }
        Ok(())
    }

    /// Changes a topic's config overrides and applies them to its open logs.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
        replace_all: bool,
        validate_only: bool,
    ) -> Result<(), AdminError> {
        if let Some(topic) = self.image().topic(name) {
            let mut next = if replace_all {
                BTreeMap::new()
            } else {
                topic.configs.clone()
            };
            for k in &delete {
                next.remove(k);
            }
            next.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
            self.check_tiering(&next, Some(&self.log_config_for(topic)))?;
        }
        let mut store = self.metadata.lock();
        let image = store.image().clone();
        let records = strata_metadata::alter_topic_configs(&image, name, set, delete, replace_all)?;
        if validate_only || records.is_empty() {
            return Ok(());
        }
        let image = self.commit(&mut store, records)?;
        drop(store);
        if let Some(topic) = image.topic(name) {
            let cfg = self.log_config_for(topic);
            for p in topic.partitions.keys() {
                if let Some(part) = self.partition(name, *p) {
                    part.set_config(cfg.clone());
                }
            }
        }
        Ok(())
    }

    /// A producer id never handed out before on this cluster (ids are reserved from the
    /// metadata log in blocks, so a restart never reuses one).
    pub fn next_producer_id(&self) -> Result<i64, AdminError> {
        let mut ids = self.producer_ids.lock();
        if ids.0 >= ids.1 {
            let mut store = self.metadata.lock();
            let image = store.image().clone();
            let (first, records) = strata_metadata::allocate_producer_ids(
                &image,
                self.node_id,
                PRODUCER_ID_BLOCK as u32,
            );
            self.commit(&mut store, records)?;
            *ids = (first, first + PRODUCER_ID_BLOCK);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }
}

impl BrokerState {
    /// Refuses `records` if they create more partitions than one request may
    /// (`strata.max.partitions.per.request`) or would give this broker more replicas
    /// than it may host (`strata.max.partitions.per.broker`).
    fn check_partition_limits(
        &self,
        image: &MetadataImage,
        records: &[MetadataRecord],
    ) -> Result<(), AdminError> {
        use strata_metadata::records::metadata_record::Record;
        let node = self.node_id;
        let new: Vec<_> = records
            .iter()
            .filter_map(|r| match &r.record {
                Some(Record::Partition(p)) => Some(p),
                _ => None,
            })
            .collect();
        let per_request = self.config.max_partitions_per_request;
        if new.len() > per_request as usize {
            return Err(ControllerError::InvalidPartitions(format!(
                "{} partitions in one request is more than strata.max.partitions.per.request ({per_request})",
                new.len()
            ))
            .into());
        }
        let hosted = image
            .topics()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.replicas.contains(&node))
            .count();
        let adding = new.iter().filter(|p| p.replicas.contains(&node)).count();
        let per_broker = self.config.max_partitions_per_broker;
        if hosted + adding > per_broker as usize {
            return Err(ControllerError::InvalidPartitions(format!(
                "broker {node} hosts {hosted} partitions; {adding} more would exceed strata.max.partitions.per.broker ({per_broker})"
            ))
            .into());
        }
        Ok(())
    }
}

/// Runs blocking work (metadata commits with fsync, creating or removing logs) from an
/// async handler without stalling the worker's other tasks: on the multi-threaded
/// runtime the worker hands its tasks to another thread first.
pub fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Partition count and replication factor of a topic's creation records.
fn partition_shape(records: &[MetadataRecord]) -> (i32, i16) {
    use strata_metadata::records::metadata_record::Record;
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
