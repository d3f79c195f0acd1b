//! The one place that maps domain errors to Kafka error codes.

use kafka_protocol::ResponseError;
use strata_coordinator::WriteFailure;
use strata_groups::GroupError;
use strata_log::LogError;
use strata_metadata::quorum::QuorumError;
use strata_metadata::ControllerError;
use strata_tiered::TieredError;

use crate::context::RemoteLookupError;
use crate::state::AdminError;

/// Kafka error code and message for a log error.
pub fn log_error(e: &LogError) -> (i16, String) {
    let err = match e {
        LogError::CorruptRecord(_) => ResponseError::CorruptMessage,
        LogError::UnsupportedMagic(_) => ResponseError::UnsupportedForMessageFormat,
        LogError::RecordTooLarge { .. } => ResponseError::MessageTooLarge,
        LogError::InvalidRecord(_) => ResponseError::InvalidRecord,
        LogError::InvalidTimestamp(_) => ResponseError::InvalidTimestamp,
        LogError::OutOfOrderSequence(_) => ResponseError::OutOfOrderSequenceNumber,
        LogError::InvalidProducerEpoch(_) => ResponseError::InvalidProducerEpoch,
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::Io(_) => ResponseError::KafkaStorageError,
        // A segment past u32::MAX relative offsets is a broker limit, not the request's.
        LogError::SegmentOverflow(_) => ResponseError::UnknownServerError,
    };
    if matches!(err, ResponseError::KafkaStorageError) {
        tracing::error!(error = %e, "storage error");
    }
    (err.code(), e.to_string())
}

/// What a failed append to a coordinator's partition means for its callers: storage
/// trouble may pass (COORDINATOR_NOT_AVAILABLE); records the log refuses are refused
/// for good.
pub fn coordinator_write_failure(e: &LogError) -> WriteFailure {
    match e {
        LogError::Io(_) | LogError::SegmentOverflow(_) => WriteFailure::Unavailable,
        LogError::CorruptRecord(_)
        | LogError::UnsupportedMagic(_)
        | LogError::RecordTooLarge { .. }
        | LogError::InvalidRecord(_)
        | LogError::InvalidTimestamp(_)
        | LogError::OutOfOrderSequence(_)
        | LogError::InvalidProducerEpoch(_)
        | LogError::OffsetOutOfRange { .. } => WriteFailure::Rejected,
    }
}

/// Kafka error code and message for a failure of a partition's log in either tier.
/// Trouble that may pass (object-store timeouts and 5xx, the local directory, a
/// failed read task) is KAFKA_STORAGE_ERROR, which clients retry; a remote object
/// that is corrupt, missing or refused for good is UNKNOWN_SERVER_ERROR, Kafka's
/// answer for a RemoteStorageException; an offset that expired between lookup and
/// read is OFFSET_OUT_OF_RANGE.
pub fn tiered_error(e: &TieredError) -> (i16, String) {
    let err = match e {
        TieredError::NotRemote(_) => ResponseError::OffsetOutOfRange,
        TieredError::Log(l) => return log_error(l),
        TieredError::Remote(_) | TieredError::Read(_) if !e.is_retryable() => {
            tracing::error!(error = %e, "remote tier refused a read for good");
            ResponseError::UnknownServerError
        }
        TieredError::Remote(_)
        | TieredError::Read(_)
        | TieredError::ReadTask(_)
        | TieredError::Dir { .. } => ResponseError::KafkaStorageError,
    };
    if matches!(err, ResponseError::KafkaStorageError) {
        tracing::warn!(error = %e, "storage error");
    }
    (err.code(), e.to_string())
}

/// Kafka error code and message for a topic that cannot be recovered from the remote
/// tier: nothing to recover is the request's INVALID_CONFIG; reading the bucket is
/// mapped as any tier failure.
pub fn remote_lookup_error(e: &RemoteLookupError) -> (i16, String) {
    match e {
        RemoteLookupError::Disabled | RemoteLookupError::NotFound { .. } => {
            (ResponseError::InvalidConfig.code(), e.to_string())
        }
        RemoteLookupError::Tier(t) => tiered_error(t),
    }
}

/// Kafka error code and message for an admin failure: the controller's refusals map
/// to their codes; the node failing to store or apply the change is
/// KAFKA_STORAGE_ERROR (the client may retry), a coordinator that cannot load is
/// COORDINATOR_NOT_AVAILABLE.
pub fn admin_error(e: &AdminError) -> (i16, String) {
    let err = match e {
        AdminError::Controller(c) => return controller_error(c),
        AdminError::Metadata(_) | AdminError::Log(_) | AdminError::RecordDeletions(_) => {
            ResponseError::KafkaStorageError
        }
        AdminError::GroupLoad(_) => ResponseError::CoordinatorNotAvailable,
        AdminError::Quorum(q) => return quorum_error(q),
    };
    tracing::error!(error = %e, "admin operation failed");
    (err.code(), e.to_string())
}

