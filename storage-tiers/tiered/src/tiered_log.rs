//! One partition's log across both tiers: the local segments and what the remote tier
//! holds below them, read as one log.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use strata_cache::RemoteReader;
use strata_log::{
    AppendInfo, CleanStats, CleanerOptions, LogConfig, LogError, PartitionLog, SealedSegment,
    Throttle, TimestampOffset,
};
use strata_proto::{TopicId, TopicPartition};
use strata_remote::{RemoteLogMetadataStore, RemoteLogSegmentState, TopicIdPartition};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::error::TieredError;
use crate::remote_view::RemoteView;

/// Segments after the one read that read-ahead may run on into.
const READ_AHEAD_SEGMENTS: usize = 16;

/// What every tiered log of a node reads the remote tier through: the segment metadata
/// (to load a partition's view), the chunk cache, and how long a Fetch waits for it.
pub struct RemoteTier {
    pub(crate) meta: Arc<RemoteLogMetadataStore>,
    pub(crate) reader: Arc<RemoteReader>,
    /// Cancelled at shutdown: stops view loads and reads in flight.
    pub(crate) shutdown: CancellationToken,
    /// `remote.fetch.max.wait.ms`.
    fetch_max_wait: Duration,
    /// The runtime the reader's GETs run on, when the tier owns it.
    read_runtime: Option<tokio::runtime::Runtime>,
}

impl RemoteTier {
    pub fn new(
        meta: Arc<RemoteLogMetadataStore>,
        reader: Arc<RemoteReader>,
        fetch_max_wait: Duration,
    ) -> Self {
        Self {
            meta,
            reader,
            shutdown: CancellationToken::new(),
            fetch_max_wait: fetch_max_wait.max(Duration::from_millis(1)),
            read_runtime: None,
        }
    }

    /// Keeps `runtime` (the one the reader's GETs run on) for as long as the tier.
    pub fn owning_read_runtime(mut self, runtime: tokio::runtime::Runtime) -> Self {
        self.read_runtime = Some(runtime);
        self
    }
}

impl Drop for RemoteTier {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async context forbids.
        if let Some(rt) = self.read_runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Partitions that sealed a segment since the remote log manager last looked: what
/// starts an upload at once rather than at the next periodic sweep.
#[derive(Default)]
pub(crate) struct SealedEvents {
    rolled: Mutex<HashSet<TopicPartition>>,
    notify: Notify,
}

impl SealedEvents {
    fn mark(&self, tp: &TopicPartition) {
        if self.rolled.lock().insert(tp.clone()) {
            self.notify.notify_one();
        }
    }

    /// Waits for a seal, then takes every partition marked since the last call.
    pub(crate) async fn next(&self) -> HashSet<TopicPartition> {
        loop {
            let taken = std::mem::take(&mut *self.rolled.lock());
            if !taken.is_empty() {
                return taken;
            }
            self.notify.notified().await;
        }
    }
}

/// Which offsets a ListOffsets asks for (Kafka's special timestamps, or a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// -1: the high watermark.
    Latest,
    /// -2: the log start offset, whichever tier holds it.
    Earliest,
    /// -3: the record with the largest timestamp in either tier.
    MaxTimestamp,
    /// -4: the first offset held locally.
    EarliestLocal,
    /// -5: the highest offset in the remote tier (-1 if none).
    LatestTiered,
    /// The first record with a timestamp at or after this one.
    Timestamp(i64),
}

/// A read's answer: bytes of the local log, or a read of the remote tier to run.
pub enum TieredRead {
    /// Whole batches from the local segments.
    Local(Bytes),
    /// The offset is below the local log start: [`RemoteFetch::fetch`] reads it.
    Remote(RemoteFetch),
}

/// A read of the remote tier, run by [`RemoteFetch::fetch`] (so a Fetch can serve its
/// local partitions first and then run every remote one at once).
pub struct RemoteFetch {
    log: Arc<TieredLog>,
    offset: i64,
    max_bytes: usize,
}

