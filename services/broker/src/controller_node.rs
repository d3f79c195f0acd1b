//! A controller-only node (`process.roles = controller`): a voter of the metadata
//! quorum and, while it leads, the active controller. It serves no Kafka clients:
//! brokers reach it over the control plane.

use std::sync::Arc;

use strata_metadata::quorum::ClusterController;
use strata_metadata::ControllerClient;
use tokio_util::sync::CancellationToken;

use crate::config::BrokerConfig;
use crate::server::BrokerError;

/// A running controller-only node.
pub struct ControllerNode {
    controller: Arc<ClusterController>,
    cluster_id: String,
    bound: std::net::SocketAddr,
}

impl ControllerNode {
    /// Opens the quorum store and joins (or bootstraps) the quorum.
    pub async fn start(config: BrokerConfig) -> Result<ControllerNode, BrokerError> {
        let node = crate::node::cluster_controller(&config).await?;
        Ok(ControllerNode {
            controller: node.controller,
            cluster_id: node.cluster_id,
            bound: node.bound,
        })
    }

    /// The control-plane address it listens on.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.bound
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// Runs until `shutdown` is cancelled, then stops the quorum node (another voter
    /// takes over as active controller once its election timeout passes).
    pub async fn run(self, shutdown: CancellationToken) {
        shutdown.cancelled().await;
        self.controller.shutdown().await;
    }
}
