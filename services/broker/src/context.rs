//! The narrow views handlers get of the node. Each handler takes the one it needs, so
//! what a handler may touch is in its signature (a Fetch cannot create topics, a group
//! handler cannot read logs), and a handler can be driven by a test double of its
//! view. [`BrokerState`] implements them all; `dispatch` hands each handler the state
//! as the view it asks for.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use strata_log::LogConfig;
use strata_metadata::quorum::QuorumDescription;
use strata_metadata::{CreateTopicSpec, MetadataImage, TopicImage};
use strata_proto::TopicId;
use strata_replication::Partition;
use strata_tiered::{RecoveredPartition, TieredError};

use crate::group_shell::GroupShell;
use crate::state::{AdminError, BrokerState, CreatedTopic};

/// The cluster as this node serves it: the metadata image and who this node is.
pub trait ClusterView: Send + Sync {
    /// The metadata image this node serves (cheap: an `Arc` clone).
    fn image(&self) -> Arc<MetadataImage>;
    fn node_id(&self) -> i32;
    /// The host and port clients are told to use.
    fn advertised(&self) -> (&str, i32);
    fn cluster_id(&self) -> &str;
    /// The node id of the active controller (this node, unless it is in a cluster).
    fn active_controller(&self) -> Option<i32> {
        Some(self.node_id())
    }
    /// Every broker clients may connect to, with its advertised endpoint and rack: the
    /// registered brokers that are not fenced, or this node alone before it has
    /// registered.
    fn brokers(&self) -> Vec<strata_metadata::BrokerRegistration> {
        let mut all: Vec<_> = self
            .image()
            .brokers()
            .filter(|b| !b.fenced)
            .cloned()
            .collect();
        if all.is_empty() {
            let (host, port) = self.advertised();
            all.push(strata_metadata::BrokerRegistration {
                id: self.node_id(),
                host: host.to_string(),
                port,
                rack: None,
                incarnation_id: [0; 16],
                fenced: false,
                in_controlled_shutdown: false,
            });
        }
        all
    }
}

/// The data plane: the partitions hosted here and the bounds on reading them.
pub trait DataPlane: ClusterView {
    /// The partition as hosted here, if this node leads it (clients read and write
    /// only at the leader).
    fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>>;
    /// Every hosted partition, sorted by topic and index.
    fn partitions(&self) -> Vec<Arc<Partition>>;
    /// `fetch.max.bytes`: the most one Fetch response carries.
    fn fetch_max_bytes(&self) -> usize;
    /// The node's clock.
    fn now_ms(&self) -> i64;
    /// The local log directory.
    fn log_dir(&self) -> &Path;
    /// The remote tier's URL, when tiered storage is on.
    fn remote_tier_url(&self) -> Option<&str>;
    /// The error for a partition not hosted here: NOT_LEADER_OR_FOLLOWER when the
    /// cluster has it on other brokers (the client refreshes metadata and goes there),
    /// UNKNOWN_TOPIC_OR_PARTITION when it does not exist.
    fn not_hosted_code(&self, topic: &str, partition: i32) -> i16 {
        let exists = self
            .image()
            .topic(topic)
            .is_some_and(|t| t.partitions.contains_key(&partition));
        if exists {
            kafka_protocol::ResponseError::NotLeaderOrFollower.code()
        } else {
            kafka_protocol::ResponseError::UnknownTopicOrPartition.code()
        }
    }
}

/// The broker settings admin handlers apply before asking the controller.
#[derive(Debug, Clone, Copy)]
pub struct AdminSettings {
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub num_partitions: i32,
    pub max_partitions_per_request: i32,
}

