//! The remote reader: chunked, cached, read-ahead reads of remote segments.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use foyer::{
    BlockEngineConfig, DeviceBuilder, FsDeviceBuilder, HybridCache, HybridCacheBuilder, Source,
};
use strata_log::{offset_index_lookup, time_index_lookup, TimestampOffset};
use strata_remote::{
    IndexType, RateLimiter, RemoteLogSegmentMetadata, RemoteStorageError, RemoteStorageManager,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::chunk_key::{ChunkKey, IndexKey};
use crate::cursor::BatchCursor;
use crate::error::CacheError;

/// Fewest disk blocks worth a disk tier (foyer needs several to flush and reclaim).
const MIN_DISK_BLOCKS: usize = 8;

/// Sizes and limits of the remote read path (Strata's `remote.log.cache.*` and
/// `remote.log.fetch.*` broker configs, and Kafka's `remote.log.reader.threads` and
/// `remote.log.manager.fetch.max.bytes.per.second`).
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Bytes of chunks kept in memory.
    pub memory_bytes: usize,
    /// Bytes of chunks kept on local disk (0: memory only).
    pub disk_bytes: usize,
    /// Directory of the disk tier.
    pub dir: Option<PathBuf>,
    /// Bytes per chunk: the unit of GETs and of caching.
    pub chunk_bytes: u64,
    /// Chunks fetched ahead of a sequential reader.
    pub read_ahead_chunks: u64,
    /// GETs in flight at once.
    pub max_concurrent_gets: usize,
    /// Bytes per second fetched from the remote tier (`i64::MAX`: unlimited).
    pub fetch_max_bytes_per_second: i64,
    /// Bytes of remote indexes kept in memory.
    pub index_cache_bytes: usize,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            disk_bytes: 0,
            dir: None,
            chunk_bytes: 4 << 20,
            read_ahead_chunks: 4,
            max_concurrent_gets: 8,
            fetch_max_bytes_per_second: i64::MAX,
            index_cache_bytes: 64 << 20,
        }
    }
}

/// Counters of the read path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// Reads served (Fetch partitions and timestamp lookups).
    pub reads: u64,
    /// Chunk and index lookups served from the cache.
    pub cache_hits: u64,
    /// Chunk and index lookups that needed a GET.
    pub cache_misses: u64,
    /// Chunks fetched from the remote tier (read-ahead included).
    pub chunks_fetched: u64,
    /// Bytes fetched from the remote tier.
    pub bytes_fetched: u64,
    /// Sum and max of GET latencies, in milliseconds.
    pub fetch_ms_total: u64,
    pub fetch_ms_max: u64,
}

#[derive(Debug, Default)]
struct Counters {
    reads: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    chunks: AtomicU64,
    bytes: AtomicU64,
    ms_total: AtomicU64,
    ms_max: AtomicU64,
}

/// Shared by the reader and the GET futures it hands to the cache.
struct Fetcher {
    rsm: Arc<dyn RemoteStorageManager>,
    gets: Semaphore,
    rate: Arc<RateLimiter>,
    counters: Counters,
    cancel: CancellationToken,
    /// The runtime GETs run on (the broker gives the reader one of its own, so
    /// receiving and copying remote data never occupies the workers that serve
    /// produce and local fetches).
    runtime: tokio::runtime::Handle,
}

impl Fetcher {
    /// Runs `fut` on the reader's runtime.
    async fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = Result<T, RemoteStorageError>> + Send + 'static,
    ) -> Result<T, RemoteStorageError> {
        self.runtime.spawn(fut).await.unwrap_or_else(|e| {
            Err(RemoteStorageError::Store {
                message: format!("remote read task: {e}"),
                retryable: true,
            })
        })
    }
}

/// Reads remote segments through the chunk cache. Cheap to share (`Arc`).
pub struct RemoteReader {
    fetcher: Arc<Fetcher>,
    chunks: HybridCache<ChunkKey, Bytes>,
    indexes: HybridCache<IndexKey, Bytes>,
    opts: CacheOptions,
}

