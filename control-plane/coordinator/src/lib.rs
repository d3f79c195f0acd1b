//! The runtime every coordinator runs on (the group coordinator today; share groups and
//! transactions next), after Kafka's coordinator runtime (KIP-848).
//!
//! A coordinator is a pure [`StateMachine`]: requests and timer ticks in, records and
//! replies out, and a `replay` that rebuilds it from its records. The runtime gives it
//! one shard per partition of its internal topic (`__consumer_offsets`, …): each shard
//! is a task that owns its state, appends the records a request produced through a
//! [`PartitionWriter`] and sends the replies only once the append is durable; a shard
//! is loaded (replayed from its partition) when this node leads the partition and
//! unloaded when it stops. A failed append fails the replies and rebuilds the shard's
//! state from the log, so memory is never ahead of what was acknowledged.

mod machine;
mod runtime;
mod shard;

pub use machine::{Output, RequestId, StateMachine};
pub use runtime::{CoordinatorRuntime, NotCoordinator};
pub use shard::{LoadError, PartitionWriter, SourceError, WriteError, WriteFailure};

#[cfg(test)]
mod tests;