/// Kafka error code and message for a change the metadata quorum could not take:
/// no reachable active controller is NOT_CONTROLLER and no majority in time
/// REQUEST_TIMED_OUT (both retriable: clients refresh metadata and retry); a stopped
/// or misconfigured quorum is UNKNOWN_SERVER_ERROR.
pub fn quorum_error(e: &QuorumError) -> (i16, String) {
    let err = match e {
        QuorumError::NotLeader { .. } | QuorumError::Forward(_) => ResponseError::NotController,
        QuorumError::Timeout(_) => ResponseError::RequestTimedOut,
        QuorumError::Config(_)
        | QuorumError::Store(_)
        | QuorumError::Membership(_)
        | QuorumError::Stopped(_) => ResponseError::UnknownServerError,
        QuorumError::DuplicateVoter(_) => ResponseError::DuplicateVoter,
        QuorumError::VoterNotFound(_) => ResponseError::VoterNotFound,
    };
    tracing::warn!(error = %e, "metadata quorum");
    (err.code(), e.to_string())
}

/// Kafka error code and message for a controller (admin) error.
pub fn controller_error(e: &ControllerError) -> (i16, String) {
    let err = match e {
        ControllerError::TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists,
        ControllerError::InvalidTopic(_) => ResponseError::InvalidTopicException,
        ControllerError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        ControllerError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        ControllerError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
        ControllerError::InvalidConfig(_) => ResponseError::InvalidConfig,
        ControllerError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
        ControllerError::InvalidRequest(_) => ResponseError::InvalidRequest,
        ControllerError::DuplicateBrokerRegistration(_) => {
            ResponseError::DuplicateBrokerRegistration
        }
        ControllerError::DuplicateVoter(_) => ResponseError::DuplicateVoter,
        ControllerError::VoterNotFound(_) => ResponseError::VoterNotFound,
    };
    (err.code(), e.to_string())
}

/// Kafka error code for a group coordinator answer (0 for none).
pub fn group_error_code(e: Option<&GroupError>) -> i16 {
    let Some(e) = e else { return 0 };
    let err = match e {
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
        GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
        GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
        GroupError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
        GroupError::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
        GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        GroupError::NotCoordinator => ResponseError::NotCoordinator,
        GroupError::InvalidCommitOffsetSize => ResponseError::InvalidCommitOffsetSize,
        GroupError::UnknownServerError => ResponseError::UnknownServerError,
    };
    err.code()
}

/// The code for "the coordinator task is gone" (node shutting down).
pub fn coordinator_unavailable() -> i16 {
    ResponseError::CoordinatorNotAvailable.code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_cache::CacheError;
    use strata_remote::RemoteStorageError;

    fn code(e: TieredError) -> i16 {
        tiered_error(&e).0
    }

    #[test]
    fn remote_trouble_that_may_pass_is_retried_and_the_rest_is_not() {
        let storage = ResponseError::KafkaStorageError.code();
        let unknown = ResponseError::UnknownServerError.code();
        let slow = RemoteStorageError::Store {
            message: "503 Slow Down".into(),
            retryable: true,
        };
        assert_eq!(code(TieredError::Remote(slow)), storage);
        let read_timeout = CacheError::Fetch {
            message: "timeout".into(),
            retryable: true,
        };
        assert_eq!(code(TieredError::Read(read_timeout)), storage);
        let corrupt = CacheError::Corrupt {
            segment: "s".into(),
            reason: "bad crc".into(),
        };
        assert_eq!(code(TieredError::Read(corrupt)), unknown);
        let missing = RemoteStorageError::NotFound("seg".into());
        assert_eq!(code(TieredError::Remote(missing)), unknown);
        assert_eq!(
            code(TieredError::NotRemote(7)),
            ResponseError::OffsetOutOfRange.code()
        );
    }

    #[test]
    fn a_coordinator_write_the_disk_failed_may_be_retried() {
        let io = LogError::Io(std::io::Error::other("disk"));
        assert_eq!(coordinator_write_failure(&io), WriteFailure::Unavailable);
        let big = LogError::RecordTooLarge { size: 10, max: 1 };
        assert_eq!(coordinator_write_failure(&big), WriteFailure::Rejected);
    }
}
