//! The one retry loop of the remote tier: exponential backoff with full jitter, only
//! for errors that are not permanent, stopping at once on cancellation.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::error::RemoteStorageError;

/// How often and how patiently to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// Runs `op` until it succeeds, fails permanently, runs out of attempts, or `cancel`
/// fires (then `Cancelled`). Each failure is logged with `what`.
pub async fn retry<T, F, Fut>(
    what: &str,
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    mut op: F,
) -> Result<T, RemoteStorageError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RemoteStorageError>>,
{
    let mut attempt = 0u32;
    loop {
        if cancel.is_cancelled() {
            return Err(RemoteStorageError::Cancelled);
        }
        let result = tokio::select! {
            r = op() => r,
            _ = cancel.cancelled() => return Err(RemoteStorageError::Cancelled),
        };
        match result {
            Ok(v) => return Ok(v),
            Err(e) if e.is_permanent() => return Err(e),
            Err(e) => {
                attempt += 1;
                if attempt >= policy.max_attempts.max(1) {
                    return Err(e);
                }
                let cap = policy
                    .base_delay
                    .saturating_mul(1u32 << attempt.min(20))
                    .min(policy.max_delay);
                let delay = Duration::from_micros(
                    rand::rng().random_range(0..=cap.as_micros().min(u64::MAX as u128) as u64),
                );
                tracing::warn!(what, attempt, error = %e, ?delay, "retrying remote call");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => return Err(RemoteStorageError::Cancelled),
                }
            }
        }
    }
}
