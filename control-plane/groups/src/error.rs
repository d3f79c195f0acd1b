/// Why the coordinator refused a request, one variant per Kafka error it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("unknown member id")]
    UnknownMemberId,
    #[error("illegal generation")]
    IllegalGeneration,
    #[error("rebalance in progress")]
    RebalanceInProgress,
    #[error("member id required")]
    MemberIdRequired,
    #[error("fenced instance id")]
    FencedInstanceId,
    #[error("inconsistent group protocol")]
    InconsistentGroupProtocol,
    #[error("group id not found")]
    GroupIdNotFound,
    #[error("group is not empty")]
    NonEmptyGroup,
    #[error("invalid session timeout")]
    InvalidSessionTimeout,
    #[error("group max size reached")]
    GroupMaxSizeReached,
    #[error("invalid group id")]
    InvalidGroupId,
    #[error("coordinator load in progress")]
    CoordinatorLoadInProgress,
    #[error("offset metadata too large")]
    OffsetMetadataTooLarge,
    #[error("group is subscribed to the topic")]
    GroupSubscribedToTopic,
    /// The records of a write could not be made durable: the write did not happen.
    #[error("coordinator not available")]
    CoordinatorNotAvailable,
    /// This node stopped leading the group's partition before the write landed.
    #[error("not the coordinator")]
    NotCoordinator,
    /// An offset commit whose records the log refused as too large or invalid.
    #[error("invalid commit offset size")]
    InvalidCommitOffsetSize,
    /// Any other write the log refused for good.
    #[error("unknown server error")]
    UnknownServerError,
}

/// A `__consumer_offsets` record that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode group record: {0}")]
pub struct DecodeError(pub String);
