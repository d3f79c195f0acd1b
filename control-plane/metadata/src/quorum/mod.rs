//! The metadata quorum: the controllers' Raft log (openraft over `strata-rpc`), whose
//! state machine is the metadata image.
//!
//! Each node keeps its Raft log, vote and newest snapshot in one sled database under
//! its metadata directory. A write is answered only once a majority of voters has it
//! and it is applied here; a node without a majority cannot commit and says so
//! instead of waiting forever.

// openraft's storage traits return its own `StorageError` (224 bytes); the helpers
// beside them return it too rather than boxing and unboxing at every call.
#![allow(clippy::result_large_err)]

mod controller_log;
mod forward;
mod log_store;
mod membership;
mod network;
mod service;
mod sessions;
mod state_machine;
mod types;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Config, Raft, ServerState, SnapshotPolicy};
use strata_rpc::{RpcSettings, TcpIncoming};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use controller_log::QuorumLog;
pub use forward::{ClusterController, ControllerService};
pub use log_store::LogStore;
pub use membership::{QuorumDescription, QuorumReplica};
pub use network::Network;
pub use service::QuorumService;
pub use state_machine::StateMachine;
pub use types::{Applied, Command, Entry, NodeId, TypeConfig};

use crate::image::MetadataImage;
use crate::records::MetadataRecord;

/// How one quorum node runs (Kafka's `controller.quorum.*` role).
#[derive(Debug, Clone)]
pub struct QuorumSettings {
    /// This node's `node.id`.
    pub node_id: NodeId,
    /// The cluster this node belongs to; messages of other clusters are refused.
    pub cluster_id: String,
    /// Leader heartbeats (and the deadline of each AppendEntries).
    pub heartbeat: Duration,
    /// A follower that hears no leader for a random time in this range stands for
    /// election (Kafka's `controller.quorum.election.timeout.ms` is 1000); the upper end
    /// is also the leader lease during which followers refuse other candidates.
    pub election_timeout: (Duration, Duration),
    /// A snapshot after this many entries since the last one.
    pub snapshot_every: u64,
    /// Entries kept in the log behind the newest snapshot, so a follower a little
    /// behind catches up from the log rather than from a whole snapshot.
    pub logs_kept_after_snapshot: u64,
    /// How long a write may wait for a majority before it is answered as timed out.
    pub write_timeout: Duration,
    pub rpc: RpcSettings,
}

impl QuorumSettings {
    /// Defaults for `node_id` in `cluster_id`.
    pub fn new(node_id: NodeId, cluster_id: &str) -> Self {
        Self {
            node_id,
            cluster_id: cluster_id.to_string(),
            // openraft's leader lease is the election timeout's maximum: a follower
            // refuses votes that long after the leader's last heartbeat, so a failover
            // takes about one lease plus one timeout. 500-1000 ms keeps it near 1.5 s
            // (Kafka's controller.quorum.election.timeout.ms is 1000, its fetch
            // timeout 2000).
            heartbeat: Duration::from_millis(150),
            election_timeout: (Duration::from_millis(500), Duration::from_millis(1000)),
            snapshot_every: 1000,
            logs_kept_after_snapshot: 100,
            write_timeout: Duration::from_secs(5),
            rpc: RpcSettings::default(),
        }
    }

    fn raft_config(&self) -> Result<Config, QuorumError> {
        let ms = |d: Duration| d.as_millis() as u64;
        let config = Config {
            cluster_name: self.cluster_id.clone(),
            heartbeat_interval: ms(self.heartbeat),
            election_timeout_min: ms(self.election_timeout.0),
            election_timeout_max: ms(self.election_timeout.1),
            install_snapshot_timeout: ms(self.rpc.request_timeout),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every.max(1)),
            max_in_snapshot_log_to_keep: self.logs_kept_after_snapshot,
            snapshot_max_chunk_size: (self.rpc.max_message_bytes as u64 / 2).max(1 << 16),
            ..Config::default()
        };
        config
            .validate()
            .map_err(|e| QuorumError::Config(e.to_string()))
    }
}

