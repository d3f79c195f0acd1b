//! Building the remote tier from the broker config.

use std::sync::Arc;
use std::time::Duration;
use strata_proto::SharedClock;

use object_store::ObjectStore;
use strata_cache::{CacheOptions, RemoteReader};
use strata_remote::{
    CountingStore, FlakyStore, ObjectStoreRsm, RemoteLogMetadataStore, RetryPolicy,
};
use strata_tiered::{LogManager, RemoteLogManager, RemoteTier, TieringConfig};

use crate::config::BrokerConfig;

/// Test knob: fail every n-th object-store request with a retryable error (503 or
/// SlowDown), to check that faults delay tiering but lose nothing.
pub const FAULT_ENV: &str = "STRATA_REMOTE_FAULT_EVERY";

/// Name of the stats snapshot `strata remote stats` reads, in the data directory.
pub const STATS_FILE: &str = "remote-tier-stats.json";

/// Name of the list of partitions whose remote data is still to be deleted.
pub const DELETIONS_FILE: &str = "remote-deletions.json";

/// The remote tier, built before the logs that read it; the remote log manager over
/// those logs comes from [`RemoteParts::into_manager`].
pub struct RemoteParts {
    /// What every tiered log reads through.
    pub tier: Arc<RemoteTier>,
    rsm: Arc<ObjectStoreRsm>,
    counting: Arc<CountingStore>,
    cfg: TieringConfig,
}

impl RemoteParts {
    /// The remote log manager of `logs` (built over [`Self::tier`]).
    pub fn into_manager(self, logs: Arc<LogManager>) -> Arc<RemoteLogManager> {
        Arc::new(
            RemoteLogManager::new(logs, self.tier, self.rsm, self.cfg)
                .with_request_counts(self.counting),
        )
    }
}

/// Why the remote tier could not be set up at start-up.
#[derive(Debug, thiserror::Error)]
pub enum TierSetupError {
    /// `remote.log.storage.url` names no store this build can open.
    #[error("{url}: {source}")]
    Store {
        url: String,
        #[source]
        source: strata_remote::RemoteStorageError,
    },
    /// The runtime thread for remote reads could not start.
    #[error("remote read runtime: {0}")]
    ReadRuntime(#[source] std::io::Error),
    /// The chunk cache could not be built (its directory or sizes).
    #[error(transparent)]
    Cache(#[from] strata_cache::CacheError),
}

/// The object store at `remote.log.storage.url`, the RemoteStorageManager and segment
/// metadata over it, and the chunk cache.
pub async fn build(
    config: &BrokerConfig,
    clock: SharedClock,
) -> Result<RemoteParts, TierSetupError> {
    let url = config.remote_storage_url();
    if let Some(every) = fault_every() {
        tracing::warn!(
            every,
            "{FAULT_ENV}: failing every {every}th object-store request"
        );
    }
    let counting = Arc::new(CountingStore::new(open_store(&url)?));
    let store: Arc<dyn ObjectStore> = counting.clone();
    let policy = RetryPolicy::default();
    let rsm = Arc::new(ObjectStoreRsm::new(store.clone(), "", policy.clone()));
    let meta = Arc::new(RemoteLogMetadataStore::new(store, "", policy));
    let opts = CacheOptions {
        memory_bytes: config.remote_log_cache_memory_bytes as usize,
        disk_bytes: config.remote_log_cache_disk_bytes as usize,
        dir: Some(config.remote_cache_dir()),
        chunk_bytes: config.remote_log_fetch_chunk_bytes as u64,
        read_ahead_chunks: config.remote_log_fetch_read_ahead_chunks as u64,
        max_concurrent_gets: config.remote_log_reader_threads as usize,
        fetch_max_bytes_per_second: config.remote_log_manager_fetch_max_bytes_per_second,
        index_cache_bytes: config.remote_log_index_file_cache_total_size_bytes as usize,
    };
    // Reads get an HTTP client (and connection pool) of their own, driven on a
    // runtime thread of their own (so receiving remote data never occupies the
    // workers serving produce and local fetches); uploads and metadata keep theirs.
    let read_store: Arc<dyn ObjectStore> = Arc::new(counting.sharing_hook(open_store(&url)?));
    let read_rsm = Arc::new(ObjectStoreRsm::new(read_store, "", RetryPolicy::default()));
    let read_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("strata-remote-read")
        .enable_all()
        .build()
        .map_err(TierSetupError::ReadRuntime)?;
    let reader = Arc::new(RemoteReader::new(read_rsm, opts, read_runtime.handle().clone()).await?);
    let cfg = TieringConfig {
        broker_id: config.node_id,
        task_interval: Duration::from_millis(config.remote_log_manager_task_interval_ms as u64),
        copy_max_bytes_per_second: config.remote_log_manager_copy_max_bytes_per_second,
        copier_concurrency: config.remote_log_manager_copier_thread_pool_size as usize,
        stats_file: Some(config.log_dirs.join(STATS_FILE)),
        deletions_file: Some(config.log_dirs.join(DELETIONS_FILE)),
        url,
        clock,
    };
    let wait = Duration::from_millis(config.remote_fetch_max_wait_ms.max(1) as u64);
    Ok(RemoteParts {
        tier: Arc::new(RemoteTier::new(meta, reader, wait).owning_read_runtime(read_runtime)),
        rsm,
        counting,
        cfg,
    })
}

/// A store over `url` (a client and connection pool of its own), failing requests as
/// the fault knob says.
fn open_store(url: &str) -> Result<Arc<dyn ObjectStore>, TierSetupError> {
    let store = strata_remote::store_from_url(url).map_err(|source| TierSetupError::Store {
        url: url.to_string(),
        source,
    })?;
    Ok(match fault_every() {
        Some(every) => Arc::new(FlakyStore::new(store, every)),
        None => store,
    })
}

fn fault_every() -> Option<u64> {
    std::env::var(FAULT_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| *n > 0)
}