/// Admin operations: decided and made durable by the controller, applied to this
/// node by the metadata publisher. Durable on return.
pub trait AdminOps: ClusterView {
    fn admin_settings(&self) -> AdminSettings;
    /// Broker defaults with the topic's overrides applied.
    fn log_config_for(&self, topic: &TopicImage) -> LogConfig;
    /// The topic configs the broker's properties imply.
    fn log_defaults(&self) -> &LogConfig;
    /// Every broker property with its value, for DescribeConfigs.
    fn broker_configs(&self) -> Vec<(&'static str, String)>;
    fn create_topic(
        &self,
        spec: CreateTopicSpec,
        validate_only: bool,
    ) -> impl Future<Output = Result<CreatedTopic, AdminError>> + Send;
    /// [`Self::create_topic`] adopting what the remote tier holds (see
    /// [`BrokerState::create_topic_from`]).
    fn create_topic_from(
        &self,
        spec: CreateTopicSpec,
        validate_only: bool,
        recovered: Option<(TopicId, &[RecoveredPartition])>,
    ) -> impl Future<Output = Result<CreatedTopic, AdminError>> + Send;
    fn delete_topic(&self, name: &str) -> impl Future<Output = Result<TopicId, AdminError>> + Send;
    fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: BTreeMap<i32, Vec<i32>>,
        validate_only: bool,
    ) -> impl Future<Output = Result<(), AdminError>> + Send;
    fn alter_topic_configs(
        &self,
        name: &str,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
        replace_all: bool,
        validate_only: bool,
    ) -> impl Future<Output = Result<(), AdminError>> + Send;
    /// A producer id never handed out before on this cluster.
    fn next_producer_id(&self) -> impl Future<Output = Result<i64, AdminError>> + Send;
    /// Preferred-leader election over `which` (every partition when `None`), applied
    /// here on return.
    fn elect_preferred_leaders(
        &self,
        which: Option<Vec<(String, i32)>>,
    ) -> impl Future<Output = Result<(), AdminError>> + Send;
    /// The metadata quorum; `None` on a single node.
    fn describe_quorum(
        &self,
    ) -> impl Future<Output = Result<Option<QuorumDescription>, AdminError>> + Send;
    /// Promotes observer `id` to voter (`add`), or demotes voter `id`.
    fn change_voter(
        &self,
        id: u64,
        add: bool,
    ) -> impl Future<Output = Result<(), AdminError>> + Send;
    /// The newest live incarnation of topic `name` in the remote tier, or why there
    /// is none to recover.
    fn find_in_remote_tier(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<RemoteTopic, RemoteLookupError>> + Send;
}

/// A topic found in the remote tier: its id and what each partition holds there.
pub type RemoteTopic = (TopicId, Vec<RecoveredPartition>);

/// Why no topic could be recovered from the remote tier.
#[derive(Debug, thiserror::Error)]
pub enum RemoteLookupError {
    #[error("tiered storage is disabled on this broker")]
    Disabled,
    #[error("the remote tier ({url}) holds no live topic named {name}")]
    NotFound { url: String, name: String },
    /// Reading the bucket failed (it may pass: see [`TieredError::is_retryable`]).
    #[error(transparent)]
    Tier(#[from] TieredError),
}

/// The group coordinator, and the cluster it answers for.
pub trait GroupAccess: ClusterView {
    fn groups(&self) -> &GroupShell;
}

impl ClusterView for BrokerState {
    fn image(&self) -> Arc<MetadataImage> {
        BrokerState::image(self)
    }

    fn node_id(&self) -> i32 {
        self.node_id
    }

    fn advertised(&self) -> (&str, i32) {
        (&self.advertised.0, self.advertised.1)
    }

    fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The active controller when it is a broker clients can reach (combined nodes);
    /// else this node, which forwards admin requests there (Kafka's KRaft brokers
    /// answer a broker id too, since clients never talk to controllers).
    fn active_controller(&self) -> Option<i32> {
        let active = self.controller().active_controller()?;
        let reachable = self.image().broker(active).is_some_and(|b| !b.fenced);
        Some(if reachable { active } else { self.node_id })
    }
}

impl DataPlane for BrokerState {
    fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let leads = self
            .image()
            .topic(topic)
            .and_then(|t| t.partitions.get(&partition))
            .is_some_and(|p| p.leader == self.node_id);
        leads
            .then(|| BrokerState::partition(self, topic, partition))
            .flatten()
    }

