//! The controller: pure functions (no I/O) that validate admin operations
//! against a [`MetadataImage`](crate::MetadataImage) and turn them into
//! records to commit.
//!
//! Nothing here changes the image; the caller commits the returned records
//! (through [`MetadataStore::commit`](crate::MetadataStore::commit), later
//! through the Raft quorum), which applies them. Written for N brokers:
//! replicas are placed round-robin over the registered brokers.

mod brokers;
mod cluster;
mod configs;
mod error;
mod limits;
mod placement;
mod tiering;
mod topic_name;
mod topics;

pub use brokers::{
    elect_preferred, fence_broker, heartbeat, imbalanced, preferred_change, register_broker,
    unfence_broker, usable_brokers, BrokerRegistrationRequest, BrokerStatus, Heartbeat,
    HeartbeatOutcome,
};
pub use cluster::allocate_producer_ids;
pub use configs::{
    alter_broker_configs, alter_topic_configs, BrokerConfigKind, DYNAMIC_BROKER_CONFIGS,
};
pub use error::ControllerError;
pub use limits::{check_partition_limits, PartitionLimits};
pub use tiering::validate_tiering;
pub use topic_name::{validate_topic_name, MAX_TOPIC_NAME_LENGTH};
pub use topics::{
    create_partitions, create_topic, create_topic_with_id, delete_topic, CreateTopicSpec,
    PartitionCountUpdate, MAX_PARTITIONS,
};
