//! Assembling a node: the parts that need each other are built in dependency order
//! and handed over whole, instead of being installed into shared state afterwards.
//!
//! The remote tier needs the partition registry (it tiers its logs) and the runtime
//! (its reader starts a cache and a thread); the broker state needs the remote tier
//! (reads and deletions consult it); the group coordinator's shards need the state's
//! partitions of `__consumer_offsets`.

use std::sync::Arc;

use strata_proto::{SharedClock, SystemClock};
use strata_replication::LogManager;

use crate::config::BrokerConfig;
use crate::server::BrokerError;
use crate::state::BrokerState;

/// Builds a node's [`BrokerState`] from its config.
pub struct NodeBuilder {
    config: BrokerConfig,
    advertised: (String, i32),
    /// The clock every timestamp, retention deadline and timer of the node reads.
    clock: SharedClock,
}

impl NodeBuilder {
    pub fn new(config: BrokerConfig, advertised: (String, i32)) -> Self {
        Self {
            config,
            advertised,
            clock: SystemClock::shared(),
        }
    }

    /// The registry of partition logs, then the remote tier over it (when
    /// `remote.log.storage.system.enable`), then the state (recovery of every log, on
    /// a blocking thread), then the group coordinator's shards loaded from its topic.
    pub async fn build(self) -> Result<BrokerState, BrokerError> {
        let Self {
            config,
            advertised,
            clock,
        } = self;
        let replicas = Arc::new(
            LogManager::new(&config.log_dirs)
                .map_err(|e| BrokerError::Open(crate::state::AdminError::Replication(e)))?,
        );
        let tier = if config.remote_log_storage_system_enable {
            let tier = crate::tiering::build(&config, replicas.clone(), clock.clone())
                .await
                .map_err(BrokerError::Remote)?;
            tracing::info!(url = tier.url(), "remote tier ready");
            Some(tier)
        } else {
            None
        };
        tokio::task::spawn_blocking(move || {
            BrokerState::assemble(config, advertised, replicas, tier, clock)
        })
        .await
        .map_err(|e| BrokerError::Listener(format!("start-up task failed: {e}")))?
        .map_err(BrokerError::Open)
    }
}
