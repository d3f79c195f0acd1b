//! `strata-log` owns the local partition log of a Strata broker: the record-batch
//! format v2 (a zero-copy header view with CRC-32C), segments (`.log`, `.index`,
//! `.timeindex`), the partition log itself (append, read, roll, retention,
//! DeleteRecords start-offset moves, crash recovery), topic configs under Kafka's
//! names, and idempotent-producer state with snapshots.
//!
//! Layering: this crate is at the bottom of the stack. It must never depend on any
//! `control-plane/*` or `services/*` crate, nor on Kafka request/response types;
//! record batches are opaque bytes apart from the header view in [`batch`].
//! (`kafka-protocol` is used only to decode the records inside one batch in the
//! timestamp-lookup slow path.)

pub mod batch;
pub mod cleaner;
#[cfg(test)]
mod cleaner_tests;
pub mod config;
pub mod error;
mod files;
mod index;
pub mod leader_epochs;
pub mod log;
#[cfg(test)]
mod log_tests;
mod producer_state;
mod record_keys;
mod recovery;
mod retention;
mod scan;
mod segment;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
mod tiered;
mod timestamp_lookup;

pub use batch::{split_batches, BatchSpan, RecordBatchHeader, BATCH_HEADER_LEN, BATCH_SPAN_LEN};
pub use cleaner::{CleanPlan, CleanStats, CleanerOptions, PreparedClean, Throttle};
pub use config::{
    validate_topic_config, ConfigError, ConfigKind, LogConfig, TimestampType, TopicConfigDef,
    TOPIC_CONFIGS,
};
pub use error::LogError;
pub use index::{offset_index_lookup, time_index_lookup};
pub use leader_epochs::{EpochEntry, LeaderEpochCache, LEADER_EPOCH_CHECKPOINT};
pub use log::{AppendInfo, PartitionLog, SegmentInfo, TimestampOffset};
pub use tiered::{seed_log_start, SealedSegment};
pub use timestamp_lookup::first_record_at_or_after;