impl RemoteFetch {
    /// Whole batches from the offset up to the budget (at least one batch with
    /// `min_one_batch`, KIP-74) as slices of cached chunks that, concatenated, are the
    /// stored batches. The read runs as its own task: `Ok(None)` when it did not end
    /// within `remote.fetch.max.wait.ms` (as Kafka's DelayedRemoteFetch on expiry:
    /// no records, no error); it goes on filling the cache for the next fetch.
    pub async fn fetch(self, min_one_batch: bool) -> Result<Option<Vec<Bytes>>, TieredError> {
        let Some(tier) = self.log.tier.clone() else {
            return Err(TieredError::NotRemote(self.offset));
        };
        let Self {
            log,
            offset,
            max_bytes,
        } = self;
        let task =
            tokio::spawn(async move { log.read_remote(offset, max_bytes, min_one_batch).await });
        match tokio::time::timeout(tier.fetch_max_wait, task).await {
            Ok(Ok(read)) => read.map(Some),
            Ok(Err(e)) => Err(TieredError::ReadTask(e)),
            Err(_) => Ok(None),
        }
    }
}

/// Where an offset of a partition lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OffsetTier {
    Local,
    Remote,
    OutOfRange,
}

/// One partition's log across both tiers. Replica roles are the caller's: reads stop
/// at the offset it passes, and it publishes the high watermark uploads stay below.
pub struct TieredLog {
    tp: TopicPartition,
    topic_id: TopicId,
    log: RwLock<PartitionLog>,
    /// What the remote tier holds of this partition (empty unless tiered).
    remote: RwLock<RemoteView>,
    /// Serialises loading `remote` from the metadata store (per partition, so a slow
    /// bucket listing of one partition never holds up the others).
    remote_load: tokio::sync::Mutex<()>,
    /// The high watermark as last published by the partition's replica state: the
    /// copier uploads only below it.
    high_watermark: AtomicI64,
    sealed: Arc<SealedEvents>,
    tier: Option<Arc<RemoteTier>>,
}

