//! A partition's whole log across both tiers, and the node's logs.
//!
//! [`TieredLog`] owns one partition's local [`strata_log::PartitionLog`] and its view of
//! the remote tier: reads by offset are answered from whichever tier holds the offset
//! (remote ones through the chunk cache, within `remote.fetch.max.wait.ms`), and so are
//! offset-for-timestamp, max timestamp, log start / local start / latest tiered.
//! [`LogManager`] (Kafka's LogManager) hosts every partition log of the node.
//! [`RemoteLogManager`] (KIP-405's RemoteLogManager) uploads, expires and deletes
//! remote segments for the partitions this node leads, woken by leadership changes and
//! sealed segments.
//!
//! Replica roles, the ISR and the high watermark are not this crate's business: the
//! caller passes the offset reads stop at, and publishes the high watermark the copier
//! uploads below (see `strata-replication`).

mod error;
mod log_manager;
mod remote_view;
mod tiered_log;
mod tiering;

pub use error::TieredError;
pub use log_manager::LogManager;
pub use remote_view::RemoteView;
pub use strata_proto::TopicPartition;
pub use tiered_log::{OffsetSpec, RemoteFetch, RemoteTier, TieredLog, TieredRead};
pub use tiering::{
    policy, RecoveredPartition, RemoteLogManager, TierStats, TierStatsSnapshot, TieringConfig,
};
