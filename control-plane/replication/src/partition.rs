use bytes::Bytes;
use parking_lot::RwLock;
use std::sync::Arc;
use strata_log::{
    AppendInfo, CleanStats, CleanerOptions, LogConfig, LogError, PartitionLog, Throttle,
    TimestampOffset,
};
use tokio::sync::{watch, Notify};

use crate::remote_view::RemoteView;
use strata_proto::{TopicId, TopicPartition};

/// One partition this broker leads: its log and the high watermark readers may see.
///
/// On a single node every appended offset is committed at once, so the high
/// watermark equals the log end offset; the type keeps them apart because
/// replication (a later issue) will not.
pub struct Partition {
    tp: TopicPartition,
    topic_id: TopicId,
    leader_epoch: i32,
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
            leader_epoch: 0,
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

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// Appends producer batches as leader. On return the batches are in the page cache
    /// and visible to readers; waiting fetches are woken.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let (info, rolled) = {
            let mut log = self.log.write();
            let active = log.active_base_offset();
            let info = log.append_as_leader(records, self.leader_epoch, now_ms)?;
            (info, log.active_base_offset() != active)
        };
        if !info.duplicate {
            self.appended.send_modify(|n| *n = n.wrapping_add(1));
        }
        if rolled {
            self.sealed.notify_one();
        }
        Ok(info)
    }

    /// Reads whole batches from `offset`, never past the high watermark.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<FetchedData, LogError> {
        let log = self.log.read();
        let hw = log.log_end_offset();
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

    pub fn high_watermark(&self) -> i64 {
        self.log.read().log_end_offset()
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
        (log.sealed_segments(), log.log_end_offset())
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
