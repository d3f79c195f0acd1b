use strata_log::LogError;
use strata_remote::RemoteStorageError;

/// What can go wrong with a partition's log in either tier.
#[derive(Debug, thiserror::Error)]
pub enum TieredError {
    /// The local log refused or failed the operation.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The partition directory could not be created, read or removed.
    #[error("partition directory {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The object store or the segment metadata in it.
    #[error(transparent)]
    Remote(#[from] RemoteStorageError),
    /// The chunk cache / remote reader.
    #[error(transparent)]
    Read(#[from] strata_cache::CacheError),
    /// No remote segment holds the offset (it expired or was never uploaded).
    #[error("offset {0} is in no remote segment")]
    NotRemote(i64),
    /// The task reading the remote tier failed (it panicked or was cancelled).
    #[error("remote read task: {0}")]
    ReadTask(#[source] tokio::task::JoinError),
}

impl TieredError {
    /// Whether the same call may succeed later: object-store trouble that may pass, the
    /// local disk, a read task that died; not a corrupt or missing remote object, nor
    /// anything the local log refused for the request's own sake.
    pub fn is_retryable(&self) -> bool {
        match self {
            TieredError::Log(l) => matches!(l, LogError::Io(_)),
            TieredError::Dir { .. } | TieredError::ReadTask(_) => true,
            TieredError::Remote(r) => !r.is_permanent(),
            TieredError::Read(c) => c.is_retryable(),
            TieredError::NotRemote(_) => false,
        }
    }

    pub(crate) fn dir(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| TieredError::Dir {
            path: path.display().to_string(),
            source,
        }
    }
}
