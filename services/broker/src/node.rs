//! Assembling a node: the parts that need each other are built in dependency order
//! and handed over whole, instead of being installed into shared state afterwards.
//!
//! The logs need the remote tier (tiered reads go through it) and the remote tier
//! needs the runtime (its reader starts a cache and a thread); the remote log manager
//! needs the logs (it tiers them); the broker state needs both (leadership changes
//! and deletions reach the remote log manager); the group coordinator's shards need the state's
//! partitions of `__consumer_offsets`.

use std::sync::Arc;

use strata_proto::{SharedClock, SystemClock};
use strata_tiered::LogManager;

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

    /// The remote tier (when `remote.log.storage.system.enable`), then the logs that
    /// read it and the remote log manager over them, then the state (recovery of every log, on
    /// a blocking thread), then the group coordinator's shards loaded from its topic.
    pub async fn build(self) -> Result<BrokerState, BrokerError> {
        let Self {
            config,
            advertised,
            clock,
        } = self;
        let remote = if config.remote_log_storage_system_enable {
            Some(
                crate::tiering::build(&config, clock.clone())
                    .await
                    .map_err(BrokerError::Remote)?,
            )
        } else {
            None
        };
        let logs = Arc::new(
            LogManager::new(&config.log_dirs, remote.as_ref().map(|r| r.tier.clone()))
                .map_err(|e| BrokerError::Open(crate::state::AdminError::Log(e)))?,
        );
        let tier = remote.map(|r| r.into_manager(logs.clone()));
        if let Some(tier) = &tier {
            tracing::info!(url = tier.url(), "remote tier ready");
        }
        BrokerState::assemble(config, advertised, logs, tier, clock)
            .await
            .map_err(BrokerError::Open)
    }
}
