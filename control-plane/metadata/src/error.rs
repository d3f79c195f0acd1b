//! Errors of the metadata image and the metadata store.

use std::path::PathBuf;

/// Why applying a record, or opening or writing the metadata store, failed.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// A file operation failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record does not fit the image (unknown topic id, duplicate name, ...).
    #[error("invalid metadata record: {0}")]
    InvalidRecord(String),
    /// Stored metadata is damaged beyond the recoverable torn tail.
    #[error("corrupt metadata in {path}: {reason}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `meta.properties` is missing a key or has a bad value.
    #[error("invalid meta.properties in {path}: {reason}")]
    InvalidMetaProperties {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `meta.properties` belongs to another node.
    #[error("node.id mismatch: meta.properties has {stored}, configured {configured}")]
    NodeIdMismatch {
        /// `node.id` in `meta.properties`.
        stored: i32,
        /// `node.id` passed to `open`.
        configured: i32,
    },
    /// `meta.properties` belongs to another cluster: this data directory was
    /// formatted for (or has joined) a different cluster than configured.
    #[error("cluster.id mismatch: meta.properties has {stored}, configured {configured}; this data directory belongs to another cluster")]
    ClusterIdMismatch { stored: String, configured: String },
    /// An earlier write failed and could not be rolled back; the store
    /// refuses further commits until it is reopened.
    #[error("metadata store is failed after an earlier write error; reopen it")]
    Failed,
}

impl MetadataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MetadataError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        MetadataError::InvalidRecord(reason.into())
    }
}
