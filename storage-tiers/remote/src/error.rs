/// Why a remote-tier call failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteStorageError {
    /// The object (segment or index) is not in the store.
    #[error("not found: {0}")]
    NotFound(String),
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
    /// throttling responses; everything else is permanent.
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
            E::InvalidPath { .. }
            | E::NotSupported { .. }
            | E::NotImplemented { .. }
            | E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::UnknownConfigurationKey { .. }
            | E::AlreadyExists { .. }
            | E::Precondition { .. } => RemoteStorageError::Store {
                message: e.to_string(),
                retryable: false,
            },
            // Generic covers HTTP failures (5xx, 429/503 throttling, timeouts, resets)
            // once object_store's own retries are exhausted.
            other => RemoteStorageError::Store {
                message: other.to_string(),
                retryable: true,
            },
        }
    }
}
