use bytes::Bytes;
use parking_lot::RwLock;
use std::sync::Arc;
use strata_log::{
    AppendInfo, CleanStats, CleanerOptions, LogConfig, LogError, PartitionLog, Throttle,
    TimestampOffset,
};
use tokio::sync::{watch, Notify};

use crate::remote_view::RemoteView;
use crate::replica_state::{ReplicaState, Role};
use strata_proto::{TopicId, TopicPartition};

/// One partition hosted here: its log, the remote view, and the replica state (role,
/// leader epoch, in-sync followers) the high watermark follows.
///
/// A single node leads every partition alone, so its high watermark is the log end;
/// with followers it is the smallest log end among the ISR.
pub struct Partition {
    tp: TopicPartition,
    topic_id: TopicId,
    /// Role, leader epoch and (as leader) the in-sync followers' progress.
    replica: RwLock<ReplicaState>,
    log: RwLock<PartitionLog>,
    /// Changes on every append to this partition: what a long-polling fetch of it
    /// waits on (each partition its own, so an append wakes only its readers).
    appended: watch::Sender<u64>,
    /// Notified when a segment of this partition is sealed (the copier's wake-up).
    sealed: Arc<Notify>,
    /// What the remote tier holds of this partition (empty unless tiered).
    remote: RwLock<RemoteView>,
    /// Serialises loading `remote` from the metadata store (per partition, so a slow
    /// bucket listing of one partition never holds up the others).
    remote_load: tokio::sync::Mutex<()>,
}

/// Where an offset of a partition lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetTier {
    /// In the local log.
    Local,
    /// Below the local log start, in the remote tier.
    Remote,
    /// Outside `[log start, log end]`.
    OutOfRange,
}

/// What a read returns: whole batches plus the offsets a Fetch response reports.
#[derive(Debug, Clone)]
pub struct FetchedData {
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

impl Partition {
    pub(crate) fn new(
        tp: TopicPartition,
        topic_id: TopicId,
        log: PartitionLog,
        sealed: Arc<Notify>,
    ) -> Self {
        let (appended, _) = watch::channel(0);
        Self {
            tp,
            topic_id,
            replica: RwLock::new(ReplicaState::sole_leader()),
            log: RwLock::new(log),
            appended,
            sealed,
            remote: RwLock::new(RemoteView::default()),
            remote_load: tokio::sync::Mutex::new(()),
        }
    }

    /// A receiver that changes on every append to this partition.
    pub fn subscribe_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Held while the remote view is loaded.
    pub(crate) fn remote_load_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.remote_load
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    /// The id of the topic incarnation this log belongs to.
    pub fn topic_id(&self) -> TopicId {
        self.topic_id
    }

