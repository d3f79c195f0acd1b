//! The remote tier's storage side (KIP-405): the [`RemoteStorageManager`] trait and its
//! one implementation over `Arc<dyn object_store::ObjectStore>` ([`ObjectStoreRsm`]),
//! so S3, GCS, Azure, a local folder and memory are the same code with another backend.
//! Every call takes a `CancellationToken`; errors say whether they are worth retrying
//! ([`RemoteStorageError::is_permanent`]) and [`retry`] is the one place that retries.
//!
//! Must never depend on `control-plane/` or `services/` crates nor on Kafka wire
//! types: it takes domain types ([`RemoteLogSegmentMetadata`], [`LogSegmentData`]).
//! Remote segment metadata (states, fencing) and the copier/expirer/reader tasks build
//! on this crate.

mod error;
mod manager;
mod retry;
mod types;
mod url;

#[cfg(test)]
mod conformance_tests;

pub use error::RemoteStorageError;
pub use manager::{ObjectStoreRsm, RemoteStorageManager, MULTIPART_PART_SIZE};
pub use retry::{retry, RetryPolicy};
pub use types::{
    IndexType, LogSegmentData, RemoteLogSegmentId, RemoteLogSegmentMetadata, RemoteLogSegmentState,
    TopicIdPartition,
};
pub use url::store_from_url;