    fn partitions(&self) -> Vec<Arc<Partition>> {
        self.replicas.partitions()
    }

    fn fetch_max_bytes(&self) -> usize {
        self.config.fetch_max_bytes.max(0) as usize
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn log_dir(&self) -> &Path {
        &self.config.log_dirs
    }

    fn remote_tier_url(&self) -> Option<&str> {
        self.tier().map(|t| t.url())
    }
}

impl AdminOps for BrokerState {
    fn admin_settings(&self) -> AdminSettings {
        AdminSettings {
            auto_create_topics_enable: self.config.auto_create_topics_enable,
            delete_topic_enable: self.config.delete_topic_enable,
            num_partitions: self.config.num_partitions,
            max_partitions_per_request: self.config.max_partitions_per_request,
        }
    }

    fn log_config_for(&self, topic: &TopicImage) -> LogConfig {
        BrokerState::log_config_for(self, topic)
    }

    fn log_defaults(&self) -> &LogConfig {
        BrokerState::log_defaults(self)
    }

    fn broker_configs(&self) -> Vec<(&'static str, String)> {
        self.config.describe()
    }

    async fn create_topic(
        &self,
        spec: CreateTopicSpec,
        validate_only: bool,
    ) -> Result<CreatedTopic, AdminError> {
        BrokerState::create_topic(self, spec, validate_only).await
    }

    async fn create_topic_from(
        &self,
        spec: CreateTopicSpec,
        validate_only: bool,
        recovered: Option<(TopicId, &[RecoveredPartition])>,
    ) -> Result<CreatedTopic, AdminError> {
        BrokerState::create_topic_from(self, spec, validate_only, recovered).await
    }

    async fn delete_topic(&self, name: &str) -> Result<TopicId, AdminError> {
        BrokerState::delete_topic(self, name).await
    }

    async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: BTreeMap<i32, Vec<i32>>,
        validate_only: bool,
    ) -> Result<(), AdminError> {
        BrokerState::create_partitions(self, name, count, assignments, validate_only).await
    }

    async fn alter_topic_configs(
        &self,
        name: &str,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
        replace_all: bool,
        validate_only: bool,
    ) -> Result<(), AdminError> {
        BrokerState::alter_topic_configs(self, name, set, delete, replace_all, validate_only).await
    }

    async fn next_producer_id(&self) -> Result<i64, AdminError> {
        BrokerState::next_producer_id(self).await
    }

    async fn elect_preferred_leaders(
        &self,
        which: Option<Vec<(String, i32)>>,
    ) -> Result<(), AdminError> {
        self.controller().elect_preferred_leaders(which).await?;
        strata_metadata::off_worker(|| self.publish())?;
        Ok(())
    }

    async fn describe_quorum(&self) -> Result<Option<QuorumDescription>, AdminError> {
        Ok(self.controller().describe_quorum().await?)
    }

    async fn change_voter(&self, id: u64, add: bool) -> Result<(), AdminError> {
        let c = self.controller();
        if add {
            c.add_voter(id).await?;
        } else {
            c.remove_voter(id).await?;
        }
        Ok(())
    }

    async fn find_in_remote_tier(&self, name: &str) -> Result<RemoteTopic, RemoteLookupError> {
        let Some(tier) = self.tier() else {
            return Err(RemoteLookupError::Disabled);
        };
        tier.find_in_bucket(name)
            .await?
            .ok_or_else(|| RemoteLookupError::NotFound {
                url: tier.url().to_string(),
                name: name.to_string(),
            })
    }
}

impl GroupAccess for BrokerState {
    fn groups(&self) -> &GroupShell {
        &self.groups
    }
}