    /// The partition directory.
    pub fn dir(&self) -> std::path::PathBuf {
        self.log.read().dir().to_path_buf()
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
        let local_leo = self.log.read().log_end_offset();
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

    fn wake(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Appends producer batches as leader, stamped with the current leader epoch. On
    /// return the batches are in the page cache; waiting fetches are woken.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let epoch = self.leader_epoch();
        let (info, rolled) = {
            let mut log = self.log.write();
            let active = log.active_base_offset();
            let info = log.append_as_leader(records, epoch, now_ms)?;
            (info, log.active_base_offset() != active)
        };
        if !info.duplicate {
            self.wake();
        }
        if rolled {
            self.sealed.notify_one();
        }
        Ok(info)
    }

    /// Appends batches fetched from the leader at their own offsets (a follower's
    /// append; see [`PartitionLog::append_as_follower`]).
    pub fn append_as_follower(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let (info, rolled) = {
            let mut log = self.log.write();
            let active = log.active_base_offset();
            let info = log.append_as_follower(records, now_ms)?;
            (info, log.active_base_offset() != active)
        };
        self.wake();
        if rolled {
            self.sealed.notify_one();
        }
        Ok(info)
    }

    /// Cuts the local log back to `offset` (a follower diverging from a new leader).
    pub fn truncate_to(&self, offset: i64) -> Result<i64, LogError> {
        let leo = self.log.write().truncate_to(offset)?;
        self.wake();
        Ok(leo)
    }

    /// Reads whole batches from `offset`, never past the high watermark.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<FetchedData, LogError> {
        let log = self.log.read();
        let hw = self.replica.read().high_watermark(log.log_end_offset());
        let start = self.remote.read().log_start_offset(log.log_start_offset());
        if offset < start {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: start,
                log_end: hw,
            });
        }
        let records = log.read(offset, max_bytes, hw, min_one_batch)?;
        Ok(FetchedData {
            records,
            high_watermark: hw,
            log_start_offset: start,
            log_end_offset: log.log_end_offset(),
        })
    }

    /// The offset below which records are committed and visible to consumers.
    pub fn high_watermark(&self) -> i64 {
        let leo = self.log.read().log_end_offset();
        self.replica.read().high_watermark(leo)
    }

    /// The first readable offset, whichever tier holds it (Kafka's log start offset).
    pub fn log_start_offset(&self) -> i64 {
        let local = self.log.read().log_start_offset();
        self.remote.read().log_start_offset(local)
    }

    /// The first offset held locally (ListOffsets -4, EARLIEST_LOCAL).
    pub fn local_log_start_offset(&self) -> i64 {
        self.log.read().log_start_offset()
    }

    /// Which tier serves `offset`.
    pub fn tier_of(&self, offset: i64) -> OffsetTier {
        let log = self.log.read();
        let local_start = log.log_start_offset();
        let leo = log.log_end_offset();
        let start = self.remote.read().log_start_offset(local_start);
        if offset < start || offset > leo {
            OffsetTier::OutOfRange
        } else if offset < local_start {
            OffsetTier::Remote
        } else {
            OffsetTier::Local
        }
    }

    /// The remote tier's view of this partition.
    pub fn remote(&self) -> &RwLock<RemoteView> {
        &self.remote
    }

    /// Sealed segments (for the copier) and the high watermark, read together.
    pub fn sealed_segments(&self) -> (Vec<strata_log::SealedSegment>, i64) {
        let log = self.log.read();
        let hw = self.replica.read().high_watermark(log.log_end_offset());
        (log.sealed_segments(), hw)
    }

    /// Local retention of a tiered partition: only what is remote below `remote_upto`
    /// may go. Also drops local segments below the tiered log start offset.
    pub fn enforce_local_retention(
        &self,
        now_ms: i64,
        remote_upto: i64,
    ) -> Result<usize, LogError> {
        let floor = self.remote.read().floor();
        let mut log = self.log.write();
        if floor > log.log_start_offset() && floor <= log.log_end_offset() {
            log.delete_records_before(floor)?;
        }
        log.enforce_local_retention(now_ms, remote_upto)
    }

    /// Local bytes (all segments).
    pub fn local_size_bytes(&self) -> u64 {
        self.log.read().size_bytes()
    }

    /// Local bytes not yet in the remote tier (segments holding offsets >= `from`).
    pub fn local_bytes_from(&self, from: i64) -> u64 {
        let segs = self.log.read().segments();
        segs.iter()
            .enumerate()
            .filter(|(i, _)| segs.get(i + 1).is_none_or(|n| n.base_offset > from))
            .map(|(_, s)| s.size_bytes)
            .sum()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.read().log_end_offset()
    }

    pub fn size_bytes(&self) -> u64 {
        self.log.read().size_bytes()
    }

    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<TimestampOffset>, LogError> {
        self.log.read().offset_for_timestamp(ts)
    }

    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>, LogError> {
        self.log.read().max_timestamp_offset()
    }

    /// DeleteRecords: `offset` -1 means the high watermark. Returns the new log start
    /// offset, durable on return.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let mut log = self.log.write();
        let hw = log.log_end_offset();
        let target = if offset == -1 { hw } else { offset };
        if target < 0 || target > hw {
            return Err(LogError::OffsetOutOfRange {
                offset: target,
                log_start: log.log_start_offset(),
                log_end: hw,
            });
        }
        if log.config().remote_storage_enable() {
            // The remote tier below the target goes at the next sweep; no read sees it
            // from now on.
            self.remote.write().raise_floor(target, log.dir())?;
            log.delete_records_before(target)?;
            return Ok(self.remote.read().log_start_offset(log.log_start_offset()));
        }
        log.delete_records_before(target)
    }

    pub fn set_config(&self, config: LogConfig) {
        self.log.write().set_config(config);
    }

    pub fn config(&self) -> LogConfig {
        self.log.read().config().clone()
    }

    pub(crate) fn roll_if_due(&self, now_ms: i64) -> Result<bool, LogError> {
        let rolled = self.log.write().roll_if_due(now_ms)?;
        if rolled {
            self.sealed.notify_one();
        }
        Ok(rolled)
    }

    /// Retention of a local-only log; a tiered log only rolls and drops what is below
    /// its start here (the remote log manager runs its retention).
    pub(crate) fn remove_expired_producers(&self, now_ms: i64, max_idle_ms: i64) -> usize {
        self.log
            .write()
            .remove_expired_producers(now_ms, max_idle_ms)
    }

    pub(crate) fn enforce_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        self.log.write().enforce_retention(now_ms)
    }

    /// Compacts the log if its policy and dirty ratio call for it. The log is held
    /// only to plan the clean and to swap the cleaned segments in: reading, rewriting
    /// and the I/O throttle's sleeps happen while produce and fetch go on.
    pub(crate) fn clean_if_needed(
        &self,
        now_ms: i64,
        opts: &CleanerOptions,
        throttle: &mut Throttle,
    ) -> Result<Option<CleanStats>, LogError> {
        let plan = {
            let log = self.log.read();
            if !log.needs_cleaning(now_ms) {
                return Ok(None);
            }
            log.plan_clean()?
        };
        let prepared = plan.prepare(now_ms, opts, throttle)?;
        self.log.write().finish_clean(prepared, opts).map(Some)
    }

    pub(crate) fn flush(&self) -> Result<(), LogError> {
        self.log.write().flush()
    }

    pub(crate) fn into_log(self) -> PartitionLog {
        self.log.into_inner()
    }
}
