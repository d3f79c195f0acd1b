use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use strata_log::{CleanerOptions, LogConfig, PartitionLog, Throttle};

use crate::error::ReplicationError;
use crate::partition::Partition;
use strata_proto::TopicId;
pub use strata_proto::TopicPartition;

/// File in each partition directory naming the topic incarnation (id) it belongs to,
/// so a directory left by a deleted topic is never mistaken for a re-created one.
const PARTITION_METADATA: &str = "partition.metadata";

/// Kafka's LogManager: every partition log of this node, each in
/// `<data dir>/<topic>-<partition>` (creation, incarnation checks, strays, rolls,
/// retention, the cleaner, flushes, close). Which replica role a partition plays is not
/// its business.
pub struct LogManager {
    data_dir: PathBuf,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Notified when any partition seals a segment.
    sealed: Arc<tokio::sync::Notify>,
}

impl LogManager {
    /// Creates the manager over `data_dir` (created if absent). No log is opened until
    /// [`LogManager::ensure_partition`] is called for it.
    pub fn new(data_dir: &Path) -> Result<Self, ReplicationError> {
        std::fs::create_dir_all(data_dir).map_err(|source| ReplicationError::Dir {
            path: data_dir.display().to_string(),
            source,
        })?;
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            partitions: RwLock::new(HashMap::new()),
            sealed: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Notified (one permit) whenever a partition seals a segment: what the remote
    /// log manager waits on between its periodic sweeps.
    pub fn segment_sealed(&self) -> Arc<tokio::sync::Notify> {
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
    ) -> Result<Arc<Partition>, ReplicationError> {
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
        let dir_err = |source| ReplicationError::Dir {
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
        let partition = Arc::new(Partition::new(
            tp.clone(),
            topic_id,
            log,
            self.sealed.clone(),
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
    ) -> Result<(), ReplicationError> {
        let dir = self.dir_of(tp);
        let dir_err = |source| ReplicationError::Dir {
            path: dir.display().to_string(),
            source,
        };
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(dir_err)?;
        }
        strata_log::seed_log_start(&dir, start_offset)?;
        std::fs::write(
            dir.join(PARTITION_METADATA),
            format!("{}\n", topic_id.to_hex()),
        )
        .map_err(dir_err)?;
        Ok(())
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions.read().get(tp).cloned()
    }

    /// Every hosted partition, sorted by topic and index.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        let mut all: Vec<_> = self.partitions.read().values().cloned().collect();
        all.sort_by(|a, b| a.topic_partition().cmp(b.topic_partition()));
        all
    }

    /// Stops hosting `tp` and deletes its directory.
    pub fn remove_partition(&self, tp: &TopicPartition) -> Result<(), ReplicationError> {
        let removed = self.partitions.write().remove(tp);
        match removed {
            Some(p) => drop_partition(p, &self.dir_of(tp)),
            None => {
                let dir = self.dir_of(tp);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(|source| ReplicationError::Dir {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                Ok(())
            }
        }
    }

    /// Removes directories under the data dir that look like partition logs but are not
    /// in `keep` (left by a topic deleted while the broker was down).
    pub fn remove_strays(&self, keep: &[TopicPartition]) -> Result<(), ReplicationError> {
        let entries = match std::fs::read_dir(&self.data_dir) {
            Ok(e) => e,
            Err(source) => {
                return Err(ReplicationError::Dir {
                    path: self.data_dir.display().to_string(),
                    source,
                })
            }
        };
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

fn drop_partition(p: Arc<Partition>, dir: &Path) -> Result<(), ReplicationError> {
    match Arc::try_unwrap(p) {
        Ok(p) => p.into_log().delete().map_err(ReplicationError::from),
        Err(_still_referenced) => {
            // An in-flight request still holds it: remove the files underneath; that
            // request then fails with an I/O error, as it would on Kafka.
            std::fs::remove_dir_all(dir).map_err(|source| ReplicationError::Dir {
                path: dir.display().to_string(),
                source,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    const NOW: i64 = 1_700_000_000_000;

    /// A log manager over `dir` hosting `t-0`.
    fn one_partition(dir: &Path) -> (LogManager, Arc<Partition>) {
        let m = LogManager::new(dir).unwrap();
        let p = m
            .ensure_partition(
                &TopicPartition::new("t", 0),
                TopicId::random(),
                LogConfig::default(),
                NOW,
            )
            .unwrap();
        (m, p)
    }

    fn batch(ts: i64) -> Vec<u8> {
        batch_builder::one_record_batch(ts)
    }

    /// A minimal v2 batch (one record, no key): this crate has no record codec.
    mod batch_builder {
        pub fn one_record_batch(ts: i64) -> Vec<u8> {
            // record: length, attributes, timestamp delta, offset delta, key -1, value 1, headers 0
            let record: Vec<u8> = vec![0x00, 0x00, 0x00, 0x01, 0x02, b'v', 0x00];
            let mut body = Vec::new();
            body.extend_from_slice(&0i16.to_be_bytes()); // attributes
            body.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
            body.extend_from_slice(&ts.to_be_bytes()); // base timestamp
            body.extend_from_slice(&ts.to_be_bytes()); // max timestamp
            body.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
            body.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
            body.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
            body.extend_from_slice(&1i32.to_be_bytes()); // records count
            body.push((record.len() as u8) << 1); // record length (zig-zag varint)
            body.extend_from_slice(&record);
            let crc = crc32c_of(&body);
            let mut b = Vec::new();
            b.extend_from_slice(&0i64.to_be_bytes()); // base offset
            b.extend_from_slice(&((4 + 1 + 4 + body.len()) as i32).to_be_bytes()); // length
            b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
            b.push(2); // magic
            b.extend_from_slice(&crc.to_be_bytes());
            b.extend_from_slice(&body);
            b
        }

        fn crc32c_of(data: &[u8]) -> u32 {
            crc32c::crc32c(data)
        }
    }

    /// An append wakes the readers of its own partition only (the global wake-up is
    /// gone: a busy partition no longer wakes every long-polling fetch on the node).
    #[test]
    fn appends_wake_only_their_partition() {
        let dir = tempfile::tempdir().unwrap();
        let m = LogManager::new(dir.path()).unwrap();
        let now = 1_700_000_000_000;
        let id = TopicId::random();
        let a = m
            .ensure_partition(&TopicPartition::new("t", 0), id, LogConfig::default(), now)
            .unwrap();
        let b = m
            .ensure_partition(&TopicPartition::new("t", 1), id, LogConfig::default(), now)
            .unwrap();
        let (mut wa, mut wb) = (a.subscribe_appends(), b.subscribe_appends());
        wa.borrow_and_update();
        wb.borrow_and_update();
        b.append(&batch(now), now).unwrap();
        assert!(
            !wa.has_changed().unwrap(),
            "an append to t-1 woke t-0's readers"
        );
        assert!(wb.has_changed().unwrap());
        a.append(&batch(now), now).unwrap();
        assert!(wa.has_changed().unwrap());
    }

    /// Role changes as the metadata image drives them: the leader epoch stamps new
    /// batches, the high watermark follows the slowest in-sync follower, and a follower
    /// takes the leader's batches at their offsets but no producer writes.
    #[test]
    fn partition_roles_drive_epochs_and_the_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let (_m, p) = one_partition(dir.path());
        let now = NOW;
        assert!(p.is_leader());
        p.become_leader(5, &[2]);
        p.append(&batch(now), now).unwrap();
        p.append(&batch(now), now).unwrap();
        let read = p.read(0, 1 << 20, true).unwrap();
        assert_eq!(read.high_watermark, 0, "follower 2 has nothing yet");
        assert!(read.records.is_empty(), "nothing is committed");
        let mut woken = p.subscribe_appends();
        woken.borrow_and_update();
        p.record_follower_progress(2, 1);
        assert!(woken.has_changed().unwrap(), "an HW move wakes readers");
        assert_eq!(p.high_watermark(), 1);
        p.record_follower_progress(2, 2);
        let read = p.read(0, 1 << 20, true).unwrap();
        assert_eq!(read.high_watermark, 2);
        // Stamped with epoch 5 (bytes 12..16 of the batch header).
        assert_eq!(&read.records[12..16], &5i32.to_be_bytes());
        p.record_follower_progress(9, 100);
        assert_eq!(
            p.high_watermark(),
            2,
            "a broker outside the ISR counts for nothing"
        );

        p.become_follower(6, 2);
        assert_eq!(p.role(), Role::Follower { leader: 2 });
        assert_eq!(p.leader_epoch(), 6);
        assert_eq!(p.high_watermark(), 2);
        let leader_batch = {
            let mut b = batch(now);
            b[..8].copy_from_slice(&2i64.to_be_bytes());
            b[12..16].copy_from_slice(&6i32.to_be_bytes());
            b
        };
        // The CRC does not cover the base offset or the epoch: still valid.
        p.append_as_follower(&leader_batch, now).unwrap();
        assert_eq!(p.log_end_offset(), 3);
        assert_eq!(p.high_watermark(), 2, "the leader has not said 3 yet");
        p.set_leader_high_watermark(3);
        assert_eq!(p.high_watermark(), 3);
        assert_eq!(p.truncate_to(2).unwrap(), 2);
        assert_eq!(p.high_watermark(), 2);
    }

    /// The acks=all purgatory of one partition: a producer's wait ends when the
    /// in-sync follower catches up, or times out.
    #[tokio::test]
    async fn acks_all_waits_for_the_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let (_m, p) = one_partition(dir.path());
        let now = NOW;
        let short = std::time::Duration::from_millis(20);
        p.append(&batch(now), now).unwrap();
        assert!(
            p.wait_for_high_watermark(1, short).await,
            "alone: committed at once"
        );
        p.become_leader(1, &[2]);
        p.append(&batch(now), now).unwrap();
        assert!(
            !p.wait_for_high_watermark(2, short).await,
            "follower 2 has not caught up"
        );
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move {
                p.wait_for_high_watermark(2, std::time::Duration::from_secs(60))
                    .await
            })
        };
        tokio::task::yield_now().await;
        p.record_follower_progress(2, 2);
        assert!(waiter.await.unwrap());
    }
}
