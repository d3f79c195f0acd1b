/// Why a remote read failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Fetching a chunk or index from the remote tier failed (after retries).
    /// `retryable` keeps what the store said: a timeout or 5xx may pass, a missing
    /// object or a refused credential will not. (The cache hands back the store's
    /// error only by reference, so its message and class are what can be kept.)
    #[error("remote fetch failed: {message}")]
    Fetch { message: String, retryable: bool },
    /// The cache could not be built (bad directory or sizes).
    #[error("chunk cache: {0}")]
    Build(String),
    /// The remote segment does not hold well-formed batches where its index points.
    #[error("remote segment {segment}: {reason}")]
    Corrupt { segment: String, reason: String },
}

impl CacheError {
    /// Whether the same read may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            CacheError::Fetch { retryable, .. } => *retryable,
            CacheError::Build(_) | CacheError::Corrupt { .. } => false,
        }
    }
}