impl TieredLog {
    pub(crate) fn new(
        tp: TopicPartition,
        topic_id: TopicId,
        log: PartitionLog,
        sealed: Arc<SealedEvents>,
        tier: Option<Arc<RemoteTier>>,
    ) -> Self {
        let leo = log.log_end_offset();
        Self {
            tp,
            topic_id,
            log: RwLock::new(log),
            remote: RwLock::new(RemoteView::default()),
            remote_load: tokio::sync::Mutex::new(()),
            high_watermark: AtomicI64::new(leo),
            sealed,
            tier,
        }
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    /// The id of the topic incarnation this log belongs to.
    pub fn topic_id(&self) -> TopicId {
        self.topic_id
    }

    /// The remote tier's name of this partition.
    pub fn topic_id_partition(&self) -> TopicIdPartition {
        TopicIdPartition {
            topic_id: self.topic_id,
            topic_partition: self.tp.clone(),
        }
    }

    /// The partition directory.
    pub fn dir(&self) -> std::path::PathBuf {
        self.log.read().dir().to_path_buf()
    }

    pub fn config(&self) -> LogConfig {
        self.log.read().config().clone()
    }

    pub fn set_config(&self, config: LogConfig) {
        self.log.write().set_config(config);
    }

    /// Whether this log has a remote tier (`remote.storage.enable` on a node with one).
    pub fn is_tiered(&self) -> bool {
        self.tier.is_some() && self.log.read().config().remote_storage_enable()
    }

    /// Publishes the partition's high watermark (the copier uploads only below it).
    pub fn publish_high_watermark(&self, hw: i64) {
        self.high_watermark.store(hw, Ordering::Release);
    }

    /// The high watermark last published.
    pub fn published_high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    // ---- writes --------------------------------------------------------------------

    /// Appends producer batches stamped with `leader_epoch`. On return they are in the
    /// page cache.
    pub fn append_as_leader(
        &self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.write_noting_rolls(|log| log.append_as_leader(records, leader_epoch, now_ms))
    }

    /// Appends batches fetched from the leader at their own offsets.
    pub fn append_as_follower(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        self.write_noting_rolls(|log| log.append_as_follower(records, now_ms))
    }

    /// Runs a write that may roll the active segment; a roll is a sealed-segment event.
    fn write_noting_rolls<T>(
        &self,
        f: impl FnOnce(&mut PartitionLog) -> Result<T, LogError>,
    ) -> Result<T, LogError> {
        let (out, rolled) = {
            let mut log = self.log.write();
            let active = log.active_base_offset();
            let out = f(&mut log)?;
            (out, log.active_base_offset() != active)
        };
        if rolled {
            self.sealed.mark(&self.tp);
        }
        Ok(out)
    }

    /// Cuts the local log back to `offset`; returns the new log end.
    pub fn truncate_to(&self, offset: i64) -> Result<i64, LogError> {
        self.log.write().truncate_to(offset)
    }

    /// Rolls the active segment if `segment.ms` has passed.
    pub fn roll_if_due(&self, now_ms: i64) -> Result<bool, LogError> {
        let rolled = self.log.write().roll_if_due(now_ms)?;
        if rolled {
            self.sealed.mark(&self.tp);
        }
        Ok(rolled)
    }

    /// DeleteRecords: `offset` -1 means `high_watermark`; nothing above it may go.
    /// Returns the new log start offset, durable on return.
    pub fn delete_records_before(&self, offset: i64, high_watermark: i64) -> Result<i64, LogError> {
        let mut log = self.log.write();
        let target = if offset == -1 { high_watermark } else { offset };
        if target < 0 || target > high_watermark {
            return Err(LogError::OffsetOutOfRange {
                offset: target,
                log_start: log.log_start_offset(),
                log_end: high_watermark,
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

    // ---- reads ---------------------------------------------------------------------

    /// Reads whole batches from `offset`, never at or past `upto`, from whichever tier
    /// holds it. A tiered log's remote view is loaded first, so no offset of the
    /// remote tier is called out of range.
    pub async fn read(
        self: &Arc<Self>,
        offset: i64,
        max_bytes: usize,
        upto: i64,
        min_one_batch: bool,
    ) -> Result<TieredRead, TieredError> {
        self.load_remote_view().await?;
        let remote = || {
            TieredRead::Remote(RemoteFetch {
                log: self.clone(),
                offset,
                max_bytes,
            })
        };
        if self.tier_of(offset) == OffsetTier::Remote {
            return Ok(remote());
        }
        match self.read_local(offset, max_bytes, upto, min_one_batch) {
            Ok(bytes) => Ok(TieredRead::Local(bytes)),
            // Local segments may have been tiered away since `tier_of`: go remote.
            Err(_) if self.tier_of(offset) == OffsetTier::Remote => Ok(remote()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads whole batches of the local log from `offset`, never at or past `upto`
    /// (an internal topic's replay; tiered reads go through [`Self::read`]).
    pub fn read_local(
        &self,
        offset: i64,
        max_bytes: usize,
        upto: i64,
        min_one_batch: bool,
    ) -> Result<Bytes, LogError> {
        let log = self.log.read();
        let start = self.remote.read().log_start_offset(log.log_start_offset());
        if offset < start {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: start,
                log_end: upto,
            });
        }
        log.read(offset, max_bytes, upto, min_one_batch)
    }

    /// ListOffsets across both tiers; `high_watermark` answers [`OffsetSpec::Latest`].
    /// The timestamp is -1 for the specs that name no record.
    pub async fn list_offset(
        &self,
        spec: OffsetSpec,
        high_watermark: i64,
    ) -> Result<Option<TimestampOffset>, TieredError> {
        // The log start and the tier boundary need the remote view.
        self.load_remote_view().await?;
        let offset_only = |offset| {
            Ok(Some(TimestampOffset {
                timestamp: -1,
                offset,
            }))
        };
        match spec {
            OffsetSpec::Latest => offset_only(high_watermark),
            OffsetSpec::Earliest => offset_only(self.log_start_offset()),
            OffsetSpec::EarliestLocal => offset_only(self.local_log_start_offset()),
            OffsetSpec::LatestTiered => offset_only(self.remote.read().latest_tiered()),
            OffsetSpec::MaxTimestamp => {
                let local = self.log.read().max_timestamp_offset()?;
                if !self.is_tiered() {
                    return Ok(local);
                }
                self.remote_max_timestamp_offset(local).await
            }
            OffsetSpec::Timestamp(ts) => {
                if self.is_tiered() {
                    if let Some(found) = self.remote_offset_for_timestamp(ts).await? {
                        return Ok(Some(found));
                    }
                }
                Ok(self.log.read().offset_for_timestamp(ts)?)
            }
        }
    }

    /// The first readable offset, whichever tier holds it (Kafka's log start offset).
    pub fn log_start_offset(&self) -> i64 {
        let local = self.log.read().log_start_offset();
        self.remote.read().log_start_offset(local)
    }

    /// The first offset held locally.
    pub fn local_log_start_offset(&self) -> i64 {
        self.log.read().log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.read().log_end_offset()
    }

    /// Local bytes (all segments).
    pub fn local_size_bytes(&self) -> u64 {
        self.log.read().size_bytes()
    }

    /// Bytes in the remote tier (once the view is loaded).
    pub fn remote_size_bytes(&self) -> u64 {
        self.remote.read().remote_bytes()
    }

    fn tier_of(&self, offset: i64) -> OffsetTier {
        let log = self.log.read();
        let local_start = log.log_start_offset();
        let start = self.remote.read().log_start_offset(local_start);
        if offset < start || offset > log.log_end_offset() {
            OffsetTier::OutOfRange
        } else if offset < local_start {
            OffsetTier::Remote
        } else {
            OffsetTier::Local
        }
    }

    // ---- the remote tier ------------------------------------------------------------

    /// Loads the remote view of a tiered log if it is not yet (a no-op otherwise).
    pub async fn load_remote_view(&self) -> Result<(), TieredError> {
        match &self.tier {
            Some(tier) if !self.remote.read().loaded && self.is_tiered() => {
                self.ensure_loaded(&tier.shutdown.child_token()).await
            }
            _ => Ok(()),
        }
    }

    /// Loads the view from the metadata store once. What failed copies and
    /// interrupted deletes left is queued for the next sweep to remove.
    pub(crate) async fn ensure_loaded(
        &self,
        cancel: &CancellationToken,
    ) -> Result<(), TieredError> {
        if self.remote.read().loaded {
            return Ok(());
        }
        let Some(tier) = &self.tier else {
            return Ok(());
        };
        let _guard = self.remote_load.lock().await;
        if self.remote.read().loaded {
            return Ok(());
        }
        let all = tier
            .meta
            .list_segments(&self.topic_id_partition(), cancel)
            .await?;
        let mut finished = std::collections::BTreeMap::new();
        let mut leftovers = Vec::new();
        for m in all {
            match m.state {
                RemoteLogSegmentState::CopySegmentFinished => {
                    // Listed by (start, event time): of two copies of the same
                    // offsets the later stays, the earlier goes.
                    if let Some(earlier) = finished.insert(m.start_offset, m) {
                        leftovers.push(earlier);
                    }
                }
                _ => leftovers.push(m),
            }
        }
        let dir = self.dir();
        let mut view = self.remote.write();
        view.load_floor(&dir);
        view.segments = finished;
        view.pending_deletes = leftovers;
        view.loaded = true;
        tracing::info!(
            tp = %self.tp,
            segments = view.segments.len(),
            latest_tiered = view.latest_tiered(),
            "remote tier view loaded"
        );
        Ok(())
    }

    /// The remote tier's view of this partition.
    pub(crate) fn remote(&self) -> &RwLock<RemoteView> {
        &self.remote
    }

    fn reader(&self) -> Result<(&RemoteTier, CancellationToken), TieredError> {
        let tier = self.tier.as_deref().ok_or(TieredError::NotRemote(-1))?;
        Ok((tier, tier.shutdown.child_token()))
    }

    /// Whole batches from `offset` (below the local log start) up to `max_bytes`, from
    /// the one remote segment holding it; the next fetch continues where this ends.
    async fn read_remote(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<Vec<Bytes>, TieredError> {
        let (tier, cancel) = self.reader()?;
        self.ensure_loaded(&cancel).await?;
        let (meta, next) = {
            let view = self.remote.read();
            let meta = view
                .segment_for(offset)
                .cloned()
                .ok_or(TieredError::NotRemote(offset))?;
            // Enough following segments for read-ahead to run on into.
            let next: Vec<_> = view
                .segments
                .range(meta.start_offset + 1..)
                .take(READ_AHEAD_SEGMENTS)
                .map(|(_, m)| m.clone())
                .collect();
            (meta, next)
        };
        Ok(tier
            .reader
            .read(&meta, &next, offset, max_bytes, min_one_batch, &cancel)
            .await?)
    }

    /// The first record with a timestamp >= `ts` in the remote tier, if any there
    /// (then the local log is not consulted).
    async fn remote_offset_for_timestamp(
        &self,
        ts: i64,
    ) -> Result<Option<TimestampOffset>, TieredError> {
        let (tier, cancel) = self.reader()?;
        let start = self.log_start_offset();
        let candidates: Vec<_> = self
            .remote
            .read()
            .segments
            .values()
            .filter(|m| m.end_offset >= start && m.max_timestamp_ms >= ts)
            .cloned()
            .collect();
        for m in candidates {
            if let Some(found) = tier
                .reader
                .offset_for_timestamp(&m, ts, start, &cancel)
                .await?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp across tiers: the remote tier's, if it
    /// beats `local_max`.
    async fn remote_max_timestamp_offset(
        &self,
        local_max: Option<TimestampOffset>,
    ) -> Result<Option<TimestampOffset>, TieredError> {
        let (tier, cancel) = self.reader()?;
        let start = self.log_start_offset();
        let best = self
            .remote
            .read()
            .segments
            .values()
            .filter(|m| m.end_offset >= start)
            .max_by_key(|m| (m.max_timestamp_ms, std::cmp::Reverse(m.start_offset)))
            .cloned();
        match best {
            Some(m) if local_max.is_none_or(|l| m.max_timestamp_ms > l.timestamp) => Ok(tier
                .reader
                .offset_for_timestamp(&m, m.max_timestamp_ms, start, &cancel)
                .await?
                .or(local_max)),
            _ => Ok(local_max),
        }
    }

    /// Sealed segments (for the copier) and the published high watermark.
    pub(crate) fn sealed_segments(&self) -> (Vec<SealedSegment>, i64) {
        let segments = self.log.read().sealed_segments();
        (segments, self.published_high_watermark())
    }

    /// Local retention of a tiered partition: only what is remote below `remote_upto`
    /// may go. Also drops local segments below the tiered log start offset.
    pub(crate) fn enforce_local_retention(
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

    /// Local bytes not yet in the remote tier (segments holding offsets >= `from`).
    pub(crate) fn local_bytes_from(&self, from: i64) -> u64 {
        let segs = self.log.read().segments();
        segs.iter()
            .enumerate()
            .filter(|(i, _)| segs.get(i + 1).is_none_or(|n| n.base_offset > from))
            .map(|(_, s)| s.size_bytes)
            .sum()
    }

    // ---- housekeeping (the log manager's) -------------------------------------------

    pub(crate) fn remove_expired_producers(&self, now_ms: i64, max_idle_ms: i64) -> usize {
        self.log
            .write()
            .remove_expired_producers(now_ms, max_idle_ms)
    }

    /// Retention of a local-only log; a tiered log only rolls and drops what is below
    /// its start here (the remote log manager runs its retention).
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
