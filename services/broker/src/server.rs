//! The listener and the node's background tasks, with ordered shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::BrokerConfig;
use crate::connection;
use crate::state::{AdminError, BrokerState};

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bad listener: {0}")]
    Listener(String),
    #[error("cannot open the data directory: {0}")]
    Open(#[from] AdminError),
    #[error("remote tier: {0}")]
    Remote(#[from] crate::tiering::TierSetupError),
    #[error("metadata quorum: {0}")]
    Quorum(#[from] strata_metadata::quorum::QuorumError),
    #[error("joining the metadata quorum: {0}")]
    Join(String),
}

/// A running broker: bound, recovered, ready to serve.
pub struct Broker {
    listener: TcpListener,
    state: Arc<BrokerState>,
}

impl Broker {
    /// Binds the listener and opens (recovering) the metadata and partition logs.
    pub async fn start(config: BrokerConfig) -> Result<Broker, BrokerError> {
        let addr = config.listen_addr().map_err(BrokerError::Listener)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BrokerError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| BrokerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let advertised = config.advertised(bound);
        let state = crate::node::NodeBuilder::new(config, advertised)
            .build()
            .await?;
        Ok(Broker {
            listener,
            state: Arc::new(state),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn cluster_id(&self) -> &str {
        &self.state.cluster_id
    }

    /// Serves until `shutdown` is cancelled; then stops accepting, gives open
    /// connections a few seconds to finish, and closes every log cleanly (flush,
    /// producer-state snapshot, recovery point) before returning.
    pub async fn run(self, shutdown: CancellationToken) {
        let state = self.state;
        let mut tasks = JoinSet::new();
        let conn_shutdown = shutdown.child_token();
        tasks.spawn(housekeeping(state.clone(), conn_shutdown.clone()));
        if state.config.log_cleaner_enable {
            tasks.spawn(cleaner(state.clone(), conn_shutdown.clone()));
        }
        if let Some(tier) = state.tier().cloned() {
            tasks.spawn(tier.clone().run());
            let stop = conn_shutdown.clone();
            tasks.spawn(async move {
                stop.cancelled().await;
                tier.shutdown();
            });
        }
        if state.controller().fences_brokers() {
            tasks.spawn(crate::lifecycle::heartbeats(
                state.clone(),
                conn_shutdown.clone(),
            ));
        }
        if let Some(images) = state.controller().watch() {
            tasks.spawn(follow_metadata(
                state.clone(),
                images,
                conn_shutdown.clone(),
            ));
        }
        let connections = Arc::new(Semaphore::new(state.config.max_connections.max(1) as usize));
        let request_bytes = Arc::new(Semaphore::new(
            state.config.queued_max_request_bytes.max(1) as usize
        ));
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = shutdown.cancelled() => break,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = connections.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "max.connections reached; closing new connection");
                drop(stream);
                continue;
            };
            let state = state.clone();
            let request_bytes = request_bytes.clone();
            let token = conn_shutdown.clone();
            tasks.spawn(async move {
                connection::serve(stream, state, request_bytes, token).await;
                drop(slot);
            });
            // Reap finished connection tasks so the set stays small.
            while tasks.try_join_next().is_some() {}
        }
        drop(self.listener);
        // Leaderships move off while the connections still answer (with
        // NOT_LEADER_OR_FOLLOWER once they have moved, sending clients to the new leaders).
        if state.controller().fences_brokers() {
            crate::lifecycle::controlled_shutdown(&state).await;
        }
        conn_shutdown.cancel();
        let drained = tokio::time::timeout(Duration::from_secs(5), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("connections did not finish in time; aborting them");
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        // Coordinator shards and remote-tier tasks end before the logs they use close.
        state.groups.shutdown().await;
        if let Some(tier) = state.tier() {
            // Uploads and deletions stop at their cancellation points; bounded so a
            // hung object-store call cannot hold the shutdown.
            let ended =
                tokio::time::timeout(Duration::from_secs(10), tier.shutdown_and_wait()).await;
            if ended.is_err() {
                tracing::warn!(
                    "remote-tier tasks did not end within 10 s; closing the logs anyway"
                );
            }
        }
        // The quorum node stops before the logs close (its state machine publishes to
        // them), after the connections that call it.
        state.controller().shutdown().await;
        let closing = state.clone();
        let _ = tokio::task::spawn_blocking(move || closing.replicas.close_all()).await;
        tracing::info!("logs closed cleanly");
    }
}

/// On a cluster: applies each committed image to this node's logs and partitions as
/// the quorum delivers it (changes made through other nodes included).
async fn follow_metadata(
    state: Arc<BrokerState>,
    mut images: tokio::sync::watch::Receiver<Arc<strata_metadata::MetadataImage>>,
    shutdown: CancellationToken,
) {
    // The first round publishes what was committed before this task subscribed.
    let mut first = true;
    loop {
        if !first {
            tokio::select! {
                changed = images.changed() => if changed.is_err() { return },
                _ = shutdown.cancelled() => return,
            }
        }
        first = false;
        let publishing = state.clone();
        let done = tokio::task::spawn_blocking(move || {
            publishing.publish()?;
            publishing
                .load_new_group_shards()
                .map_err(AdminError::GroupLoad)
        })
        .await;
        match done {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "applying committed metadata failed"),
            Err(e) => tracing::error!(error = %e, "metadata publisher task failed"),
        }
    }
}

/// Retention, time-based rolls, producer-state expiry and recovery-point checkpoints.
/// Each round finishes
/// before the next is scheduled, so rounds never overlap.
async fn housekeeping(state: Arc<BrokerState>, shutdown: CancellationToken) {
    let retention_every = state.config.log_retention_check_interval_ms.max(1) as u64;
    let flush_every = state.config.log_flush_offset_checkpoint_interval_ms.max(1) as u64;
    let expire_every = state.config.producer_id_expiration_check_interval_ms.max(1) as u64;
    let producer_idle_ms = state.config.producer_id_expiration_ms;
    let tick = Duration::from_millis(retention_every.min(flush_every).min(expire_every).min(1000));
    let mut last_retention = std::time::Instant::now();
    let mut last_flush = std::time::Instant::now();
    let mut last_expiry = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.cancelled() => return,
        }
        let now = std::time::Instant::now();
        let do_retention =
            now.duration_since(last_retention) >= Duration::from_millis(retention_every);
        let do_flush = now.duration_since(last_flush) >= Duration::from_millis(flush_every);
        let do_expiry = now.duration_since(last_expiry) >= Duration::from_millis(expire_every);
        let s = state.clone();
        let _ = tokio::task::spawn_blocking(move || {
            // segment.ms rolls run every tick: an idle segment is sealed on time.
            s.replicas.logs().roll_due(s.clock.now_ms());
            if do_retention {
                s.replicas.logs().enforce_retention(s.clock.now_ms());
            }
            if do_expiry {
                let n = s
                    .replicas
                    .logs()
                    .remove_expired_producers(s.clock.now_ms(), producer_idle_ms);
                if n > 0 {
                    tracing::info!(producers = n, "expired idle producer state");
                }
            }
            if do_flush {
                s.replicas.logs().flush_all();
            }
        })
        .await;
        if do_expiry {
            last_expiry = now;
        }
        if do_retention {
            last_retention = now;
        }
        if do_flush {
            last_flush = now;
        }
    }
}

/// The log cleaner: every `log.cleaner.backoff.ms`, compacts the partitions whose
/// policy includes compact and whose dirty ratio (or max lag) calls for it, on a
/// blocking thread, one pass at a time, at most `log.cleaner.io.max.bytes.per.second`.
async fn cleaner(state: Arc<BrokerState>, shutdown: CancellationToken) {
    let backoff = Duration::from_millis(state.config.log_cleaner_backoff_ms.max(10) as u64);
    let opts = strata_log::CleanerOptions {
        dedupe_buffer_size: state.config.log_cleaner_dedupe_buffer_size.max(1) as usize,
        io_buffer_size: state.config.log_cleaner_io_buffer_size.max(4096) as usize,
        ..Default::default()
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.cancelled() => return,
        }
        let s = state.clone();
        let o = opts.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut throttle =
                strata_log::Throttle::new(s.config.log_cleaner_io_max_bytes_per_second);
            s.replicas
                .logs()
                .run_cleaner(s.clock.now_ms(), &o, &mut throttle);
        })
        .await;
    }
}
