//! KIP-405's vocabulary, as domain types.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use uuid::Uuid;

pub use strata_proto::{TopicId, TopicIdPartition};

/// One uploaded copy of a segment: a partition and a fresh id per copy attempt, so an
/// orphan of a failed copy never collides with a later successful one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteLogSegmentId {
    pub tp: TopicIdPartition,
    pub id: Uuid,
}

/// KIP-405's segment states; the only legal moves are forward along this order
/// (COPY_SEGMENT_STARTED may also go straight to DELETE_SEGMENT_STARTED: a failed copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RemoteLogSegmentState {
    CopySegmentStarted,
    CopySegmentFinished,
    DeleteSegmentStarted,
    DeleteSegmentFinished,
}

impl RemoteLogSegmentState {
    /// Whether `self -> next` is allowed (a state may be repeated: idempotent updates).
    pub fn can_move_to(self, next: RemoteLogSegmentState) -> bool {
        use RemoteLogSegmentState::*;
        matches!(
            (self, next),
            (
                CopySegmentStarted,
                CopySegmentStarted | CopySegmentFinished | DeleteSegmentStarted
            ) | (
                CopySegmentFinished,
                CopySegmentFinished | DeleteSegmentStarted
            ) | (
                DeleteSegmentStarted,
                DeleteSegmentStarted | DeleteSegmentFinished
            ) | (DeleteSegmentFinished, DeleteSegmentFinished)
        )
    }

    /// Kafka's name of the state, as stored in metadata records.
    pub fn name(self) -> &'static str {
        match self {
            RemoteLogSegmentState::CopySegmentStarted => "COPY_SEGMENT_STARTED",
            RemoteLogSegmentState::CopySegmentFinished => "COPY_SEGMENT_FINISHED",
            RemoteLogSegmentState::DeleteSegmentStarted => "DELETE_SEGMENT_STARTED",
            RemoteLogSegmentState::DeleteSegmentFinished => "DELETE_SEGMENT_FINISHED",
        }
    }

    /// The state named `name` (see [`Self::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        use RemoteLogSegmentState::*;
        [
            CopySegmentStarted,
            CopySegmentFinished,
            DeleteSegmentStarted,
            DeleteSegmentFinished,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// KIP-405's partition-deletion states, forward only along this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RemotePartitionDeleteState {
    DeletePartitionMarked,
    DeletePartitionStarted,
    DeletePartitionFinished,
}

impl RemotePartitionDeleteState {
    /// Whether `self -> next` is allowed: one step forward, or the same state again.
    pub fn can_move_to(self, next: RemotePartitionDeleteState) -> bool {
        (next as u8) == (self as u8) || (next as u8) == (self as u8) + 1
    }

    /// Kafka's name of the state, as stored in the bucket.
    pub fn name(self) -> &'static str {
        match self {
            RemotePartitionDeleteState::DeletePartitionMarked => "DELETE_PARTITION_MARKED",
            RemotePartitionDeleteState::DeletePartitionStarted => "DELETE_PARTITION_STARTED",
            RemotePartitionDeleteState::DeletePartitionFinished => "DELETE_PARTITION_FINISHED",
        }
    }

    /// The state named `name` (see [`Self::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        use RemotePartitionDeleteState::*;
        [
            DeletePartitionMarked,
            DeletePartitionStarted,
            DeletePartitionFinished,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// What the remote tier knows of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteLogSegmentMetadata {
    pub segment_id: RemoteLogSegmentId,
    pub start_offset: i64,
    pub end_offset: i64,
    pub max_timestamp_ms: i64,
    pub broker_id: i32,
    pub event_timestamp_ms: i64,
    pub segment_size_bytes: u64,
    /// Leader epoch -> first offset of that epoch within the segment.
    pub segment_leader_epochs: BTreeMap<i32, i64>,
    pub state: RemoteLogSegmentState,
}

/// A sealed local segment and its companions, as handed to the copier.
#[derive(Debug, Clone)]
pub struct LogSegmentData {
    pub log_segment: PathBuf,
    pub offset_index: PathBuf,
    pub time_index: PathBuf,
    pub transaction_index: Option<PathBuf>,
    pub producer_snapshot: Option<PathBuf>,
    pub leader_epoch_index: Bytes,
}

/// The indexes stored beside a remote segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexType {
    Offset,
    Timestamp,
    ProducerSnapshot,
    LeaderEpoch,
    Transaction,
}

impl IndexType {
    /// The object-name suffix of this index.
    pub fn suffix(self) -> &'static str {
        match self {
            IndexType::Offset => "index",
            IndexType::Timestamp => "timeindex",
            IndexType::ProducerSnapshot => "snapshot",
            IndexType::LeaderEpoch => "leader-epoch",
            IndexType::Transaction => "txnindex",
        }
    }

    pub const ALL: [IndexType; 5] = [
        IndexType::Offset,
        IndexType::Timestamp,
        IndexType::ProducerSnapshot,
        IndexType::LeaderEpoch,
        IndexType::Transaction,
    ];
}
