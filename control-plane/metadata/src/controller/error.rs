//! Errors of admin operations.

/// Why the controller rejected an admin operation.
///
/// Each variant maps to one Kafka error code (named after it); the payload is
/// the full message, Kafka's own text where Kafka has one, and `Display`
/// prints exactly that so the broker can send it as the error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
    /// TOPIC_ALREADY_EXISTS.
    #[error("{0}")]
    TopicAlreadyExists(String),
    /// INVALID_TOPIC_EXCEPTION: bad or colliding topic name.
    #[error("{0}")]
    InvalidTopic(String),
    /// INVALID_PARTITIONS.
    #[error("{0}")]
    InvalidPartitions(String),
    /// INVALID_REPLICATION_FACTOR.
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// INVALID_REPLICA_ASSIGNMENT.
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// INVALID_CONFIG: unknown key or bad value (the message names the key).
    #[error("{0}")]
    InvalidConfig(String),
    /// UNKNOWN_TOPIC_OR_PARTITION.
    #[error("{0}")]
    UnknownTopic(String),
    /// INVALID_REQUEST.
    #[error("{0}")]
    InvalidRequest(String),
    /// DUPLICATE_BROKER_REGISTRATION: another incarnation of this node id still
    /// holds a live session (a second process with the same `node.id`, or a restart
    /// before the old session expired; the broker retries).
    #[error("{0}")]
    DuplicateBrokerRegistration(String),
    /// DUPLICATE_VOTER: the node is already a voter of the metadata quorum.
    #[error("{0}")]
    DuplicateVoter(String),
    /// VOTER_NOT_FOUND: the node is not a voter (to remove) or not an observer (to add).
    #[error("{0}")]
    VoterNotFound(String),
}
