/// Why a remote-tier call failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteStorageError {
    /// The object (segment, index or metadata record) is not in the store.
    #[error("not found: {0}")]
    NotFound(String),
    /// A metadata write from a leader epoch older than the one recorded for the
    /// partition: this broker is no longer (or not yet) the leader that may write.
    #[error("fenced: leader epoch {writer} is older than the partition's {current}")]
    Fenced { writer: i32, current: i32 },
    /// An illegal state transition, or a record that already exists with other content.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// A stored object could not be decoded (bad JSON, unknown state, bad uuid).
    #[error("corrupt object {key}: {reason}")]
    Corrupt { key: String, reason: String },
    /// A byte range outside the segment.
    #[error("invalid range: {0}")]
    InvalidRange(String),
    /// A conditional write lost against another writer (`AlreadyExists` /
    /// `Precondition`); callers re-read and decide again.
    #[error("conditional write conflict: {0}")]
    Conflict(String),
    /// The backend does not implement the operation (e.g. `PutMode::Update` on a
    /// local folder).
    #[error("unsupported by the backend: {0}")]
    Unsupported(String),
    /// The store refused or failed the call; `retryable` says whether trying again may
    /// help (timeouts, 5xx, throttling) or not (bad credentials, invalid path).
    #[error("object store: {message}")]
    Store { message: String, retryable: bool },
    /// A local file of the segment could not be read.
    #[error("local file {path}: {source}")]
    LocalFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A bad configuration (URL, bucket).
    #[error("invalid remote storage configuration: {0}")]
    Config(String),
    /// The call was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl RemoteStorageError {
    /// Whether retrying cannot help. Retryable: timeouts, connection errors, 5xx and
    /// throttling responses (`Store { retryable: true }`); everything else — not found,
    /// fenced, invalid state, corrupt, conflicts, bad config, cancelled — is permanent
    /// for the retry loop (a `Conflict` is resolved by re-reading, not by repeating).
    pub fn is_permanent(&self) -> bool {
        match self {
            RemoteStorageError::Store { retryable, .. } => !retryable,
            _ => true,
        }
    }
}

impl From<object_store::Error> for RemoteStorageError {
    fn from(e: object_store::Error) -> Self {
        use object_store::Error as E;
        match e {
            E::NotFound { path, .. } => RemoteStorageError::NotFound(path),
            E::AlreadyExists { .. } | E::Precondition { .. } => {
                RemoteStorageError::Conflict(e.to_string())
            }
            E::NotSupported { .. } | E::NotImplemented { .. } => {
                RemoteStorageError::Unsupported(e.to_string())
            }
            E::InvalidPath { .. }
            | E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::UnknownConfigurationKey { .. }
            | E::NotModified { .. } => RemoteStorageError::Store {
                message: e.to_string(),
                retryable: false,
            },
            // Generic covers HTTP failures (5xx, 429/503 throttling, timeouts, resets)
            // once object_store's own retries are exhausted, and JoinError a panicked
            // or aborted blocking task of the local backend.
            other => RemoteStorageError::Store {
                message: other.to_string(),
                retryable: true,
            },
        }
    }
}
