//! Cluster metadata of Strata, kept as records.
//!
//! This crate owns:
//! - the metadata records ([`records`], generated from `proto/metadata.proto`),
//!   the shape a Raft quorum will replicate;
//! - [`MetadataImage`], the in-memory cluster state the records are applied to;
//! - [`MetadataStore`], the durable append-only metadata log with snapshots,
//!   replayed at start-up;
//! - the [`controller`], pure functions (no I/O) that validate admin
//!   operations against an image and turn them into records.
//!
//! It must never depend on `services/` crates or on Kafka wire types: callers
//! translate requests into the domain types here and map [`ControllerError`]
//! to Kafka error codes themselves.

pub mod controller;
mod controller_client;
mod error;
mod image;
pub mod quorum;
pub mod records;
mod store;

pub use controller::PartitionLimits;
pub use controller::{
    allocate_producer_ids, alter_broker_configs, alter_topic_configs, create_partitions,
    create_topic, create_topic_with_id, delete_topic, preferred_change, register_broker,
    BrokerRegistrationRequest, BrokerStatus, ControllerError, CreateTopicSpec, Heartbeat,
    HeartbeatOutcome, PartitionCountUpdate,
};
pub use controller_client::{
    off_worker, CommitError, Committed, ControllerClient, ControllerSettings, CreatedTopic,
    LeaderRebalance, LocalController,
};
pub use error::MetadataError;
pub use image::{BrokerRegistration, MetadataImage, PartitionImage, TopicImage};
pub use store::meta_properties::{load_or_format, random_cluster_id, MetaProperties};
pub use store::{MetadataStore, StoreOptions};
