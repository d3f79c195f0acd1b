//! Assembling a node: the parts that need each other are built in dependency order
//! and handed over whole, instead of being installed into shared state afterwards.
//!
//! The logs need the remote tier (tiered reads go through it) and the remote tier
//! needs the runtime (its reader starts a cache and a thread); the remote log manager
//! needs the logs (it tiers them); the broker state needs both (leadership changes
//! and deletions reach the remote log manager); the group coordinator's shards need the state's
//! partitions of `__consumer_offsets`.

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_metadata::quorum::{ClusterController, ControllerService, Quorum, QuorumSettings};
use strata_metadata::{off_worker, ControllerClient};

use strata_proto::{SharedClock, SystemClock};
use strata_tiered::LogManager;

use crate::config::BrokerConfig;
use crate::server::BrokerError;
use crate::state::{AdminError, BrokerState};

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
        let (controller, cluster_id) = match config.quorum_voters() {
            Some(voters) => cluster_controller(&config, &voters).await?,
            None => crate::state::local_controller(&config).map_err(BrokerError::Open)?,
        };
        BrokerState::assemble(
            config, advertised, logs, tier, clock, controller, cluster_id,
        )
        .await
        .map_err(BrokerError::Open)
    }
}

/// A node of a cluster: its identity (`meta.properties` formatted for `cluster.id`),
/// its quorum node serving the control plane on the CONTROLLER listener, and the
/// controller that runs admin calls where the quorum's leader is.
async fn cluster_controller(
    config: &BrokerConfig,
    voters: &BTreeMap<u64, String>,
) -> Result<(Arc<dyn ControllerClient>, String), BrokerError> {
    let dir = crate::state::metadata_dir(config);
    let identity = {
        let dir = dir.clone();
        let node_id = config.node_id;
        let cluster_id = config.cluster_id.clone();
        off_worker(move || strata_metadata::load_or_format(&dir, node_id, cluster_id.as_deref()))
            .map_err(|e| BrokerError::Open(AdminError::Metadata(e)))?
    };
    let addr = match config.controller_listen_addr() {
        Some(Ok(a)) => a,
        Some(Err(e)) => return Err(BrokerError::Listener(e)),
        None => return Err(BrokerError::Listener("no CONTROLLER listener".into())),
    };
    let (incoming, bound) = strata_rpc::bind(addr).map_err(|source| BrokerError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let settings = QuorumSettings::new(config.node_id as u64, &identity.cluster_id);
    let quorum = Quorum::open(&dir.join("quorum"), settings).await?;
    let session = std::time::Duration::from_millis(config.broker_session_timeout_ms as u64);
    let controller = ClusterController::new(quorum.clone(), config.controller_settings(), session);
    controller.start_session_monitor();
    quorum.serve(incoming, Some(ControllerService::new(controller.clone())));
    quorum.bootstrap(voters).await?;
    tracing::info!(
        controller_listener = %bound,
        voters = ?voters,
        cluster_id = %identity.cluster_id,
        "metadata quorum node started"
    );
    Ok((controller, identity.cluster_id))
}
