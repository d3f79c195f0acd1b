//! Kafka's ReplicaManager: the partitions this node hosts as replicas, each a tiered
//! log (owned by the [`LogManager`]) plus its replica state.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use strata_log::LogConfig;
use strata_proto::{TopicId, TopicPartition};
use strata_tiered::{LogManager, TieredError};

use crate::partition::Partition;

/// Every partition replica of this node. Opening and removing logs goes through here,
/// so a partition and its log never part.
pub struct ReplicaManager {
    logs: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
}

impl ReplicaManager {
    pub fn new(logs: Arc<LogManager>) -> Self {
        Self {
            logs,
            partitions: RwLock::new(HashMap::new()),
        }
    }

    /// The node's logs (retention, the cleaner, flushes, directories).
    pub fn logs(&self) -> &Arc<LogManager> {
        &self.logs
    }

    /// Opens (recovering) or creates the partition for topic incarnation `topic_id`;
    /// see [`LogManager::ensure_partition`]. Idempotent.
    pub fn ensure_partition(
        &self,
        tp: &TopicPartition,
        topic_id: TopicId,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<Partition>, TieredError> {
        let log = self.logs.ensure_partition(tp, topic_id, config, now_ms)?;
        if let Some(p) = self.partitions.read().get(tp) {
            if Arc::ptr_eq(p.log(), &log) {
                return Ok(p.clone());
            }
        }
        let mut partitions = self.partitions.write();
        match partitions.get(tp) {
            Some(p) if Arc::ptr_eq(p.log(), &log) => Ok(p.clone()),
            _ => {
                let p = Arc::new(Partition::new(log));
                partitions.insert(tp.clone(), p.clone());
                Ok(p)
            }
        }
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

    /// Stops hosting `tp` and deletes its log.
    pub fn remove_partition(&self, tp: &TopicPartition) -> Result<(), TieredError> {
        self.partitions.write().remove(tp);
        self.logs.remove_partition(tp)
    }

    /// Stops hosting every partition and closes their logs cleanly.
    pub fn close_all(&self) {
        self.partitions.write().clear();
        self.logs.close_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;
    use std::path::Path;
    use strata_tiered::TieredRead;

    const NOW: i64 = 1_700_000_000_000;

    /// A replica manager over `dir` hosting `t-0`.
    fn one_partition(dir: &Path) -> (ReplicaManager, Arc<Partition>) {
        let m = manager(dir);
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

    fn manager(dir: &Path) -> ReplicaManager {
        ReplicaManager::new(Arc::new(LogManager::new(dir, None).unwrap()))
    }

    /// A local read's high watermark and bytes.
    async fn read_local(p: &Partition, offset: i64) -> (i64, bytes::Bytes) {
        let read = p.read(offset, 1 << 20, true).await.unwrap();
        match read.records {
            TieredRead::Local(b) => (read.high_watermark, b),
            TieredRead::Remote(_) => panic!("no remote tier here"),
        }
    }

    fn batch(ts: i64) -> Vec<u8> {
        strata_log::testing::one_record_batch(ts)
    }

    /// An append wakes the readers of its own partition only (the global wake-up is
    /// gone: a busy partition no longer wakes every long-polling fetch on the node).
    #[test]
    fn appends_wake_only_their_partition() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(dir.path());
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
    #[tokio::test]
    async fn partition_roles_drive_epochs_and_the_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let (_m, p) = one_partition(dir.path());
        let now = NOW;
        assert!(p.is_leader());
        p.become_leader(5, &[2]);
        p.append(&batch(now), now).unwrap();
        p.append(&batch(now), now).unwrap();
        let (hw, records) = read_local(&p, 0).await;
        assert_eq!(hw, 0, "follower 2 has nothing yet");
        assert!(records.is_empty(), "nothing is committed");
        let mut woken = p.subscribe_appends();
        woken.borrow_and_update();
        p.record_follower_progress(2, 1);
        assert!(woken.has_changed().unwrap(), "an HW move wakes readers");
        assert_eq!(p.high_watermark(), 1);
        p.record_follower_progress(2, 2);
        let (hw, records) = read_local(&p, 0).await;
        assert_eq!(hw, 2);
        assert_eq!(p.log().published_high_watermark(), 2, "the copier sees it");
        // Stamped with epoch 5 (bytes 12..16 of the batch header).
        assert_eq!(&records[12..16], &5i32.to_be_bytes());
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
        assert_eq!(p.log().log_end_offset(), 3);
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
