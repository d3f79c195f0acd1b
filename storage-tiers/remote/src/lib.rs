//! The remote tier's storage side (KIP-405): the [`RemoteStorageManager`] trait and its
//! one implementation over `Arc<dyn object_store::ObjectStore>` ([`ObjectStoreRsm`]),
//! so S3, GCS, Azure, a local folder and memory are the same code with another backend;
//! remote segment metadata ([`RemoteLogMetadataStore`]: KIP-405 states, fenced by
//! leader epoch) stored in the same bucket, so the bucket alone is enough to rebuild
//! every topic; and `ObjectStore` decorators that inject faults, latency and count
//! requests under that same code ([`UnreliableStore`], [`LatencyStore`],
//! [`CountingStore`]).
//!
//! Every remote call takes a `CancellationToken`; errors say whether they are worth
//! retrying ([`RemoteStorageError::is_permanent`]) and [`retry`] is the one place that
//! retries (exponential backoff, full jitter).
//!
//! Must never depend on `control-plane/` or `services/` crates nor on Kafka wire
//! types: it takes domain types ([`RemoteLogSegmentMetadata`], [`LogSegmentData`]).
//! The copier/expirer/reader tasks and the read cache build on this crate.

mod decorators;
mod error;
mod keys;
mod manager;
mod metadata;
mod rate;
mod retry;
mod types;
mod url;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
#[cfg(test)]
mod conformance_tests;

pub use decorators::{
    Counting, CountingStore, Decorated, Flaky, FlakyStore, Hook, Latency, LatencyStore,
    RequestClass, RequestCounts, StoreOp, Unreliable, UnreliableStore,
};
pub use error::RemoteStorageError;
pub use manager::{ObjectStoreRsm, RemoteStorageManager, MAX_PARTS_IN_FLIGHT, MULTIPART_PART_SIZE};
pub use metadata::RemoteLogMetadataStore;
pub use rate::RateLimiter;
pub use retry::{retry, RetryPolicy};
pub use types::{
    IndexType, LogSegmentData, RemoteLogSegmentId, RemoteLogSegmentMetadata, RemoteLogSegmentState,
    RemotePartitionDeleteState, TopicId, TopicIdPartition,
};
pub use url::store_from_url;
