//! The RemoteStorageManager trait and its object_store implementation.

use std::path::Path as FsPath;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use crate::error::RemoteStorageError;
use crate::retry::{retry, RetryPolicy};
use crate::types::{IndexType, LogSegmentData, RemoteLogSegmentMetadata};

/// Segments larger than this go up as multipart uploads in parts of this size:
/// 16 MiB parts keep a GiB at 64 part PUTs + 2 (create, complete) — under the 70
/// PUT-class requests per GiB the design allows.
pub const MULTIPART_PART_SIZE: usize = 16 * 1024 * 1024;

/// KIP-405's RemoteStorageManager: moves segment data and indexes to and from the
/// remote tier. Implementations retry what is retryable; an error returned is final
/// for this call. Every call stops promptly with `Cancelled` when `cancel` fires.
#[async_trait]
pub trait RemoteStorageManager: Send + Sync {
    /// Uploads the segment and its indexes. Idempotent: copying the same segment id
    /// again overwrites the same objects. On error, objects already written may remain
    /// (orphans, removed by `delete_log_segment_data`).
    async fn copy_log_segment_data(
        &self,
        meta: &RemoteLogSegmentMetadata,
        data: &LogSegmentData,
        cancel: &CancellationToken,
    ) -> Result<(), RemoteStorageError>;

    /// Bytes `start..=end` of the segment (`end` None: to the end), as Kafka's
    /// `fetchLogSegment`.
    async fn fetch_log_segment(
        &self,
        meta: &RemoteLogSegmentMetadata,
        start: u64,
        end_inclusive: Option<u64>,
        cancel: &CancellationToken,
    ) -> Result<Bytes, RemoteStorageError>;

    /// One index of the segment; `NotFound` if it was not uploaded (optional indexes).
    async fn fetch_index(
        &self,
        meta: &RemoteLogSegmentMetadata,
        index: IndexType,
        cancel: &CancellationToken,
    ) -> Result<Bytes, RemoteStorageError>;

    /// Deletes the segment and every index. Deleting what is already gone is Ok.
    async fn delete_log_segment_data(
        &self,
        meta: &RemoteLogSegmentMetadata,
        cancel: &CancellationToken,
    ) -> Result<(), RemoteStorageError>;
}

/// [`RemoteStorageManager`] over any `object_store` backend. Objects live at
/// `<prefix>/<topic>-<topic id>/<partition>/<start offset:020>-<segment uuid>.<suffix>`
/// (`log` for the segment), so a listing of a partition is ordered by offset and every
/// object names the topic incarnation it belongs to.
pub struct ObjectStoreRsm {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    policy: RetryPolicy,
}

impl ObjectStoreRsm {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: impl Into<String>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            store,
            prefix: prefix.into().trim_matches('/').to_string(),
            policy,
        }
    }

    /// The object key of the segment (`suffix` "log") or one of its indexes.
    pub fn key(&self, meta: &RemoteLogSegmentMetadata, suffix: &str) -> Path {
        let tp = &meta.segment_id.tp;
        let name = format!(
            "{}-{}/{}/{:020}-{}.{}",
            tp.topic,
            tp.topic_id.simple(),
            tp.partition,
            meta.start_offset,
            meta.segment_id.id.simple(),
            suffix
        );
        if self.prefix.is_empty() {
            Path::from(name)
        } else {
            Path::from(format!("{}/{}", self.prefix, name))
        }
    }

    async fn put_file(
        &self,
        path: &FsPath,
        key: &Path,
        cancel: &CancellationToken,
    ) -> Result<(), RemoteStorageError> {
        let local = |source| RemoteStorageError::LocalFile {
            path: path.display().to_string(),
            source,
        };
        let len = tokio::fs::metadata(path).await.map_err(local)?.len() as usize;
        if len <= MULTIPART_PART_SIZE {
            let data = Bytes::from(tokio::fs::read(path).await.map_err(local)?);
            return retry("put", &self.policy, cancel, || async {
                self.store
                    .put(key, PutPayload::from(data.clone()))
                    .await
                    .map(|_| ())
                    .map_err(RemoteStorageError::from)
            })
            .await;
        }
        // A failed multipart upload is retried whole from the start of the file.
        retry("multipart put", &self.policy, cancel, || async {
            let mut file = tokio::fs::File::open(path).await.map_err(local)?;
            let upload = self.store.put_multipart(key).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_PART_SIZE);
            let mut buf = vec![0u8; 4 * 1024 * 1024];
            loop {
                let n = file.read(&mut buf).await.map_err(local)?;
                if n == 0 {
                    break;
                }
                writer.wait_for_capacity(4).await?;
                writer.write(&buf[..n]);
            }
            writer.finish().await?;
            Ok(())
        })
        .await
    }

    async fn put_bytes(
        &self,
        data: Bytes,
        key: &Path,
        cancel: &CancellationToken,
    ) -> Result<(), RemoteStorageError> {
        retry("put", &self.policy, cancel, || async {
            self.store
                .put(key, PutPayload::from(data.clone()))
                .await
                .map(|_| ())
                .map_err(RemoteStorageError::from)
        })
        .await
    }
}

