//! The remote log manager (KIP-405's RemoteLogManager): per tiered partition, the
//! copier uploads sealed segments below the high watermark exactly once, local
//! retention then frees what is remote, the expirer applies total retention to the
//! remote tier, and reads below the local log start go through the chunk cache.
//!
//! It lives here rather than in `strata-remote` because it drives hosted partitions
//! (their logs, views and locks); `strata-remote` and `strata-cache` below it know
//! nothing of partitions.

mod copier;
mod deleter;
mod expirer;
mod pending_deletions;
pub mod policy;
mod reads;
mod recovery;
mod stats;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use strata_cache::RemoteReader;
use strata_proto::SharedClock;
use strata_remote::{
    CountingStore, RateLimiter, RemoteLogMetadataStore, RemoteStorageError, RemoteStorageManager,
    TopicIdPartition,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::log_manager::{LogManager, TopicPartition};
use crate::partition::Partition;

pub use reads::RemoteRecords;
pub use recovery::RecoveredPartition;
pub use stats::{TierStats, TierStatsSnapshot};

/// The remote log manager's settings (Kafka's `remote.log.manager.*` broker configs).
#[derive(Debug, Clone)]
pub struct TieringConfig {
    /// This node (recorded in segment metadata).
    pub broker_id: i32,
    /// How often every tiered partition is swept (`remote.log.manager.task.interval.ms`).
    pub task_interval: Duration,
    /// `remote.log.manager.copy.max.bytes.per.second`.
    pub copy_max_bytes_per_second: i64,
    /// Segment uploads in flight over all partitions
    /// (`remote.log.manager.copier.thread.pool.size`).
    pub copier_concurrency: usize,
    /// Where the stats snapshot is written for `strata remote stats`.
    pub stats_file: Option<PathBuf>,
    /// Where partitions whose remote data is still to be deleted are listed.
    pub deletions_file: Option<PathBuf>,
    /// The remote tier's URL, for logs and DescribeLogDirs.
    pub url: String,
    /// Where event timestamps and retention deadlines are read.
    pub clock: SharedClock,
}

/// What went wrong in the remote tier for one operation.
#[derive(Debug, thiserror::Error)]
pub enum TieringError {
    /// The object store or the metadata in it.
    #[error(transparent)]
    Remote(#[from] RemoteStorageError),
    /// The chunk cache / remote reader.
    #[error(transparent)]
    Read(#[from] strata_cache::CacheError),
    /// The local log.
    #[error(transparent)]
    Log(#[from] strata_log::LogError),
    /// No remote segment holds the offset (it expired or was never uploaded).
    #[error("offset {0} is in no remote segment")]
    NotRemote(i64),
}

/// The remote log manager of one node.
pub struct RemoteLogManager {
    replicas: Arc<LogManager>,
    rsm: Arc<dyn RemoteStorageManager>,
    meta: Arc<RemoteLogMetadataStore>,
    reader: Arc<RemoteReader>,
    cfg: TieringConfig,
    copy_rate: RateLimiter,
    copy_slots: Semaphore,
    stats: Arc<TierStats>,
    /// Partitions with a sweep in flight, with the token that stops it.
    running: Mutex<HashMap<TopicPartition, CancellationToken>>,
    shutdown: CancellationToken,
    /// Every task the manager spawned (sweeps, deletions), so shutdown can wait for them.
    tasks: TaskTracker,
    /// Object-store requests by kind, when the store is wrapped to count them.
    requests: Option<Arc<CountingStore>>,
    /// Serialises updates of `cfg.deletions_file`.
    deletions_lock: Mutex<()>,
}

impl RemoteLogManager {
    /// A manager over `replicas` using `rsm` for data and `meta` for segment metadata.
    pub fn new(
        replicas: Arc<LogManager>,
        rsm: Arc<dyn RemoteStorageManager>,
        meta: Arc<RemoteLogMetadataStore>,
        reader: Arc<RemoteReader>,
        cfg: TieringConfig,
    ) -> Self {
        Self {
            replicas,
            rsm,
            meta,
            reader,
            copy_rate: RateLimiter::new(cfg.copy_max_bytes_per_second),
            copy_slots: Semaphore::new(cfg.copier_concurrency.max(1)),
            cfg,
            stats: Arc::new(TierStats::default()),
            running: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            requests: None,
            deletions_lock: Mutex::new(()),
        }
    }

    /// Reports the requests counted by `store` (the one under `rsm` and `meta`).
    pub fn with_request_counts(mut self, store: Arc<CountingStore>) -> Self {
        self.requests = Some(store);
        self
    }

    /// The remote tier's URL.
    pub fn url(&self) -> &str {
        &self.cfg.url
    }

    /// Counters of what was copied, fetched and deleted.
    pub fn stats(&self) -> TierStatsSnapshot {
        let counts = self
            .requests
            .as_ref()
            .map(|c| c.counts())
            .unwrap_or_default();
        self.stats.snapshot(&self.reader.stats(), &counts)
    }

    /// Stops every sweep and deletion in flight.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// [`Self::shutdown`], then waits until every task the manager spawned has ended:
    /// called before the logs close, so no upload reads a segment being closed.
    pub async fn shutdown_and_wait(&self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Spawns `f` as one of the manager's tracked tasks.
    pub(crate) fn spawn(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(f);
    }

    /// Sweeps every tiered partition each `task_interval` until shutdown; finishes
    /// partition deletions left unfinished by an earlier run first.
    pub async fn run(self: Arc<Self>) {
        let resume = self.clone();
        self.spawn(async move { resume.resume_deletions().await });
        let mut tick = tokio::time::interval(self.cfg.task_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_stats = Vec::new();
        let sealed = self.replicas.segment_sealed();
        loop {
            // A sealed segment starts its upload at once rather than at the next tick.
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tick.tick() => {}
                _ = sealed.notified() => {}
            }
            for p in self.replicas.partitions() {
                if !p.config().remote_storage_enable() {
                    continue;
                }
                let tp = p.topic_partition().clone();
                let token = {
                    let mut running = self.running.lock();
                    if running.contains_key(&tp) {
                        continue;
                    }
                    let token = self.shutdown.child_token();
                    running.insert(tp.clone(), token.clone());
                    token
                };
                let me = self.clone();
                self.spawn(async move {
                    if let Err(e) = me.sweep(&p, &token).await {
                        if !token.is_cancelled() {
                            tracing::warn!(%tp, error = %e, "remote tier sweep failed; retrying next round");
                        }
                    }
                    me.running.lock().remove(&tp);
                });
            }
            self.write_stats_file(&mut last_stats);
        }
        self.write_stats_file(&mut last_stats);
    }

    /// One pass over a partition: load its view, remove leftovers, upload what is
    /// sealed, free local space, expire remote segments.
    async fn sweep(
        &self,
        p: &Arc<Partition>,
        cancel: &CancellationToken,
    ) -> Result<(), TieringError> {
        self.ensure_loaded(p, cancel).await?;
        self.delete_pending(p, cancel).await?;
        if !p.config().remote_copy_disable() {
            self.copy_sealed(p, cancel).await?;
        }
        let upto = p.remote().read().remote_upto();
        let now = self.now_ms();
        match p.enforce_local_retention(now, upto) {
            Ok(0) => {}
            Ok(n) => {
                tracing::debug!(tp = %p.topic_partition(), segments = n, "local retention freed remote segments")
            }
            Err(e) => {
                tracing::warn!(tp = %p.topic_partition(), error = %e, "local retention failed")
            }
        }
        self.expire(p, cancel).await
    }

    /// Loads the partition's view from the metadata store once. What failed copies
    /// and interrupted deletes left is queued for the sweep to remove.
    async fn ensure_loaded(
        &self,
        p: &Arc<Partition>,
        cancel: &CancellationToken,
    ) -> Result<(), TieringError> {
        if p.remote().read().loaded {
            return Ok(());
        }
        let _guard = p.remote_load_lock().lock().await;
        if p.remote().read().loaded {
            return Ok(());
        }
        let tp = tip(p);
        let all = self.meta.list_segments(&tp, cancel).await?;
        let mut finished = std::collections::BTreeMap::new();
        let mut leftovers = Vec::new();
        for m in all {
            match m.state {
                strata_remote::RemoteLogSegmentState::CopySegmentFinished => {
                    // Listed by (start, event time): of two copies of the same
                    // offsets the later stays, the earlier goes.
                    if let Some(earlier) = finished.insert(m.start_offset, m) {
                        leftovers.push(earlier);
                    }
                }
                _ => leftovers.push(m),
            }
        }
        {
            let mut view = p.remote().write();
            view.load_floor(&p.dir());
            view.segments = finished;
            view.pending_deletes = leftovers;
            view.loaded = true;
        }
        tracing::info!(
            tp = %p.topic_partition(),
            segments = p.remote().read().segments.len(),
            latest_tiered = p.remote().read().latest_tiered(),
            "remote tier view loaded"
        );
        Ok(())
    }

    /// Deletes the view's pending segments; those not deleted stay queued.
    pub(super) async fn delete_pending(
        &self,
        p: &Arc<Partition>,
        cancel: &CancellationToken,
    ) -> Result<(), TieringError> {
        let pending = std::mem::take(&mut p.remote().write().pending_deletes);
        let mut left = pending.into_iter();
        while let Some(m) = left.next() {
            if let Err(e) = self.delete_segment(p, m.clone(), cancel).await {
                let mut view = p.remote().write();
                view.pending_deletes.push(m);
                view.pending_deletes.extend(left);
                return Err(e);
            }
            tracing::debug!(tp = %p.topic_partition(), start = m.start_offset, id = %m.segment_id.id,
                "remote segment removed");
        }
        Ok(())
    }

    /// Writes the stats snapshot for `strata remote stats` when it changed.
    fn write_stats_file(&self, last: &mut Vec<u8>) {
        let Some(path) = &self.cfg.stats_file else {
            return;
        };
        let Ok(bytes) = serde_json::to_vec_pretty(&self.stats()) else {
            return;
        };
        if bytes == *last {
            return;
        }
        let tmp = path.with_extension("tmp");
        let ok = std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, path));
        *last = bytes;
        if let Err(e) = ok {
            tracing::debug!(error = %e, "could not write remote tier stats");
        }
    }
}

/// The remote tier's name of a hosted partition.
pub(crate) fn tip(p: &Partition) -> TopicIdPartition {
    TopicIdPartition {
        topic_id: p.topic_id(),
        topic_partition: p.topic_partition().clone(),
    }
}

impl RemoteLogManager {
    /// The time on this node's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.cfg.clock.now_ms()
    }
}
