use strata_log::LogError;

/// What can go wrong hosting a partition.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// The partition log refused or failed the operation.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The partition directory could not be created, read or removed.
    #[error("partition directory {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
