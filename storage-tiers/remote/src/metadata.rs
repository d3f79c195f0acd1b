//! Remote log segment metadata (KIP-405's RemoteLogMetadataManager), kept in the
//! bucket beside the data so that the bucket alone is enough to rebuild every topic
//! after all broker disks are lost.
//!
//! One JSON object per segment, one `leader-epoch` object per partition (the highest
//! leader epoch that ever wrote metadata there) and one `partition-delete` object per
//! deleted partition; see [`crate::keys`] for the layout. Every change is a
//! read-modify-write with a conditional PUT: `PutMode::Create` for a new object and
//! `PutMode::Update` (e_tag/version of what was read) for a change, re-read and
//! re-decided on conflict.
//!
//! Gap on backends without `PutMode::Update` (`LocalFileSystem`): the change is an
//! overwrite followed by a read-back that checks our bytes are the ones stored. That
//! catches a writer that came after us but not one that wrote between our read and
//! our overwrite, whose update is then lost. Such backends are for one node and tests.
//!
//! Fencing gap on every backend: the leader-epoch check and the record write are two
//! objects, so a deposed leader that passed the epoch check can still land one write
//! before it sees the new epoch. Each record also stores the epoch of its last writer
//! and refuses older writers, which closes the gap for every record the new leader
//! has touched.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload, UpdateVersion};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::RemoteStorageError;
use crate::keys;
use crate::retry::{retry, RetryPolicy};
use crate::types::{
    RemoteLogSegmentId, RemoteLogSegmentMetadata, RemoteLogSegmentState,
    RemotePartitionDeleteState, TopicIdPartition,
};

/// How many times a read-modify-write re-reads after losing a conditional write.
const MAX_CONFLICTS: u32 = 32;
/// Segment records fetched concurrently by a listing.
const LIST_CONCURRENCY: usize = 8;
/// The version of the JSON records written here.
const FORMAT_VERSION: u32 = 1;

/// The stored form of one segment's metadata: everything needed to serve and to
/// re-create the topic (name, id, partition, offsets, sizes, timestamps, epochs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SegmentRecord {
    format_version: u32,
    topic: String,
    topic_id: String,
    partition: i32,
    segment_id: String,
    start_offset: i64,
    end_offset: i64,
    max_timestamp_ms: i64,
    broker_id: i32,
    event_timestamp_ms: i64,
    segment_size_bytes: u64,
    segment_leader_epochs: BTreeMap<i32, i64>,
    state: String,
    /// The leader epoch of the last writer of this record (fencing).
    writer_leader_epoch: i32,
}

impl SegmentRecord {
    fn new(meta: &RemoteLogSegmentMetadata, writer_leader_epoch: i32) -> Self {
        let tp = &meta.segment_id.tp;
        Self {
            format_version: FORMAT_VERSION,
            topic: tp.topic().to_string(),
            topic_id: tp.topic_id.to_string(),
            partition: tp.partition(),
            segment_id: meta.segment_id.id.to_string(),
            start_offset: meta.start_offset,
            end_offset: meta.end_offset,
            max_timestamp_ms: meta.max_timestamp_ms,
            broker_id: meta.broker_id,
            event_timestamp_ms: meta.event_timestamp_ms,
            segment_size_bytes: meta.segment_size_bytes,
            segment_leader_epochs: meta.segment_leader_epochs.clone(),
            state: meta.state.name().to_string(),
            writer_leader_epoch,
        }
    }

