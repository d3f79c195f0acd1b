//! Partitions hosted on this broker as replicas: their role, leader epoch, ISR and
//! high watermark, and the wake-ups long-polling fetches and acks=all produces wait on.
//!
//! A [`Partition`] wraps its log across both tiers ([`strata_tiered::TieredLog`]) with
//! the replica state the metadata image gives it; the [`ReplicaManager`] hosts them.
//! It knows nothing of the Kafka wire protocol or of `services/`; a later issue adds
//! follower fetching over gRPC here.

mod partition;
mod replica_manager;
mod replica_state;

pub use partition::{Partition, PartitionRead};
pub use replica_manager::ReplicaManager;
pub use replica_state::Role;
pub use strata_proto::TopicPartition;
