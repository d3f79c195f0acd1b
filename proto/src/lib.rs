//! Strata's shared vocabulary: the domain types every layer names things with, so a
//! partition is the same value in the log, the remote tier, replication, the
//! coordinators and the broker.
//!
//! - [`TopicId`], [`TopicPartition`], [`TopicIdPartition`], [`BrokerId`],
//!   [`LeaderEpoch`]: Kafka's own names, so KIPs map one to one;
//! - [`records`]: the metadata records generated from `proto/metadata.proto`, the shape
//!   the metadata quorum replicates;
//! - [`Clock`]: wall-clock time as a seam, with a [`SystemClock`] and a
//!   [`ManualClock`] for tests.
//!
//! No I/O, no tonic, no async: this crate sits below every other one and must never
//! depend on any of them.

mod clock;
mod ids;
pub mod records;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use ids::{BrokerId, LeaderEpoch, TopicId, TopicIdPartition, TopicPartition};