    fn to_meta(&self, key: &Path) -> Result<RemoteLogSegmentMetadata, RemoteStorageError> {
        let corrupt = |reason: String| RemoteStorageError::Corrupt {
            key: key.to_string(),
            reason,
        };
        let uuid = |s: &str| Uuid::try_parse(s).map_err(|e| corrupt(format!("uuid {s}: {e}")));
        let state = RemoteLogSegmentState::from_name(&self.state)
            .ok_or_else(|| corrupt(format!("unknown state {}", self.state)))?;
        Ok(RemoteLogSegmentMetadata {
            segment_id: RemoteLogSegmentId {
                tp: TopicIdPartition::new(
                    uuid(&self.topic_id)?.into(),
                    self.topic.clone(),
                    self.partition,
                ),
                id: uuid(&self.segment_id)?,
            },
            start_offset: self.start_offset,
            end_offset: self.end_offset,
            max_timestamp_ms: self.max_timestamp_ms,
            broker_id: self.broker_id,
            event_timestamp_ms: self.event_timestamp_ms,
            segment_size_bytes: self.segment_size_bytes,
            segment_leader_epochs: self.segment_leader_epochs.clone(),
            state,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LeaderEpochRecord {
    format_version: u32,
    leader_epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PartitionDeleteRecord {
    format_version: u32,
    state: String,
    event_timestamp_ms: i64,
}

/// KIP-405's RemoteLogMetadataManager, stored in the same object store as the data.
///
/// Durable on return: every write has reached the store when the call returns Ok.
/// Writes are idempotent (repeating a call with the same arguments is Ok), retry
/// retryable store errors with the store's [`RetryPolicy`], and stop with `Cancelled`
/// when the token fires — a cancelled write may or may not have landed; repeating it
/// is safe. Segment writes are fenced by leader epoch (see the module docs).
pub struct RemoteLogMetadataStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    policy: RetryPolicy,
    /// Set once the backend answered `PutMode::Update` with "not implemented".
    no_conditional_update: AtomicBool,
    /// Segment id -> start offset (part of the record's key), filled by adds and
    /// listings so updates need no LIST.
    start_offsets: Mutex<HashMap<RemoteLogSegmentId, i64>>,
}

impl RemoteLogMetadataStore {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: impl Into<String>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            store,
            prefix: prefix.into().trim_matches('/').to_string(),
            policy,
            no_conditional_update: AtomicBool::new(false),
            start_offsets: Mutex::new(HashMap::new()),
        }
    }

    /// Records a new segment, which must be in `CopySegmentStarted`, written by the
    /// leader of `leader_epoch`. `Fenced` if the partition has seen a newer epoch;
    /// `InvalidState` if the segment id is already recorded with other content.
    pub async fn add_segment(
        &self,
        meta: &RemoteLogSegmentMetadata,
        leader_epoch: i32,
        cancel: &CancellationToken,
    ) -> Result<(), RemoteStorageError> {
        if meta.state != RemoteLogSegmentState::CopySegmentStarted {
            return Err(RemoteStorageError::InvalidState(format!(
                "a new segment must be {}, not {}",
                RemoteLogSegmentState::CopySegmentStarted.name(),
                meta.state.name()
            )));
        }
        let tp = &meta.segment_id.tp;
        self.fence(tp, leader_epoch, cancel).await?;
        let key = keys::segment_metadata(&self.prefix, &meta.segment_id, meta.start_offset);
        let record = SegmentRecord::new(meta, leader_epoch);
        self.read_modify_write::<SegmentRecord, _>(&key, cancel, |current| match current {
            None => Ok(Some(record.clone())),
            Some(existing) if *existing == record => Ok(None),
            Some(existing) => Err(RemoteStorageError::InvalidState(format!(
                "segment {} is already recorded in state {}",
                meta.segment_id.id, existing.state
            ))),
        })
        .await?;
        self.remember(&meta.segment_id, meta.start_offset);
        Ok(())
    }

    /// Moves a segment to `new_state` (legal moves only, see
    /// [`RemoteLogSegmentState::can_move_to`]; moving to the current state is a no-op),
    /// written by the leader of `leader_epoch`. Returns the record as stored.
    pub async fn update_segment_state(
        &self,
        id: &RemoteLogSegmentId,
        new_state: RemoteLogSegmentState,
        event_timestamp_ms: i64,
        leader_epoch: i32,
        cancel: &CancellationToken,
    ) -> Result<RemoteLogSegmentMetadata, RemoteStorageError> {
        self.fence(&id.tp, leader_epoch, cancel).await?;
        let start = self.start_offset_of(id, cancel).await?;
        let key = keys::segment_metadata(&self.prefix, id, start);
        let stored = self
            .read_modify_write::<SegmentRecord, _>(&key, cancel, |current| {
                let Some(current) = current else {
                    return Err(RemoteStorageError::NotFound(key.to_string()));
                };
                if current.writer_leader_epoch > leader_epoch {
                    return Err(RemoteStorageError::Fenced {
                        writer: leader_epoch,
                        current: current.writer_leader_epoch,
                    });
                }
                let state = RemoteLogSegmentState::from_name(&current.state).ok_or_else(|| {
                    RemoteStorageError::Corrupt {
                        key: key.to_string(),
                        reason: format!("unknown state {}", current.state),
                    }
                })?;
                if state == new_state {
                    return Ok(None);
                }
                if !state.can_move_to(new_state) {
                    return Err(RemoteStorageError::InvalidState(format!(
                        "segment {} cannot move from {} to {}",
                        id.id,
                        state.name(),
                        new_state.name()
                    )));
                }
                let mut next = current.clone();
                next.state = new_state.name().to_string();
                next.event_timestamp_ms = event_timestamp_ms;
                next.writer_leader_epoch = leader_epoch;
                Ok(Some(next))
            })
            .await?;
        stored.to_meta(&key)
    }

    /// Every segment recorded for the partition (all states), by start offset, then
    /// by event time. One LIST plus one GET per segment.
    pub async fn list_segments(
        &self,
        tp: &TopicIdPartition,
        cancel: &CancellationToken,
    ) -> Result<Vec<RemoteLogSegmentMetadata>, RemoteStorageError> {
        let dir = keys::metadata_dir(&self.prefix, tp);
        let listed: Vec<Path> = retry("list", &self.policy, cancel, || async {
            let objects: Vec<_> = self.store.list(Some(&dir)).try_collect().await?;
            Ok(objects.into_iter().map(|o| o.location).collect())
        })
        .await?;
        let keys: Vec<Path> = listed
            .into_iter()
            .filter(|k| {
                k.filename()
                    .and_then(keys::parse_segment_metadata_name)
                    .is_some()
            })
            .collect();
        let records: Vec<Option<RemoteLogSegmentMetadata>> = futures::stream::iter(keys)
            .map(|key| async move {
                match self.read_json::<SegmentRecord>(&key, cancel).await? {
                    // Deleted between the LIST and the GET.
                    None => Ok(None),
                    Some((record, _)) => record.to_meta(&key).map(Some),
                }
            })
            .buffer_unordered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let mut segments: Vec<_> = records.into_iter().flatten().collect();
        segments.sort_by_key(|m| (m.start_offset, m.event_timestamp_ms, m.segment_id.id));
        for m in &segments {
            self.remember(&m.segment_id, m.start_offset);
        }
        Ok(segments)
    }

    /// The finished copy holding `offset` (KIP-405's `remoteLogSegmentMetadata`): a
    /// `CopySegmentFinished` segment with `start <= offset <= end` and, if
    /// `leader_epoch` is given, whose data at `offset` was written in that epoch.
    /// Among several (re-uploads after a leader change) the one starting last wins.
    pub async fn segment_for_offset(
        &self,
        tp: &TopicIdPartition,
        offset: i64,
        leader_epoch: Option<i32>,
        cancel: &CancellationToken,
    ) -> Result<Option<RemoteLogSegmentMetadata>, RemoteStorageError> {
        let segments = self.list_segments(tp, cancel).await?;
        Ok(segments
            .into_iter()
            .filter(|m| m.state == RemoteLogSegmentState::CopySegmentFinished)
            .filter(|m| m.start_offset <= offset && offset <= m.end_offset)
            .filter(|m| match leader_epoch {
                None => true,
                Some(epoch) => epoch_covers(m, epoch, offset),
            })
            .max_by_key(|m| (m.start_offset, m.event_timestamp_ms)))
    }

    /// The highest offset in a `CopySegmentFinished` segment, if any: the copier
    /// resumes after it.
    pub async fn highest_copied_offset(
        &self,
        tp: &TopicIdPartition,
        cancel: &CancellationToken,
    ) -> Result<Option<i64>, RemoteStorageError> {
        let segments = self.list_segments(tp, cancel).await?;
        Ok(segments
            .iter()
            .filter(|m| m.state == RemoteLogSegmentState::CopySegmentFinished)
            .map(|m| m.end_offset)
            .max())
    }

    /// Marks the partition deleted (`DeletePartitionMarked`); Ok if it already is or
    /// has moved further. Not fenced by leader epoch: the controller decides deletion.
    pub async fn mark_partition_deleted(
        &self,
        tp: &TopicIdPartition,
        event_timestamp_ms: i64,
        cancel: &CancellationToken,
    ) -> Result<RemotePartitionDeleteState, RemoteStorageError> {
        let key = keys::partition_delete(&self.prefix, tp);
        let stored = self
            .read_modify_write::<PartitionDeleteRecord, _>(&key, cancel, |current| match current {
                Some(_) => Ok(None),
                None => Ok(Some(PartitionDeleteRecord {
                    format_version: FORMAT_VERSION,
                    state: RemotePartitionDeleteState::DeletePartitionMarked
                        .name()
                        .to_string(),
                    event_timestamp_ms,
                })),
            })
            .await?;
        parse_delete_state(&key, &stored)
    }

    /// Moves the partition's deletion forward (Marked -> Started -> Finished; the same
    /// state again is a no-op). `NotFound` if the partition was never marked.
    pub async fn update_partition_delete_state(
        &self,
        tp: &TopicIdPartition,
        new_state: RemotePartitionDeleteState,
        event_timestamp_ms: i64,
        cancel: &CancellationToken,
    ) -> Result<(), RemoteStorageError> {
        let key = keys::partition_delete(&self.prefix, tp);
        self.read_modify_write::<PartitionDeleteRecord, _>(&key, cancel, |current| {
            let Some(current) = current else {
                return Err(RemoteStorageError::NotFound(key.to_string()));
            };
            let state = parse_delete_state(&key, current)?;
            if state == new_state {
                return Ok(None);
            }
            if !state.can_move_to(new_state) {
                return Err(RemoteStorageError::InvalidState(format!(
                    "partition deletion cannot move from {} to {}",
                    state.name(),
                    new_state.name()
                )));
            }
            Ok(Some(PartitionDeleteRecord {
                format_version: FORMAT_VERSION,
                state: new_state.name().to_string(),
                event_timestamp_ms,
            }))
        })
        .await?;
        Ok(())
    }

    /// The partition's deletion state; `None` if it was never marked deleted.
    pub async fn partition_delete_state(
        &self,
        tp: &TopicIdPartition,
        cancel: &CancellationToken,
    ) -> Result<Option<RemotePartitionDeleteState>, RemoteStorageError> {
        let key = keys::partition_delete(&self.prefix, tp);
        match self
            .read_json::<PartitionDeleteRecord>(&key, cancel)
            .await?
        {
            None => Ok(None),
            Some((record, _)) => parse_delete_state(&key, &record).map(Some),
        }
    }

    /// The highest leader epoch recorded for the partition, if any wrote metadata.
    pub async fn leader_epoch(
        &self,
        tp: &TopicIdPartition,
        cancel: &CancellationToken,
    ) -> Result<Option<i32>, RemoteStorageError> {
        let key = keys::leader_epoch(&self.prefix, tp);
        Ok(self
            .read_json::<LeaderEpochRecord>(&key, cancel)
            .await?
            .map(|(r, _)| r.leader_epoch))
    }

    /// Every partition with objects in the bucket whose topic name starts with
    /// `topic_prefix` (empty: all), sorted — with [`Self::list_segments`], enough to
    /// re-create topics from the bucket alone. One LIST per topic incarnation.
    pub async fn list_partitions(
        &self,
        topic_prefix: &str,
        cancel: &CancellationToken,
    ) -> Result<Vec<TopicIdPartition>, RemoteStorageError> {
        let root = keys::root(&self.prefix);
        let topics = retry("list", &self.policy, cancel, || async {
            Ok(self.store.list_with_delimiter(root.as_ref()).await?)
        })
        .await?;
        let mut partitions = Vec::new();
        for dir in topics.common_prefixes {
            let Some((topic, topic_id)) = dir.filename().and_then(keys::parse_topic_dir_name)
            else {
                continue;
            };
            if !topic.starts_with(topic_prefix) {
                continue;
            }
            let listed = retry("list", &self.policy, cancel, || async {
                Ok(self.store.list_with_delimiter(Some(&dir)).await?)
            })
            .await?;
            for p in listed.common_prefixes {
                if let Some(partition) = p.filename().and_then(|n| n.parse::<i32>().ok()) {
                    partitions.push(TopicIdPartition::new(topic_id, topic.clone(), partition));
                }
            }
        }
        partitions.sort();
        Ok(partitions)
    }

    /// Removes the record of a segment whose data is gone (DELETE_SEGMENT_FINISHED), so
    /// the bucket does not accumulate records of expired segments.
    pub async fn remove_segment_record(
        &self,
        meta: &RemoteLogSegmentMetadata,
        cancel: &CancellationToken,
    ) -> Result<(), RemoteStorageError> {
        let key = keys::segment_metadata(&self.prefix, &meta.segment_id, meta.start_offset);
        retry("delete", &self.policy, cancel, || async {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
        .await?;
        if let Ok(mut map) = self.start_offsets.lock() {
            map.remove(&meta.segment_id);
        }
        Ok(())
    }

    /// Deletes every object under the partition's folder (data, indexes, metadata,
    /// markers): the last step of deleting a partition. Returns the objects deleted.
    pub async fn purge_partition(
        &self,
        tp: &TopicIdPartition,
        cancel: &CancellationToken,
    ) -> Result<usize, RemoteStorageError> {
        let dir = keys::partition_dir(&self.prefix, tp);
        let listed: Vec<Path> = retry("list", &self.policy, cancel, || async {
            let objects: Vec<_> = self.store.list(Some(&dir)).try_collect().await?;
            Ok(objects.into_iter().map(|o| o.location).collect())
        })
        .await?;
        let n = listed.len();
        // The delete marker goes last, so an interrupted purge is resumed.
        let marker = keys::partition_delete(&self.prefix, tp);
        let (last, rest): (Vec<Path>, Vec<Path>) = listed.into_iter().partition(|k| *k == marker);
        for key in rest.iter().chain(last.iter()) {
            retry("delete", &self.policy, cancel, || async {
                match self.store.delete(key).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        }
        if let Ok(mut map) = self.start_offsets.lock() {
            map.retain(|id, _| id.tp != *tp);
        }
        Ok(n)
    }

    /// Raises the partition's recorded leader epoch to `leader_epoch`, or fails with
    /// `Fenced` if a newer one is recorded.
    async fn fence(
        &self,
        tp: &TopicIdPartition,
        leader_epoch: i32,
        cancel: &CancellationToken,
    ) -> Result<(), RemoteStorageError> {
        let key = keys::leader_epoch(&self.prefix, tp);
        self.read_modify_write::<LeaderEpochRecord, _>(&key, cancel, |current| match current {
            Some(c) if c.leader_epoch > leader_epoch => Err(RemoteStorageError::Fenced {
                writer: leader_epoch,
                current: c.leader_epoch,
            }),
            Some(c) if c.leader_epoch == leader_epoch => Ok(None),
            _ => Ok(Some(LeaderEpochRecord {
                format_version: FORMAT_VERSION,
                leader_epoch,
            })),
        })
        .await?;
        Ok(())
    }

    fn remember(&self, id: &RemoteLogSegmentId, start: i64) {
        if let Ok(mut map) = self.start_offsets.lock() {
            map.insert(id.clone(), start);
        }
    }

    /// The start offset of a segment (part of its key): from memory, or one LIST.
    async fn start_offset_of(
        &self,
        id: &RemoteLogSegmentId,
        cancel: &CancellationToken,
    ) -> Result<i64, RemoteStorageError> {
        if let Some(start) = self
            .start_offsets
            .lock()
            .ok()
            .and_then(|m| m.get(id).copied())
        {
            return Ok(start);
        }
        let dir = keys::metadata_dir(&self.prefix, &id.tp);
        let listed: Vec<Path> = retry("list", &self.policy, cancel, || async {
            let objects: Vec<_> = self.store.list(Some(&dir)).try_collect().await?;
            Ok(objects.into_iter().map(|o| o.location).collect())
        })
        .await?;
        let start = listed
            .iter()
            .filter_map(|k| k.filename().and_then(keys::parse_segment_metadata_name))
            .find(|(_, uuid)| *uuid == id.id)
            .map(|(start, _)| start)
            .ok_or_else(|| {
                RemoteStorageError::NotFound(format!("metadata of segment {} in {dir}", id.id))
            })?;
        self.remember(id, start);
        Ok(start)
    }

    /// The decoded object and the version to condition an update on; `None` if absent.
    async fn read_json<T: DeserializeOwned>(
        &self,
        key: &Path,
        cancel: &CancellationToken,
    ) -> Result<Option<(T, UpdateVersion)>, RemoteStorageError> {
        let got = retry("get", &self.policy, cancel, || async {
            let result = self.store.get(key).await?;
            let version = UpdateVersion {
                e_tag: result.meta.e_tag.clone(),
                version: result.meta.version.clone(),
            };
            Ok((result.bytes().await?, version))
        })
        .await;
        let (bytes, version) = match got {
            Ok(v) => v,
            Err(RemoteStorageError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let value = serde_json::from_slice(&bytes).map_err(|e| RemoteStorageError::Corrupt {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Some((value, version)))
    }

    /// Reads `key`, lets `decide` compute the next value (`Ok(None)`: keep the current
    /// one, which must exist) and writes it conditionally, re-reading and re-deciding
    /// when another writer got there first. Returns the value stored at the end.
    async fn read_modify_write<T, F>(
        &self,
        key: &Path,
        cancel: &CancellationToken,
        mut decide: F,
    ) -> Result<T, RemoteStorageError>
    where
        T: Serialize + DeserializeOwned + PartialEq + Clone,
        F: FnMut(Option<&T>) -> Result<Option<T>, RemoteStorageError>,
    {
        for _ in 0..MAX_CONFLICTS {
            let current = self.read_json::<T>(key, cancel).await?;
            let next = match (decide(current.as_ref().map(|(v, _)| v))?, current.as_ref()) {
                (Some(next), _) => next,
                (None, Some((value, _))) => return Ok(value.clone()),
                (None, None) => {
                    return Err(RemoteStorageError::InvalidState(format!(
                        "{key}: nothing to keep"
                    )))
                }
            };
            let emulated = self.no_conditional_update.load(Ordering::Relaxed);
            let mode = match current {
                None => PutMode::Create,
                Some(_) if emulated => PutMode::Overwrite,
                Some((_, version)) => PutMode::Update(version),
            };
            let overwrite = matches!(mode, PutMode::Overwrite);
            let body = Bytes::from(serde_json::to_vec_pretty(&next).map_err(|e| {
                RemoteStorageError::Corrupt {
                    key: key.to_string(),
                    reason: e.to_string(),
                }
            })?);
            let put = retry("conditional put", &self.policy, cancel, || async {
                self.store
                    .put_opts(key, PutPayload::from(body.clone()), mode.clone().into())
                    .await
                    .map(|_| ())
                    .map_err(RemoteStorageError::from)
            })
            .await;
            match put {
                Ok(()) if overwrite => {
                    // The read-check of the emulated conditional write.
                    match self.read_json::<T>(key, cancel).await? {
                        Some((stored, _)) if stored == next => return Ok(next),
                        _ => continue,
                    }
                }
                Ok(()) => return Ok(next),
                // Lost a race (or our own earlier attempt landed): decide again.
                Err(RemoteStorageError::Conflict(_)) => continue,
                Err(RemoteStorageError::Unsupported(reason)) if !overwrite => {
                    tracing::info!(
                        %reason,
                        "object store has no conditional update; overwriting with a read-check"
                    );
                    self.no_conditional_update.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        Err(RemoteStorageError::Store {
            message: format!("{key}: still conflicting after {MAX_CONFLICTS} attempts"),
            retryable: true,
        })
    }
}

/// Whether the data at `offset` in `meta` was written in `epoch`: the epoch starts at
/// or before `offset` and the next epoch (if any) starts after it.
fn epoch_covers(meta: &RemoteLogSegmentMetadata, epoch: i32, offset: i64) -> bool {
    let Some(&start) = meta.segment_leader_epochs.get(&epoch) else {
        return false;
    };
    let next_start = meta
        .segment_leader_epochs
        .range(epoch.saturating_add(1)..)
        .next()
        .map(|(_, &s)| s);
    start <= offset && next_start.is_none_or(|n| offset < n)
}

fn parse_delete_state(
    key: &Path,
    record: &PartitionDeleteRecord,
) -> Result<RemotePartitionDeleteState, RemoteStorageError> {
    RemotePartitionDeleteState::from_name(&record.state).ok_or_else(|| {
        RemoteStorageError::Corrupt {
            key: key.to_string(),
            reason: format!("unknown partition delete state {}", record.state),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TopicId;

    #[test]
    fn epoch_ranges_inside_a_segment() {
        let tp = TopicIdPartition::new(TopicId::random(), "t", 0);
        let meta = RemoteLogSegmentMetadata {
            segment_id: RemoteLogSegmentId {
                tp,
                id: Uuid::new_v4(),
            },
            start_offset: 100,
            end_offset: 199,
            max_timestamp_ms: 0,
            broker_id: 0,
            event_timestamp_ms: 0,
            segment_size_bytes: 1,
            segment_leader_epochs: BTreeMap::from([(3, 100), (5, 150)]),
            state: RemoteLogSegmentState::CopySegmentFinished,
        };
        assert!(epoch_covers(&meta, 3, 100));
        assert!(epoch_covers(&meta, 3, 149));
        assert!(!epoch_covers(&meta, 3, 150));
        assert!(epoch_covers(&meta, 5, 150));
        assert!(epoch_covers(&meta, 5, 199));
        assert!(!epoch_covers(&meta, 4, 120));
    }

    #[test]
    fn record_round_trips_through_json() {
        let tp = TopicIdPartition::new(TopicId::random(), "orders", 2);
        let meta = RemoteLogSegmentMetadata {
            segment_id: RemoteLogSegmentId {
                tp,
                id: Uuid::new_v4(),
            },
            start_offset: 7,
            end_offset: 9,
            max_timestamp_ms: 11,
            broker_id: 4,
            event_timestamp_ms: 12,
            segment_size_bytes: 13,
            segment_leader_epochs: BTreeMap::from([(0, 7), (2, 8)]),
            state: RemoteLogSegmentState::DeleteSegmentStarted,
        };
        let json = serde_json::to_vec(&SegmentRecord::new(&meta, 2)).unwrap();
        let back: SegmentRecord = serde_json::from_slice(&json).unwrap();
        assert_eq!(back.to_meta(&Path::from("k")).unwrap(), meta);
    }
}