#[async_trait]
impl RemoteStorageManager for ObjectStoreRsm {
    async fn copy_log_segment_data(
        &self,
        meta: &RemoteLogSegmentMetadata,
        data: &LogSegmentData,
        cancel: &CancellationToken,
    ) -> Result<(), RemoteStorageError> {
        // Indexes first, segment last: a segment object present means its indexes are.
        self.put_file(
            &data.offset_index,
            &self.key(meta, IndexType::Offset.suffix()),
            cancel,
        )
        .await?;
        self.put_file(
            &data.time_index,
            &self.key(meta, IndexType::Timestamp.suffix()),
            cancel,
        )
        .await?;
        if let Some(p) = &data.transaction_index {
            self.put_file(p, &self.key(meta, IndexType::Transaction.suffix()), cancel)
                .await?;
        }
        if let Some(p) = &data.producer_snapshot {
            self.put_file(
                p,
                &self.key(meta, IndexType::ProducerSnapshot.suffix()),
                cancel,
            )
            .await?;
        }
        self.put_bytes(
            data.leader_epoch_index.clone(),
            &self.key(meta, IndexType::LeaderEpoch.suffix()),
            cancel,
        )
        .await?;
        self.put_file(&data.log_segment, &self.key(meta, "log"), cancel)
            .await
    }

    async fn fetch_log_segment(
        &self,
        meta: &RemoteLogSegmentMetadata,
        start: u64,
        end_inclusive: Option<u64>,
        cancel: &CancellationToken,
    ) -> Result<Bytes, RemoteStorageError> {
        let key = self.key(meta, "log");
        retry("get range", &self.policy, cancel, || async {
            let end = match end_inclusive {
                Some(e) => e.saturating_add(1),
                None => self.store.head(&key).await?.size,
            };
            if start >= end {
                return Ok(Bytes::new());
            }
            Ok(self.store.get_range(&key, start..end).await?)
        })
        .await
    }

    async fn fetch_index(
        &self,
        meta: &RemoteLogSegmentMetadata,
        index: IndexType,
        cancel: &CancellationToken,
    ) -> Result<Bytes, RemoteStorageError> {
        let key = self.key(meta, index.suffix());
        retry("get", &self.policy, cancel, || async {
            Ok(self.store.get(&key).await?.bytes().await?)
        })
        .await
    }

    async fn delete_log_segment_data(
        &self,
        meta: &RemoteLogSegmentMetadata,
        cancel: &CancellationToken,
    ) -> Result<(), RemoteStorageError> {
        // The segment first: without it, leftover indexes are harmless orphans.
        let mut keys = vec![self.key(meta, "log")];
        keys.extend(IndexType::ALL.iter().map(|i| self.key(meta, i.suffix())));
        for key in keys {
            retry("delete", &self.policy, cancel, || async {
                match self.store.delete(&key).await {
                    Ok(()) => Ok(()),
                    Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(RemoteStorageError::from(e)),
                }
            })
            .await?;
        }
        Ok(())
    }
}
