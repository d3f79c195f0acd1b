/// Why a remote read failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Fetching a chunk or index from the remote tier failed (after retries).
    #[error("remote fetch failed: {0}")]
    Fetch(String),
    /// The cache could not be built (bad directory or sizes).
    #[error("chunk cache: {0}")]
    Build(String),
    /// The remote segment does not hold well-formed batches where its index points.
    #[error("remote segment {segment}: {reason}")]
    Corrupt { segment: String, reason: String },
}
