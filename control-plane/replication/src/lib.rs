//! Partitions hosted on this broker: their logs, high watermarks and the wake-ups that
//! long-polling fetches wait on.
//!
//! Owns the mapping from a topic partition to its on-disk [`strata_log::PartitionLog`]
//! and the rules around it (where the directory lives, which topic incarnation it
//! belongs to, when a read may see an offset). It knows nothing of the Kafka wire
//! protocol or of `services/`; a later issue adds followers, the ISR and acks=all
//! purgatories over gRPC here.

mod error;
mod partition;
mod replica_manager;

pub use error::ReplicationError;
pub use partition::{FetchedData, Partition};
pub use replica_manager::{ReplicaManager, TopicPartition};
