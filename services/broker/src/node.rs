//! Assembling a node: the parts that need each other are built in dependency order
//! and handed over whole, instead of being installed into shared state afterwards.
//!
//! The logs need the remote tier (tiered reads go through it) and the remote tier
//! needs the runtime (its reader starts a cache and a thread); the remote log manager
//! needs the logs (it tiers them); the broker state needs both (leadership changes
//! and deletions reach the remote log manager); the group coordinator's shards need the state's
//! partitions of `__consumer_offsets`.

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
        let (controller, cluster_id): (Arc<dyn ControllerClient>, String) = if config.is_cluster() {
            let node = cluster_controller(&config).await?;
            (node.controller, node.cluster_id)
        } else {
            crate::state::local_controller(&config).map_err(BrokerError::Open)?
        };
        BrokerState::assemble(
            config, advertised, logs, tier, clock, controller, cluster_id,
        )
        .await
        .map_err(BrokerError::Open)
    }
}

/// How long a new observer keeps asking the configured controllers to take it.
const JOIN_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// A node's part in the cluster's control plane.
pub(crate) struct ClusterNode {
    pub(crate) controller: Arc<ClusterController>,
    pub(crate) cluster_id: String,
    /// Where the control plane listens.
    pub(crate) bound: std::net::SocketAddr,
}

/// A node of a cluster: its identity (`meta.properties` formatted for `cluster.id`),
/// its quorum node serving the control plane on the CONTROLLER listener, and the
/// controller that runs admin calls where the quorum's leader is. A voter of a static
/// quorum bootstraps it; a node that is not a voter (broker-only, or a controller of a
/// dynamic quorum not yet promoted) joins as an observer and receives the log.
pub(crate) async fn cluster_controller(config: &BrokerConfig) -> Result<ClusterNode, BrokerError> {
    let dir = crate::state::metadata_dir(config);
    if config.cluster_id.is_none() && !dir.join("meta.properties").exists() {
        return Err(BrokerError::Join(format!(
            "{} is not formatted and cluster.id is not set: every node of a cluster needs \
             the same cluster id (run `strata format --config <file> --cluster-id <id>`, or \
             set cluster.id)",
            config.log_dirs.display()
        )));
    }
    let identity = identity(config)?;
    let addr = match config.controller_listen_addr() {
        Some(Ok(a)) => a,
        Some(Err(e)) => return Err(BrokerError::Listener(e)),
        None => return Err(BrokerError::Listener("no CONTROLLER listener".into())),
    };
    let (incoming, bound) = strata_rpc::bind(addr).map_err(|source| BrokerError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let node_id = config.node_id as u64;
    let settings = QuorumSettings::new(node_id, &identity.cluster_id);
    let quorum = Quorum::open(&dir.join("quorum"), settings).await?;
    let session = std::time::Duration::from_millis(config.broker_session_timeout_ms as u64);
    let controller = ClusterController::new(
        quorum.clone(),
        config.controller_settings(),
        session,
        config.quorum_contacts(),
    );
    controller.start_session_monitor();
    let (_, is_controller) = config.roles();
    if let (Some(voters), true) = (config.quorum_voters(), is_controller) {
        quorum.bootstrap(&voters).await?;
    }
    quorum.serve(incoming, Some(ControllerService::new(controller.clone())));
    if !quorum.voters().contains(&node_id) {
        let reachable = if bound.ip().is_unspecified() {
            std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), bound.port())
        } else {
            bound
        };
        join(&controller, reachable.to_string(), quorum.has_membership()).await?;
    }
    tracing::info!(
        controller_listener = %bound,
        voters = ?quorum.voters(),
        cluster_id = %identity.cluster_id,
        "metadata quorum node started"
    );
    Ok(ClusterNode {
        controller,
        cluster_id: identity.cluster_id,
        bound,
    })
}

/// The node's `meta.properties`, written for `cluster.id` on a first start.
fn identity(config: &BrokerConfig) -> Result<strata_metadata::MetaProperties, BrokerError> {
    let dir = crate::state::metadata_dir(config);
    off_worker(|| {
        strata_metadata::load_or_format(&dir, config.node_id, config.cluster_id.as_deref())
    })
    .map_err(|e| BrokerError::Open(AdminError::Metadata(e)))
}

/// `strata format` (Kafka's `kafka-storage.sh format`): writes the node's identity for
/// `config`'s `cluster.id` before its first start; with `standalone`, also makes this
/// controller the only voter of a new dynamic quorum (`--standalone`), which the other
/// controllers then join as observers and are promoted from. Answers the cluster id.
pub async fn format(config: &BrokerConfig, standalone: bool) -> Result<String, BrokerError> {
    let identity = identity(config)?;
    if !standalone {
        return Ok(identity.cluster_id);
    }
    if !config.roles().1 {
        return Err(BrokerError::Join(
            "--standalone makes this node the first voter: process.roles must include controller"
                .into(),
        ));
    }
    let addr = match config.controller_listen_addr() {
        Some(Ok(a)) => a,
        Some(Err(e)) => return Err(BrokerError::Listener(e)),
        None => return Err(BrokerError::Listener("no CONTROLLER listener".into())),
    };
    let node_id = config.node_id as u64;
    let settings = QuorumSettings::new(node_id, &identity.cluster_id);
    let dir = crate::state::metadata_dir(config).join("quorum");
    let quorum = Quorum::open(&dir, settings).await?;
    let voters = std::collections::BTreeMap::from([(node_id, addr.to_string())]);
    let done = quorum.bootstrap(&voters).await;
    quorum.shutdown().await;
    done?;
    Ok(identity.cluster_id)
}

/// Joins as an observer: a node that followed the log before re-announces itself in
/// the background (its log is here; the leader may be down right now); a new one waits
/// until a controller has taken it.
async fn join(
    controller: &Arc<ClusterController>,
    address: String,
    known: bool,
) -> Result<(), BrokerError> {
    if known {
        let c = controller.clone();
        tokio::spawn(async move {
            if let Err(e) = c.join_as_observer(&address, JOIN_WAIT).await {
                tracing::warn!(error = %e, "could not re-announce this observer to the quorum");
            }
        });
        return Ok(());
    }
    tracing::info!(%address, "joining the metadata quorum as an observer");
    controller
        .join_as_observer(&address, JOIN_WAIT)
        .await
        .map_err(|e| {
            BrokerError::Join(format!(
                "no controller took this node as an observer within {JOIN_WAIT:?} \
                 (are the controllers of controller.quorum.voters / \
                 controller.quorum.bootstrap.servers up?): {e}"
            ))
        })
}
