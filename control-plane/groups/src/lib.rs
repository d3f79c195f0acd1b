//! The consumer-group coordinator for Kafka's classic group protocol and the committed
//! offsets of groups, as a pure state machine.
//!
//! [`GroupCoordinator::handle`] takes a request and the current time and returns an
//! [`Output`]: replies (some to requests handled earlier: JoinGroup and SyncGroup wait
//! for a rebalance) and the [`GroupRecord`]s to append to `__consumer_offsets`.
//! [`GroupCoordinator::tick`] fires timers (session expiry, rebalance completion,
//! offset expiration); [`GroupCoordinator::replay`] rebuilds state from the records at
//! start-up. No I/O, no clock, no randomness (member ids come from an injected
//! generator), so every behaviour is testable with scripted steps and golden traces.
//!
//! Must never depend on `services/` crates or Kafka wire types: the broker translates
//! requests into [`Request`] and [`GroupError`]s into Kafka error codes.

mod admin;
mod config;
mod coordinator;
mod error;
mod group;
mod machine;
mod membership;
mod offsets;
mod record;
mod request;

#[cfg(test)]
mod coordinator_tests;
#[cfg(test)]
mod offsets_tests;
#[cfg(test)]
mod rebalance_tests;
#[cfg(test)]
mod test_support;

pub use config::GroupConfig;
pub use coordinator::{partition_for, GroupCoordinator, MemberIdGenerator, Output, RequestId};
pub use error::{DecodeError, GroupError};
pub use group::GroupState;
pub use offsets::EMPTY_GROUP_GRACE_MS;
pub use record::{truncate_on_char_boundary, GroupRecord, MemberRecord, MAX_STRING_BYTES};
pub use request::{
    DescribedMember, GroupDescription, GroupListing, JoinGroupReply, JoinedMember,
    OffsetCommitEntry, Reply, Request, SyncGroupReply,
};
