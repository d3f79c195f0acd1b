//! Counters of the remote tier, for `strata remote stats` and the logs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use strata_cache::ReaderStats;
use strata_remote::RequestCounts;

use strata_proto::TopicPartition;

/// Upload lags kept for percentiles.
const LAG_SAMPLES: usize = 1024;

/// Live counters (atomics; cheap to bump from any task).
#[derive(Debug, Default)]
pub struct TierStats {
    pub(crate) segments_copied: AtomicU64,
    pub(crate) bytes_copied: AtomicU64,
    pub(crate) copy_failures: AtomicU64,
    pub(crate) copy_ms_total: AtomicU64,
    pub(crate) segments_deleted: AtomicU64,
    pub(crate) bytes_deleted: AtomicU64,
    /// Per partition: sealed segments and bytes not yet uploaded.
    lag: Mutex<HashMap<TopicPartition, (u64, u64)>>,
    /// Milliseconds from a segment's last write to the end of its upload.
    upload_lag_ms: Mutex<Vec<u64>>,
}

/// A point-in-time copy of [`TierStats`] plus the reader's counters.
#[derive(Debug, Clone, Serialize)]
pub struct TierStatsSnapshot {
    pub segments_copied: u64,
    pub bytes_copied: u64,
    pub copy_failures: u64,
    pub copy_ms_total: u64,
    pub segments_deleted: u64,
    pub bytes_deleted: u64,
    pub copy_lag_segments: u64,
    pub copy_lag_bytes: u64,
    pub upload_lag_ms_p50: u64,
    pub upload_lag_ms_p99: u64,
    pub bytes_fetched: u64,
    pub chunks_fetched: u64,
    pub fetch_requests: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_hit_ratio: f64,
    pub remote_fetch_latency_ms_avg: f64,
    pub remote_fetch_latency_ms_max: u64,
    /// Object-store requests: PUT class (put, multipart create/part/complete, copy).
    pub requests_put_class: u64,
    /// GET class (get, head).
    pub requests_get_class: u64,
    /// LIST.
    pub requests_list: u64,
    /// DELETE.
    pub requests_delete: u64,
}

impl TierStats {
    pub(crate) fn copied(&self, bytes: u64, took: Duration, lag_ms: Option<u64>) {
        self.segments_copied.fetch_add(1, Ordering::Relaxed);
        self.bytes_copied.fetch_add(bytes, Ordering::Relaxed);
        self.copy_ms_total
            .fetch_add(took.as_millis() as u64, Ordering::Relaxed);
        if let Some(l) = lag_ms {
            let mut lags = self.upload_lag_ms.lock();
            if lags.len() >= LAG_SAMPLES {
                lags.remove(0);
            }
            lags.push(l);
        }
    }

    pub(crate) fn deleted(&self, bytes: u64) {
        self.segments_deleted.fetch_add(1, Ordering::Relaxed);
        self.bytes_deleted.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Forgets a partition that is no longer hosted.
    pub(crate) fn forget(&self, tp: &TopicPartition) {
        self.lag.lock().remove(tp);
    }

    pub(crate) fn set_lag(&self, tp: &TopicPartition, segments: u64, bytes: u64) {
        self.lag.lock().insert(tp.clone(), (segments, bytes));
    }

    /// The counters now, with the reader's.
    pub fn snapshot(&self, r: &ReaderStats, req: &RequestCounts) -> TierStatsSnapshot {
        let (lag_s, lag_b) = self
            .lag
            .lock()
            .values()
            .fold((0, 0), |(a, b), (s, y)| (a + s, b + y));
        let mut lags = self.upload_lag_ms.lock().clone();
        lags.sort_unstable();
        let pct = |q: f64| {
            if lags.is_empty() {
                0
            } else {
                lags[((lags.len() - 1) as f64 * q).round() as usize]
            }
        };
        let lookups = r.cache_hits + r.cache_misses;
        TierStatsSnapshot {
            segments_copied: self.segments_copied.load(Ordering::Relaxed),
            bytes_copied: self.bytes_copied.load(Ordering::Relaxed),
            copy_failures: self.copy_failures.load(Ordering::Relaxed),
            copy_ms_total: self.copy_ms_total.load(Ordering::Relaxed),
            segments_deleted: self.segments_deleted.load(Ordering::Relaxed),
            bytes_deleted: self.bytes_deleted.load(Ordering::Relaxed),
            copy_lag_segments: lag_s,
            copy_lag_bytes: lag_b,
            upload_lag_ms_p50: pct(0.5),
            upload_lag_ms_p99: pct(0.99),
            bytes_fetched: r.bytes_fetched,
            chunks_fetched: r.chunks_fetched,
            fetch_requests: r.reads,
            cache_hits: r.cache_hits,
            cache_misses: r.cache_misses,
            cache_hit_ratio: if lookups == 0 {
                0.0
            } else {
                r.cache_hits as f64 / lookups as f64
            },
            remote_fetch_latency_ms_avg: if r.chunks_fetched == 0 {
                0.0
            } else {
                r.fetch_ms_total as f64 / r.chunks_fetched as f64
            },
            remote_fetch_latency_ms_max: r.fetch_ms_max,
            requests_put_class: req.put_class(),
            requests_get_class: req.get_class(),
            requests_list: req.list_class(),
            requests_delete: req.delete,
        }
    }
}
