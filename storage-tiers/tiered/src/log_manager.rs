use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use strata_log::{CleanerOptions, LogConfig, PartitionLog, Throttle};

use crate::error::TieredError;
use crate::tiered_log::{RemoteTier, SealedEvents, TieredLog};
use strata_proto::{TopicId, TopicPartition};

/// File in each partition directory naming the topic incarnation (id) it belongs to,
/// so a directory left by a deleted topic is never mistaken for a re-created one.
const PARTITION_METADATA: &str = "partition.metadata";

/// Kafka's LogManager: every partition log of this node, each in
/// `<data dir>/<topic>-<partition>` (creation, incarnation checks, strays, rolls,
/// retention, the cleaner, flushes, close). Which replica role a partition plays is not
/// its business.
pub struct LogManager {
    data_dir: PathBuf,
    partitions: RwLock<HashMap<TopicPartition, Arc<TieredLog>>>,
    /// The partitions that sealed a segment, for the remote log manager.
    sealed: Arc<SealedEvents>,
    /// The remote tier every tiered log reads, if the node has one.
    tier: Option<Arc<RemoteTier>>,
}

impl LogManager {
    /// Creates the manager over `data_dir` (created if absent), its logs reading the
    /// remote tier through `tier`. No log is opened until
    /// [`LogManager::ensure_partition`] is called for it.
    pub fn new(data_dir: &Path, tier: Option<Arc<RemoteTier>>) -> Result<Self, TieredError> {
        std::fs::create_dir_all(data_dir).map_err(TieredError::dir(data_dir))?;
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            partitions: RwLock::new(HashMap::new()),
            sealed: Arc::new(SealedEvents::default()),
            tier,
        })
    }

    /// The partitions that sealed a segment: what the remote log manager waits on
    /// between its periodic sweeps.
    pub(crate) fn sealed_events(&self) -> Arc<SealedEvents> {
        self.sealed.clone()
    }

    fn dir_of(&self, tp: &TopicPartition) -> PathBuf {
        self.data_dir.join(tp.to_string())
    }

    /// Opens (recovering) or creates the log of `tp` for topic incarnation `topic_id`.
    /// A directory holding another incarnation of the topic is removed first.
    /// Idempotent: an already open partition is returned as is.
    pub fn ensure_partition(
        &self,
        tp: &TopicPartition,
        topic_id: TopicId,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<TieredLog>, TieredError> {
        if let Some(p) = self.partitions.read().get(tp) {
            if p.topic_id() == topic_id {
                return Ok(p.clone());
            }
        }
        let mut partitions = self.partitions.write();
        if let Some(p) = partitions.get(tp) {
            if p.topic_id() == topic_id {
                return Ok(p.clone());
            }
        }
        if let Some(stale) = partitions.remove(tp) {
            drop_partition(stale, &self.dir_of(tp))?;
        }
        let dir = self.dir_of(tp);
        let dir_err = |source| TieredError::Dir {
            path: dir.display().to_string(),
            source,
        };
        let id_hex = topic_id.to_hex();
        let meta_path = dir.join(PARTITION_METADATA);
        match std::fs::read_to_string(&meta_path) {
            Ok(found) if found.trim() == id_hex => {}
            Ok(_) => {
                tracing::info!(%tp, "removing the log of an earlier incarnation of the topic");
                std::fs::remove_dir_all(&dir).map_err(dir_err)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(dir_err)?;
                }
            }
            Err(e) => return Err(dir_err(e)),
        }
        std::fs::create_dir_all(&dir).map_err(dir_err)?;
        if !meta_path.exists() {
            std::fs::write(&meta_path, format!("{id_hex}\n")).map_err(dir_err)?;
        }
        let log = PartitionLog::open(&dir, config, now_ms)?;
        let partition = Arc::new(TieredLog::new(
            tp.clone(),
            topic_id,
            log,
            self.sealed.clone(),
            self.tier.clone(),
        ));
        partitions.insert(tp.clone(), partition.clone());
        Ok(partition)
    }

    /// Prepares the directory of `tp` (not yet hosted) so that its log starts at
    /// `start_offset`: what a topic re-created from the remote tier needs.
    pub fn seed_partition(
        &self,
        tp: &TopicPartition,
        topic_id: TopicId,
        start_offset: i64,
    ) -> Result<(), TieredError> {
        let dir = self.dir_of(tp);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(TieredError::dir(&dir))?;
        }
        strata_log::seed_log_start(&dir, start_offset)?;
        std::fs::write(
            dir.join(PARTITION_METADATA),
            format!("{}\n", topic_id.to_hex()),
        )
        .map_err(TieredError::dir(&dir))?;
        Ok(())
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<TieredLog>> {
        self.partitions.read().get(tp).cloned()
    }

    /// Every hosted partition, sorted by topic and index.
    pub fn partitions(&self) -> Vec<Arc<TieredLog>> {
        let mut all: Vec<_> = self.partitions.read().values().cloned().collect();
        all.sort_by(|a, b| a.topic_partition().cmp(b.topic_partition()));
        all
    }

    /// Stops hosting `tp` and deletes its directory.
    pub fn remove_partition(&self, tp: &TopicPartition) -> Result<(), TieredError> {
        let removed = self.partitions.write().remove(tp);
        match removed {
            Some(p) => drop_partition(p, &self.dir_of(tp)),
            None => {
                let dir = self.dir_of(tp);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(TieredError::dir(&dir))?;
                }
                Ok(())
            }
        }
    }

    /// Removes directories under the data dir that look like partition logs but are not
    /// in `keep` (left by a topic deleted while the broker was down).
    pub fn remove_strays(&self, keep: &[TopicPartition]) -> Result<(), TieredError> {
        let entries =
            std::fs::read_dir(&self.data_dir).map_err(TieredError::dir(&self.data_dir))?;
        let keep: std::collections::HashSet<String> = keep.iter().map(|t| t.to_string()).collect();
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.join(PARTITION_METADATA).exists() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                tracing::info!(dir = %name, "removing the log of a deleted topic");
                if let Err(e) = std::fs::remove_dir_all(&path) {
                    tracing::warn!(dir = %name, error = %e, "could not remove stray partition directory");
                }
            }
        }
        Ok(())
    }

    /// Rolls every active segment whose `segment.ms` has passed.
    pub fn roll_due(&self, now_ms: i64) {
        for p in self.partitions() {
            if let Err(e) = p.roll_if_due(now_ms) {
                tracing::warn!(tp = %p.topic_partition(), error = %e, "time-based roll failed");
            }
        }
    }

    /// Runs time/size retention (and time-based rolls) on every partition.
    pub fn enforce_retention(&self, now_ms: i64) {
        for p in self.partitions() {
            match p.enforce_retention(now_ms) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(tp = %p.topic_partition(), segments = n, "retention deleted segments")
                }
                Err(e) => tracing::warn!(tp = %p.topic_partition(), error = %e, "retention failed"),
            }
        }
    }

    /// Forgets idempotent producers idle for `max_idle_ms` on every partition
    /// (`producer.id.expiration.ms`); returns how many went.
    pub fn remove_expired_producers(&self, now_ms: i64, max_idle_ms: i64) -> usize {
        self.partitions()
            .iter()
            .map(|p| p.remove_expired_producers(now_ms, max_idle_ms))
            .sum()
    }

    /// One pass of the log cleaner over every compacted partition that needs it.
    /// `throttle` bounds the cleaner's I/O across the pass.
    pub fn run_cleaner(&self, now_ms: i64, opts: &CleanerOptions, throttle: &mut Throttle) {
        for p in self.partitions() {
            let started = std::time::Instant::now();
            match p.clean_if_needed(now_ms, opts, throttle) {
                Ok(Some(stats)) => tracing::info!(
                    tp = %p.topic_partition(),
                    removed = stats.records_removed,
                    read = stats.bytes_read,
                    written = stats.bytes_written,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "cleaned"
                ),
                Ok(None) => {}
                Err(e) => tracing::warn!(tp = %p.topic_partition(), error = %e, "clean failed"),
            }
        }
    }

    /// fsyncs every log and moves its recovery point to its end.
    pub fn flush_all(&self) {
        for p in self.partitions() {
            if let Err(e) = p.flush() {
                tracing::warn!(tp = %p.topic_partition(), error = %e, "flush failed");
            }
        }
    }

    /// Closes every log cleanly (flush, producer-state snapshot, recovery point), so the
    /// next start needs no scan. Partitions still referenced elsewhere are flushed only.
    pub fn close_all(&self) {
        let all: Vec<_> = self.partitions.write().drain().map(|(_, p)| p).collect();
        for p in all {
            let tp = p.topic_partition().clone();
            match Arc::try_unwrap(p) {
                Ok(p) => {
                    if let Err(e) = p.into_log().close() {
                        tracing::warn!(%tp, error = %e, "close failed");
                    }
                }
                Err(p) => {
                    if let Err(e) = p.flush() {
                        tracing::warn!(%tp, error = %e, "flush failed");
                    }
                }
            }
        }
    }
}

fn drop_partition(p: Arc<TieredLog>, dir: &Path) -> Result<(), TieredError> {
    match Arc::try_unwrap(p) {
        Ok(p) => p.into_log().delete().map_err(TieredError::from),
        Err(_still_referenced) => {
            // An in-flight request still holds it: remove the files underneath; that
            // request then fails with an I/O error, as it would on Kafka.
            std::fs::remove_dir_all(dir).map_err(TieredError::dir(dir))
        }
    }
}
