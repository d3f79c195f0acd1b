//! The remote log manager (KIP-405's RemoteLogManager): for each tiered partition this
//! node leads, the copier uploads sealed segments below the high watermark exactly
//! once, local retention then frees what is remote, and the expirer applies total
//! retention to the remote tier. Only leaders tier (uploads are fenced by the leader
//! epoch they were registered with); a sweep starts when a partition becomes leader,
//! when it seals a segment, and every `remote.log.manager.task.interval.ms` for time
//! based retention. What to copy and what to expire are pure functions ([`policy`]).

mod copier;
mod deleter;
mod expirer;
mod pending_deletions;
pub mod policy;
mod recovery;
mod stats;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use strata_proto::{SharedClock, TopicPartition};
use strata_remote::{CountingStore, RateLimiter, RemoteLogMetadataStore, RemoteStorageManager};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::TieredError;
use crate::log_manager::LogManager;
use crate::tiered_log::{RemoteTier, TieredLog};

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

/// The remote log manager of one node.
pub struct RemoteLogManager {
    logs: Arc<LogManager>,
    rsm: Arc<dyn RemoteStorageManager>,
    meta: Arc<RemoteLogMetadataStore>,
    tier: Arc<RemoteTier>,
    cfg: TieringConfig,
    /// The partitions this node leads, with the leader epoch their uploads are fenced
    /// by. Weak: a log removed from the node is not kept alive by being tiered.
    leaders: Mutex<HashMap<TopicPartition, (Weak<TieredLog>, i32)>>,
    copy_rate: RateLimiter,
    copy_slots: Semaphore,
    stats: Arc<TierStats>,
    /// Partitions with a sweep in flight, with the token that stops it.
    running: Mutex<HashMap<TopicPartition, CancellationToken>>,
    /// Every task the manager spawned (sweeps, deletions), so shutdown can wait for them.
    tasks: TaskTracker,
    /// Object-store requests by kind, when the store is wrapped to count them.
    requests: Option<Arc<CountingStore>>,
    /// Serialises updates of `cfg.deletions_file`.
    deletions_lock: Mutex<()>,
}