/// Why a quorum call failed.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("invalid quorum settings: {0}")]
    Config(String),
    #[error("quorum store: {0}")]
    Store(String),
    /// This node is not the leader; `leader` is who is, when known (id, address).
    #[error("not the active controller (leader: {leader:?})")]
    NotLeader { leader: Option<(NodeId, String)> },
    /// No majority answered in time: the write may still commit later, or never.
    #[error("no quorum within {0:?}")]
    Timeout(Duration),
    /// A membership change is already under way, or would leave no voter.
    #[error("membership change refused: {0}")]
    Membership(String),
    /// The node to promote is already a voter.
    #[error("{0}")]
    DuplicateVoter(String),
    /// The node to demote is not a voter, or the node to promote is not an observer.
    #[error("{0}")]
    VoterNotFound(String),
    /// Forwarding to the active controller failed on the way (not a refusal).
    #[error("forwarding to the active controller: {0}")]
    Forward(String),
    /// The Raft node stopped (shut down, or a storage failure it cannot go on after).
    #[error("quorum stopped: {0}")]
    Stopped(String),
}

/// One node of the metadata quorum, serving its peers on a control-plane listener.
pub struct Quorum {
    raft: Raft<TypeConfig>,
    state: StateMachine,
    settings: QuorumSettings,
    server: parking_lot::Mutex<Option<(tokio::sync::oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl Quorum {
    /// Opens (or creates) the node's store in `dir` and starts Raft, without serving
    /// peers yet (see [`Quorum::serve`]). A node that was a voter before rejoins as
    /// one; a new node waits for [`Quorum::bootstrap`] or for a leader to add it.
    pub async fn open(dir: &Path, settings: QuorumSettings) -> Result<Arc<Quorum>, QuorumError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(16 << 20)
            .flush_every_ms(None)
            .open()
            .map_err(|e| QuorumError::Store(format!("{}: {e}", dir.display())))?;
        let logs = LogStore::open(&db).map_err(|e| QuorumError::Store(e.to_string()))?;
        let state = StateMachine::open(&db).map_err(|e| QuorumError::Store(e.to_string()))?;
        let network = Network::new(&settings.cluster_id, settings.rpc.clone());
        let config = Arc::new(settings.raft_config()?);
        let raft = Raft::new(settings.node_id, config, network, logs, state.clone())
            .await
            .map_err(|e| QuorumError::Stopped(e.to_string()))?;
        Ok(Arc::new(Quorum {
            raft,
            state,
            settings,
            server: parking_lot::Mutex::new(None),
        }))
    }

    /// [`Quorum::open`], then [`Quorum::serve`] on `incoming` with the Raft RPCs only.
    pub async fn start(
        dir: &Path,
        settings: QuorumSettings,
        incoming: TcpIncoming,
    ) -> Result<Arc<Quorum>, QuorumError> {
        let q = Quorum::open(dir, settings).await?;
        q.serve(incoming, None);
        Ok(q)
    }

    /// Serves the control plane on `incoming`: the Raft RPCs, and the forwarded admin
    /// requests when `controller` is given.
    pub fn serve(&self, incoming: TcpIncoming, controller: Option<ControllerService>) {
        let rpc = &self.settings.rpc;
        let service = QuorumService::new(
            self.raft.clone(),
            &self.settings.cluster_id,
            rpc.max_message_bytes,
        );
        let router = strata_rpc::server(rpc)
            .add_service(strata_rpc::quorum_server(service, rpc))
            .add_optional_service(controller.map(|c| strata_rpc::controller_server(c, rpc)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
            {
                tracing::error!(error = %e, "control-plane server stopped");
            }
        });
        if let Some((old, _)) = self.server.lock().replace((stop, task)) {
            let _ = old.send(());
        }
    }

    /// This node's settings.
    pub fn settings(&self) -> &QuorumSettings {
        &self.settings
    }

    /// Makes `voters` (id → control-plane address) the first membership, once per
    /// cluster; on a node that already has a membership it does nothing. Called before
    /// [`Quorum::serve`], so no peer's vote can arrive between the check and the
    /// initialisation.
    pub async fn bootstrap(&self, voters: &BTreeMap<NodeId, String>) -> Result<(), QuorumError> {
        {
            let m = self.raft.metrics().borrow().clone();
            if m.last_log_index.is_some() || m.vote.leader_id().term > 0 {
                return Ok(());
            }
        }
        let nodes: BTreeMap<NodeId, BasicNode> = voters
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr)))
            .collect();
        match self.raft.initialize(nodes).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(QuorumError::Membership(e.to_string())),
        }
    }

    /// Commits `records` as one entry: answered once a majority has it and it is
    /// applied to this node's image. `Ok(Some(why))` when the image refused the batch
    /// (nothing of it applied, on any node).
    pub async fn write(&self, records: Vec<MetadataRecord>) -> Result<Option<String>, QuorumError> {
        let wait = self.settings.write_timeout;
        match tokio::time::timeout(wait, self.raft.client_write(Command { records })).await {
            Err(_) => Err(QuorumError::Timeout(wait)),
            Ok(Ok(r)) => Ok(r.data.refused),
            Ok(Err(e)) => Err(self.write_error(e)),
        }
    }

    fn write_error(
        &self,
        e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
    ) -> QuorumError {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => QuorumError::NotLeader {
                leader: f.leader_id.zip(f.leader_node.map(|n| n.addr)),
            },
            RaftError::APIError(ClientWriteError::ChangeMembershipError(m)) => {
                QuorumError::Membership(m.to_string())
            }
            RaftError::Fatal(f) => QuorumError::Stopped(f.to_string()),
        }
    }

    /// Waits until this node, as leader, has applied everything committed before the
    /// call (a read of [`Quorum::image`] after it sees every acknowledged write).
    pub async fn linearize(&self) -> Result<Arc<MetadataImage>, QuorumError> {
        let wait = self.settings.write_timeout;
        match tokio::time::timeout(wait, self.raft.ensure_linearizable()).await {
            Err(_) => Err(QuorumError::Timeout(wait)),
            Ok(Ok(_)) => Ok(self.state.image()),
            Ok(Err(RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(
                f,
            )))) => Err(QuorumError::NotLeader {
                leader: f.leader_id.zip(f.leader_node.map(|n| n.addr)),
            }),
            Ok(Err(RaftError::APIError(openraft::error::CheckIsLeaderError::QuorumNotEnough(
                q,
            )))) => Err(QuorumError::Stopped(q.to_string())),
            Ok(Err(RaftError::Fatal(f))) => Err(QuorumError::Stopped(f.to_string())),
        }
    }

    /// The voters of the current membership.
    pub fn voters(&self) -> std::collections::BTreeSet<NodeId> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// The image as of the last entry applied here.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.state.image()
    }

    /// Every image as entries are applied here.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.state.subscribe()
    }

    /// The current leader (the active controller), if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// Whether this node has a membership (it was bootstrapped, or a leader added it).
    pub fn has_membership(&self) -> bool {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .nodes()
            .next()
            .is_some()
    }

    /// Whether this node is the leader.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// openraft's view of this node (term, leader, per-voter replication on the leader).
    pub fn metrics(&self) -> openraft::RaftMetrics<NodeId, BasicNode> {
        self.raft.metrics().borrow().clone()
    }

    /// Index of the last entry applied here.
    pub fn applied_index(&self) -> Option<u64> {
        self.state.last_applied().map(|l| l.index)
    }

    /// Stops Raft, then the server; the store is closed when the last handle drops.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "quorum shutdown");
        }
        let server = self.server.lock().take();
        if let Some((stop, task)) = server {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// The address of voter (or learner) `id` in the current membership.
    pub fn address_of(&self, id: NodeId) -> Option<String> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.addr.clone())
    }

    /// Waits until this node has applied entry `index` (a change made through another
    /// node is in this node's image once it returns).
    pub async fn wait_applied(&self, index: u64) -> Result<(), QuorumError> {
        let wait = self.settings.write_timeout;
        self.raft
            .wait(Some(wait))
            .applied_index_at_least(Some(index), "forwarded change applied here")
            .await
            .map(|_| ())
            .map_err(|_| QuorumError::Timeout(wait))
    }
}
