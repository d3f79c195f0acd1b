//! An async byte-rate limiter shared by uploads (`remote.log.manager.copy.max.bytes.per.second`)
//! and remote reads (`remote.log.manager.fetch.max.bytes.per.second`).

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Spaces transfers so that, over time, at most `bytes_per_second` pass. Each caller
/// reserves its bytes on a virtual timeline and sleeps until its slot starts, so
/// concurrent callers are served in order and a burst is one transfer long.
#[derive(Debug)]
pub struct RateLimiter {
    bytes_per_second: f64,
    next_free: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter of `bytes_per_second`; 0, negative or `i64::MAX` mean unlimited.
    pub fn new(bytes_per_second: i64) -> Self {
        let rate = if bytes_per_second <= 0 || bytes_per_second == i64::MAX {
            f64::INFINITY
        } else {
            bytes_per_second as f64
        };
        Self {
            bytes_per_second: rate,
            next_free: Mutex::new(None),
        }
    }

    /// Whether the limiter never waits.
    pub fn is_unlimited(&self) -> bool {
        self.bytes_per_second.is_infinite()
    }

    /// Waits until `bytes` may be transferred.
    pub async fn acquire(&self, bytes: u64) {
        if let Some(wait) = self.reserve(bytes, Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Reserves `bytes` at `now`; returns how long to wait before starting.
    fn reserve(&self, bytes: u64, now: Instant) -> Option<Duration> {
        if self.is_unlimited() {
            return None;
        }
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second);
        let mut next = self.next_free.lock();
        let start = next.map_or(now, |n| n.max(now));
        *next = Some(start + cost);
        let wait = start.saturating_duration_since(now);
        (!wait.is_zero()).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_queue_up_at_the_rate() {
        let r = RateLimiter::new(1000);
        let t0 = Instant::now();
        assert_eq!(r.reserve(500, t0), None);
        assert_eq!(r.reserve(500, t0), Some(Duration::from_millis(500)));
        assert_eq!(r.reserve(1, t0), Some(Duration::from_millis(1000)));
        // Idle time is not banked.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(r.reserve(1000, later), None);
        assert!(RateLimiter::new(i64::MAX).reserve(u64::MAX, t0).is_none());
    }
}
