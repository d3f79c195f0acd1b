use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use strata_log::{AppendInfo, LogError, TimestampOffset};
use strata_proto::TopicPartition;
use strata_tiered::{OffsetSpec, TieredError, TieredLog, TieredRead};
use tokio::sync::watch;

use crate::replica_state::{ReplicaState, Role};

/// One partition hosted here: its log across both tiers, and the replica state (role,
/// leader epoch, in-sync followers) its high watermark follows.
///
/// A single node leads every partition alone, so its high watermark is the log end;
/// with followers it is the smallest log end among the ISR.
pub struct Partition {
    log: Arc<TieredLog>,
    /// Role, leader epoch and (as leader) the in-sync followers' progress.
    replica: RwLock<ReplicaState>,
    /// Changes on every append and high-watermark move of this partition: what a
    /// long-polling fetch and an acks=all produce of it wait on (each partition its
    /// own, so an append wakes only its readers).
    appended: watch::Sender<u64>,
}

/// What a read returns: whole batches from either tier plus the offsets a Fetch
/// response reports.
pub struct PartitionRead {
    pub records: TieredRead,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

impl Partition {
    pub(crate) fn new(log: Arc<TieredLog>) -> Self {
        let (appended, _) = watch::channel(0);
        let p = Self {
            log,
            replica: RwLock::new(ReplicaState::sole_leader()),
            appended,
        };
        p.wake();
        p
    }

    /// The partition's log across both tiers.
    pub fn log(&self) -> &Arc<TieredLog> {
        &self.log
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        self.log.topic_partition()
    }

    /// A receiver that changes on every append to this partition.
    pub fn subscribe_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// The leader epoch this node knows for the partition (from the metadata image).
    pub fn leader_epoch(&self) -> i32 {
        self.replica.read().leader_epoch
    }

    /// This node's role for the partition.
    pub fn role(&self) -> Role {
        self.replica.read().role
    }

    /// As leader: the other in-sync replicas.
    pub fn in_sync_followers(&self) -> Vec<i32> {
        self.replica.read().followers.keys().copied().collect()
    }

    /// Whether this node leads the partition (produce and consumer fetches go to it).
    pub fn is_leader(&self) -> bool {
        self.role() == Role::Leader
    }

    /// Makes this node the partition's leader in `epoch`, with `in_sync_followers` (the
    /// ISR without this node). Followers still in sync keep their reported progress.
    pub fn become_leader(&self, epoch: i32, in_sync_followers: &[i32]) {
        let hw = self.high_watermark();
        let mut r = self.replica.write();
        let kept: std::collections::BTreeMap<i32, i64> = in_sync_followers
            .iter()
            .map(|b| (*b, r.followers.get(b).copied().unwrap_or(0)))
            .collect();
        r.role = Role::Leader;
        r.leader_epoch = epoch;
        r.followers = kept;
        r.leader_high_watermark = hw;
        drop(r);
        self.wake();
    }

    /// Makes this node a follower of `leader` in `epoch`. Its high watermark is what it
    /// had until the leader says more.
    pub fn become_follower(&self, epoch: i32, leader: i32) {
        let hw = self.high_watermark();
        let mut r = self.replica.write();
        r.role = Role::Follower { leader };
        r.leader_epoch = epoch;
        r.followers.clear();
        r.leader_high_watermark = hw;
        drop(r);
        self.wake();
    }

    /// As leader: `follower` has replicated up to `log_end_offset`; the high watermark
    /// may move, waking readers. Ignored for a broker not in the ISR.
    pub fn record_follower_progress(&self, follower: i32, log_end_offset: i64) {
        let local_leo = self.log.log_end_offset();
        let moved = {
            let mut r = self.replica.write();
            let Some(leo) = r.followers.get_mut(&follower) else {
                return;
            };
            let moved = *leo != log_end_offset;
            *leo = log_end_offset;
            r.leader_high_watermark = r.high_watermark(local_leo);
            moved
        };
        if moved {
            self.wake();
        }
    }

    /// As follower: the leader's high watermark, from its fetch answer.
    pub fn set_leader_high_watermark(&self, hw: i64) {
        self.replica.write().leader_high_watermark = hw;
        self.wake();
    }

    /// Waits until the high watermark reaches `offset` (the partition's own purgatory
    /// for acks=all: woken by what moves its HW, not by every append on the node).
    /// False if `timeout` passed first.
    pub async fn wait_for_high_watermark(&self, offset: i64, timeout: std::time::Duration) -> bool {
        let mut moved = self.appended.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            moved.borrow_and_update();
            if self.high_watermark() >= offset {
                return true;
            }
            if tokio::time::timeout_at(deadline, moved.changed())
                .await
                .is_err()
            {
                return self.high_watermark() >= offset;
            }
        }
    }

    /// Publishes the high watermark to the log (the copier uploads below it) and
    /// wakes this partition's waiters.
    fn wake(&self) {
        self.log.publish_high_watermark(self.high_watermark());
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Appends producer batches as leader, stamped with the current leader epoch. On
    /// return the batches are in the page cache; waiting fetches are woken.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let info = self
            .log
            .append_as_leader(records, self.leader_epoch(), now_ms)?;
        if !info.duplicate {
            self.wake();
        }
        Ok(info)
    }

    /// Appends batches fetched from the leader at their own offsets (a follower's
    /// append; see [`strata_log::PartitionLog::append_as_follower`]).
    pub fn append_as_follower(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let info = self.log.append_as_follower(records, now_ms)?;
        self.wake();
        Ok(info)
    }

    /// Cuts the local log back to `offset` (a follower diverging from a new leader).
    pub fn truncate_to(&self, offset: i64) -> Result<i64, LogError> {
        let leo = self.log.truncate_to(offset)?;
        self.wake();
        Ok(leo)
    }

    /// Reads whole batches from `offset` in either tier, never past the high
    /// watermark.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<PartitionRead, TieredError> {
        let hw = self.high_watermark();
        let records = self.log.read(offset, max_bytes, hw, min_one_batch).await?;
        Ok(PartitionRead {
            records,
            high_watermark: hw,
            log_start_offset: self.log.log_start_offset(),
        })
    }

    /// Reads whole committed batches of the local log from `offset` (an internal
    /// topic's replay at load).
    pub fn read_local(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<Bytes, LogError> {
        self.log
            .read_local(offset, max_bytes, self.high_watermark(), min_one_batch)
    }

    /// ListOffsets on this partition (the latest offset is the high watermark).
    pub async fn list_offset(
        &self,
        spec: OffsetSpec,
    ) -> Result<Option<TimestampOffset>, TieredError> {
        self.log.list_offset(spec, self.high_watermark()).await
    }

    /// The offset below which records are committed and visible to consumers.
    pub fn high_watermark(&self) -> i64 {
        let leo = self.log.log_end_offset();
        self.replica.read().high_watermark(leo)
    }

    /// The first readable offset, whichever tier holds it (Kafka's log start offset).
    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    /// DeleteRecords: `offset` -1 means the high watermark, and nothing above it may
    /// go. Returns the new log start offset, durable on return.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        self.log
            .delete_records_before(offset, self.high_watermark())
    }
}