impl RemoteReader {
    /// Builds the caches (the disk tier in `opts.dir`); GETs run on `runtime`. Must
    /// run inside a tokio runtime.
    pub async fn new(
        rsm: Arc<dyn RemoteStorageManager>,
        mut opts: CacheOptions,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, CacheError> {
        opts.chunk_bytes = opts.chunk_bytes.max(64 << 10);
        let build = |e: foyer::Error| CacheError::Build(e.to_string());
        // A block must hold a whole chunk plus foyer's entry header, or the chunk is
        // silently not written to disk.
        let block = ((opts.chunk_bytes as usize + (64 << 10)).next_power_of_two()).max(16 << 20);
        let builder = HybridCacheBuilder::new()
            .with_name("remote-chunks")
            .memory(opts.memory_bytes.max(opts.chunk_bytes as usize))
            .with_weighter(|_k: &ChunkKey, v: &Bytes| v.len())
            .storage();
        let chunks = match &opts.dir {
            Some(dir) if opts.disk_bytes >= block * MIN_DISK_BLOCKS => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| CacheError::Build(format!("{}: {e}", dir.display())))?;
                let device = FsDeviceBuilder::new(dir)
                    .with_capacity(opts.disk_bytes)
                    .build()
                    .map_err(build)?;
                builder
                    .with_engine_config(BlockEngineConfig::new(device).with_block_size(block))
                    .build()
                    .await
                    .map_err(build)?
            }
            Some(_) if opts.disk_bytes > 0 => {
                tracing::warn!(
                    disk_bytes = opts.disk_bytes,
                    min = block * MIN_DISK_BLOCKS,
                    "remote chunk cache disk tier too small for its blocks; memory only"
                );
                builder.build().await.map_err(build)?
            }
            _ => builder.build().await.map_err(build)?,
        };
        let indexes = HybridCacheBuilder::new()
            .with_name("remote-indexes")
            .memory(opts.index_cache_bytes.max(1 << 20))
            .with_weighter(|_k: &IndexKey, v: &Bytes| v.len().max(1))
            .storage()
            .build()
            .await
            .map_err(build)?;
        Ok(Self {
            fetcher: Arc::new(Fetcher {
                rsm,
                gets: Semaphore::new(opts.max_concurrent_gets.max(1)),
                rate: Arc::new(RateLimiter::new(opts.fetch_max_bytes_per_second)),
                counters: Counters::default(),
                cancel: CancellationToken::new(),
                runtime,
            }),
            chunks,
            indexes,
            opts,
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> ReaderStats {
        let c = &self.fetcher.counters;
        ReaderStats {
            reads: c.reads.load(Ordering::Relaxed),
            cache_hits: c.hits.load(Ordering::Relaxed),
            cache_misses: c.misses.load(Ordering::Relaxed),
            chunks_fetched: c.chunks.load(Ordering::Relaxed),
            bytes_fetched: c.bytes.load(Ordering::Relaxed),
            fetch_ms_total: c.ms_total.load(Ordering::Relaxed),
            fetch_ms_max: c.ms_max.load(Ordering::Relaxed),
        }
    }

    /// Stops read-ahead and GETs in flight and flushes the cache.
    pub async fn close(&self) {
        self.fetcher.cancel.cancel();
        if let Err(e) = self.chunks.close().await {
            tracing::debug!(error = %e, "closing the chunk cache");
        }
    }

    /// Drops a deleted segment's chunks and indexes from the cache.
    pub fn forget(&self, meta: &RemoteLogSegmentMetadata) {
        let segment = meta.segment_id.id.as_u128();
        for index in 0..self.chunk_count(meta) {
            self.chunks.remove(&self.chunk_key(meta, index));
        }
        for kind in [0u8, 1] {
            self.indexes.remove(&IndexKey { segment, kind });
        }
    }

    fn chunk_key(&self, meta: &RemoteLogSegmentMetadata, index: u64) -> ChunkKey {
        ChunkKey {
            segment: meta.segment_id.id.as_u128(),
            chunk_bytes: self.opts.chunk_bytes,
            index,
        }
    }

    fn chunk_count(&self, meta: &RemoteLogSegmentMetadata) -> u64 {
        meta.segment_size_bytes.div_ceil(self.opts.chunk_bytes)
    }

    /// Whole batches of `meta` from the one holding `offset`, up to `max_bytes` (the
    /// first batch even if larger with `min_one_batch`), ending at the segment's end,
    /// as slices of the cached chunks in order (no copy: the broker writes them to the
    /// socket as they are). `next` (the segments after `meta`, in order) lets read-ahead
    /// run on across segment boundaries.
    pub async fn read(
        &self,
        meta: &RemoteLogSegmentMetadata,
        next: &[RemoteLogSegmentMetadata],
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        cancel: &CancellationToken,
    ) -> Result<Vec<Bytes>, CacheError> {
        self.fetcher.counters.reads.fetch_add(1, Ordering::Relaxed);
        // A sequential reader enters a segment at its first offset: no index needed.
        let start = if offset <= meta.start_offset {
            0
        } else {
            let index = self.index(meta, IndexType::Offset, cancel).await?;
            let rel = u32::try_from(offset - meta.start_offset).unwrap_or(u32::MAX);
            u64::from(offset_index_lookup(&index, rel))
        };
        let mut cursor = BatchCursor::new(self, meta, start, true, next);
        // The batches taken are contiguous: find where they start and end.
        let (mut first, mut end) = (None, 0u64);
        let max = max_bytes as u64;
        while let Some(batch) = cursor.next_header().await? {
            if batch.last_offset < offset {
                continue;
            }
            let taken = first.map_or(0, |s| end - s);
            if taken + batch.len > max && !(taken == 0 && min_one_batch) {
                break;
            }
            let start = *first.get_or_insert(batch.pos);
            end = batch.pos + batch.len;
            if end - start >= max {
                break;
            }
        }
        match first {
            Some(start) => cursor.parts(start, end).await,
            None => Ok(Vec::new()),
        }
    }

    /// The first record of `meta` at or after `floor` with a timestamp >= `ts`.
    pub async fn offset_for_timestamp(
        &self,
        meta: &RemoteLogSegmentMetadata,
        ts: i64,
        floor: i64,
        cancel: &CancellationToken,
    ) -> Result<Option<TimestampOffset>, CacheError> {
        self.fetcher.counters.reads.fetch_add(1, Ordering::Relaxed);
        let time_index = self.index(meta, IndexType::Timestamp, cancel).await?;
        let start = match time_index_lookup(&time_index, ts) {
            Some(rel) => {
                let index = self.index(meta, IndexType::Offset, cancel).await?;
                u64::from(offset_index_lookup(&index, rel))
            }
            None => 0,
        };
        let mut cursor = BatchCursor::new(self, meta, start, false, &[]);
        while let Some(at) = cursor.next_header().await? {
            let bytes = cursor.bytes(at.pos, at.len).await?;
            let header =
                strata_log::RecordBatchHeader::parse(&bytes).map_err(|e| CacheError::Corrupt {
                    segment: meta.segment_id.id.to_string(),
                    reason: e.to_string(),
                })?;
            if let Some(found) =
                strata_log::first_record_at_or_after(&header, ts, floor).map_err(|e| {
                    CacheError::Corrupt {
                        segment: meta.segment_id.id.to_string(),
                        reason: e.to_string(),
                    }
                })?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// An index of `meta`, through the index cache.
    async fn index(
        &self,
        meta: &RemoteLogSegmentMetadata,
        kind: IndexType,
        cancel: &CancellationToken,
    ) -> Result<Bytes, CacheError> {
        let key = IndexKey {
            segment: meta.segment_id.id.as_u128(),
            kind: if kind == IndexType::Offset { 0 } else { 1 },
        };
        let fetcher = self.fetcher.clone();
        let m = meta.clone();
        let cancel = cancel.clone();
        let entry = self
            .indexes
            .get_or_fetch(&key, move || async move {
                let _permit = fetcher.gets.acquire().await;
                let rsm = fetcher.rsm.clone();
                let got = fetcher
                    .run(async move { rsm.fetch_index(&m, kind, &cancel).await })
                    .await;
                match got {
                    Ok(b) => Ok(b),
                    // An empty index is not uploaded by every writer: scan from 0.
                    Err(RemoteStorageError::NotFound(_)) => Ok(Bytes::new()),
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(|e| fetch_error(&e))?;
        self.count(entry.source());
        Ok(entry.value().clone())
    }

    /// Chunk `index` of `meta`; with `read_ahead`, also starts fetching the next ones,
    /// running on into the segments of `next` at the end of `meta`.
    pub(crate) async fn chunk(
        &self,
        meta: &RemoteLogSegmentMetadata,
        index: u64,
        read_ahead: bool,
        next: &[RemoteLogSegmentMetadata],
    ) -> Result<Bytes, CacheError> {
        if read_ahead {
            let mut wanted = self.opts.read_ahead_chunks;
            let mut from = index + 1;
            for m in std::iter::once(meta).chain(next.iter()) {
                if wanted == 0 {
                    break;
                }
                let end = (from + wanted).min(self.chunk_count(m));
                for ahead in from..end {
                    let key = self.chunk_key(m, ahead);
                    if !self.chunks.contains(&key) {
                        let fut = self.load(m, key);
                        tokio::spawn(async move {
                            let _ = fut.await;
                        });
                    }
                }
                wanted -= end.saturating_sub(from);
                from = 0;
            }
        }
        let key = self.chunk_key(meta, index);
        let entry = self.load(meta, key).await.map_err(|e| fetch_error(&e))?;
        self.count(entry.source());
        Ok(entry.value().clone())
    }

    fn load(
        &self,
        meta: &RemoteLogSegmentMetadata,
        key: ChunkKey,
    ) -> impl std::future::Future<Output = foyer::Result<foyer::HybridCacheEntry<ChunkKey, Bytes>>>
           + Send
           + 'static {
        let fetcher = self.fetcher.clone();
        let m = meta.clone();
        let cs = self.opts.chunk_bytes;
        let from = key.index * cs;
        let to = ((key.index + 1) * cs).min(meta.segment_size_bytes);
        self.chunks.get_or_fetch(&key, move || async move {
            let _permit = fetcher.gets.acquire().await;
            let started = Instant::now();
            // Paced while the body arrives (remote.log.manager.fetch.max.bytes.per.second).
            // The task holds only the parts it reads with, not the `Fetcher`.
            let (rsm, rate, cancel) = (
                fetcher.rsm.clone(),
                fetcher.rate.clone(),
                fetcher.cancel.clone(),
            );
            let bytes = fetcher
                .run(async move {
                    let end = Some(to.saturating_sub(1));
                    rsm.fetch_log_segment_paced(&m, from, end, &rate, &cancel)
                        .await
                })
                .await?;
            let ms = started.elapsed().as_millis() as u64;
            let c = &fetcher.counters;
            c.chunks.fetch_add(1, Ordering::Relaxed);
            c.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            c.ms_total.fetch_add(ms, Ordering::Relaxed);
            c.ms_max.fetch_max(ms, Ordering::Relaxed);
            Ok::<Bytes, RemoteStorageError>(bytes)
        })
    }

    fn count(&self, source: Source) {
        let c = &self.fetcher.counters;
        match source {
            Source::Outer => c.misses.fetch_add(1, Ordering::Relaxed),
            _ => c.hits.fetch_add(1, Ordering::Relaxed),
        };
    }

    pub(crate) fn chunk_bytes(&self) -> u64 {
        self.opts.chunk_bytes
    }
}

/// The store's error behind a failed cache fetch, or foyer's own (its I/O, which may
/// pass).
fn fetch_error(e: &foyer::Error) -> CacheError {
    match e.downcast_ref::<RemoteStorageError>() {
        Some(r) => CacheError::Fetch {
            message: r.to_string(),
            retryable: !r.is_permanent(),
        },
        None => CacheError::Fetch {
            message: e.to_string(),
            retryable: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(e: RemoteStorageError) -> foyer::Error {
        foyer::Error::new(foyer::ErrorKind::External, "fetch").with_source(e)
    }

    #[test]
    fn a_failed_fetch_keeps_whether_the_store_may_recover() {
        let timeout = wrapped(RemoteStorageError::Store {
            message: "503".into(),
            retryable: true,
        });
        assert!(fetch_error(&timeout).is_retryable());
        let missing = wrapped(RemoteStorageError::NotFound("seg".into()));
        assert!(!fetch_error(&missing).is_retryable());
        let denied = wrapped(RemoteStorageError::Store {
            message: "403".into(),
            retryable: false,
        });
        assert!(!fetch_error(&denied).is_retryable());
        // foyer's own trouble (its disk tier) may pass.
        let own = foyer::Error::new(foyer::ErrorKind::Io, "disk");
        assert!(fetch_error(&own).is_retryable());
    }
}