impl RemoteLogManager {
    /// A manager of the tiered logs of `logs` (which read through `tier`), using `rsm`
    /// for segment data.
    pub fn new(
        logs: Arc<LogManager>,
        tier: Arc<RemoteTier>,
        rsm: Arc<dyn RemoteStorageManager>,
        cfg: TieringConfig,
    ) -> Self {
        Self {
            logs,
            rsm,
            meta: tier.meta.clone(),
            tier,
            leaders: Mutex::new(HashMap::new()),
            copy_rate: RateLimiter::new(cfg.copy_max_bytes_per_second),
            copy_slots: Semaphore::new(cfg.copier_concurrency.max(1)),
            cfg,
            stats: Arc::new(TierStats::default()),
            running: Mutex::new(HashMap::new()),
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
        self.stats.snapshot(&self.tier.reader.stats(), &counts)
    }

    /// Stops every sweep and deletion in flight.
    pub fn shutdown(&self) {
        self.tier.shutdown.cancel();
    }

    /// [`Self::shutdown`], then waits until every task the manager spawned has ended:
    /// called before the logs close, so no upload reads a segment being closed.
    pub async fn shutdown_and_wait(&self) {
        self.tier.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.leaders.lock().clear();
    }

    fn shutdown_token(&self) -> &CancellationToken {
        &self.tier.shutdown
    }

    /// This node now leads `log` in `epoch`: a tiered log starts a sweep at once (a new
    /// leader continues where the last one's uploads ended).
    pub fn on_leader(self: &Arc<Self>, log: &Arc<TieredLog>, epoch: i32) {
        let tp = log.topic_partition().clone();
        let same = self
            .leaders
            .lock()
            .insert(tp, (Arc::downgrade(log), epoch))
            .is_some_and(|(w, e)| e == epoch && w.ptr_eq(&Arc::downgrade(log)));
        if !same && log.is_tiered() {
            self.start_sweep(log.clone(), epoch);
        }
    }

    /// This node no longer leads `tp`: its uploads stop (the new leader continues).
    pub fn on_not_leader(&self, tp: &TopicPartition) {
        self.leaders.lock().remove(tp);
        if let Some(t) = self.running.lock().get(tp) {
            t.cancel();
        }
    }

    /// Spawns `f` as one of the manager's tracked tasks.
    pub(crate) fn spawn(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(f);
    }

    /// Sweeps the tiered partitions this node leads: those that sealed a segment as
    /// they do, all of them each `task_interval`, until shutdown. Finishes partition
    /// deletions left unfinished by an earlier run first.
    pub async fn run(self: Arc<Self>) {
        let resume = self.clone();
        self.spawn(async move { resume.resume_deletions().await });
        let mut tick = tokio::time::interval(self.cfg.task_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_stats = Vec::new();
        let sealed = self.logs.sealed_events();
        loop {
            let only = tokio::select! {
                _ = self.shutdown_token().cancelled() => break,
                _ = tick.tick() => None,
                rolled = sealed.next() => Some(rolled),
            };
            self.sweep_leaders(only.as_ref());
            self.write_stats_file(&mut last_stats);
        }
        self.write_stats_file(&mut last_stats);
    }

    /// Starts a sweep of every led tiered partition (of those in `only`, if given).
    fn sweep_leaders(self: &Arc<Self>, only: Option<&HashSet<TopicPartition>>) {
        let leaders: Vec<(Arc<TieredLog>, i32)> = self
            .leaders
            .lock()
            .iter()
            .filter(|(tp, _)| only.is_none_or(|o| o.contains(*tp)))
            .filter_map(|(_, (log, epoch))| Some((log.upgrade()?, *epoch)))
            .collect();
        for (log, epoch) in leaders {
            if log.is_tiered() {
                self.start_sweep(log, epoch);
            }
        }
    }

    /// Sweeps `log` on a task of its own, unless a sweep of it is running.
    fn start_sweep(self: &Arc<Self>, log: Arc<TieredLog>, epoch: i32) {
        let tp = log.topic_partition().clone();
        let token = {
            let mut running = self.running.lock();
            if running.contains_key(&tp) {
                return;
            }
            let token = self.shutdown_token().child_token();
            running.insert(tp.clone(), token.clone());
            token
        };
        let me = self.clone();
        self.spawn(async move {
            if let Err(e) = me.sweep(&log, epoch, &token).await {
                if !token.is_cancelled() {
                    tracing::warn!(%tp, error = %e, "remote tier sweep failed; retrying next round");
                }
            }
            me.running.lock().remove(&tp);
        });
    }

    /// One pass over a partition: load its view, remove leftovers, upload what is
    /// sealed, free local space, expire remote segments.
    async fn sweep(
        &self,
        p: &Arc<TieredLog>,
        epoch: i32,
        cancel: &CancellationToken,
    ) -> Result<(), TieredError> {
        p.ensure_loaded(cancel).await?;
        self.delete_pending(p, epoch, cancel).await?;
        if !p.config().remote_copy_disable() {
            self.copy_sealed(p, epoch, cancel).await?;
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
        self.expire(p, epoch, cancel).await
    }

    /// Deletes the view's pending segments; those not deleted stay queued.
    pub(super) async fn delete_pending(
        &self,
        p: &Arc<TieredLog>,
        epoch: i32,
        cancel: &CancellationToken,
    ) -> Result<(), TieredError> {
        let pending = std::mem::take(&mut p.remote().write().pending_deletes);
        let mut left = pending.into_iter();
        while let Some(m) = left.next() {
            if let Err(e) = self.delete_segment(m.clone(), epoch, cancel).await {
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

impl RemoteLogManager {
    /// The time on this node's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.cfg.clock.now_ms()
    }
}
