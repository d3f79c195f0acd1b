//! Partitions hosted on this broker: their logs, high watermarks and the wake-ups that
//! long-polling fetches wait on.
//!
//! Owns the mapping from a topic partition to its on-disk [`strata_log::PartitionLog`]
//! and the rules around it (where the directory lives, which topic incarnation it
//! belongs to, when a read may see an offset). It knows nothing of the Kafka wire
//! protocol or of `services/`; a later issue adds followers, the ISR and acks=all
//! purgatories over gRPC here. The remote log manager ([`RemoteLogManager`]) tiers the
//! logs of partitions with `remote.storage.enable`.

mod error;
mod log_manager;
mod partition;
mod remote_view;
mod replica_state;
mod tiering;

pub use error::ReplicationError;
pub use log_manager::{LogManager, TopicPartition};
pub use partition::{FetchedData, OffsetTier, Partition};
pub use remote_view::RemoteView;
pub use replica_state::Role;
pub use tiering::{
    RecoveredPartition, RemoteLogManager, RemoteRecords, TierStats, TierStatsSnapshot,
    TieringConfig, TieringError,
};
