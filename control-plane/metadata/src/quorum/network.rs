//! openraft's network over the control plane's gRPC channels (`strata-rpc`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use strata_rpc::quorum::quorum_client::QuorumClient;
use strata_rpc::quorum::RaftMessage;
use strata_rpc::{Code, RpcSettings};
use tonic::transport::Channel;

use super::types::{decode_bounded, encode, NodeId, TypeConfig};

type Client = QuorumClient<Channel>;

/// Channels to the other voters, one per peer address, reused across openraft's calls
/// (it asks for a client on every vote and heartbeat round).
#[derive(Clone)]
pub struct Network {
    cluster_id: Arc<str>,
    settings: RpcSettings,
    clients: Arc<Mutex<HashMap<(NodeId, String), Client>>>,
}

impl Network {
    pub fn new(cluster_id: &str, settings: RpcSettings) -> Self {
        Self {
            cluster_id: cluster_id.into(),
            settings,
            clients: Arc::default(),
        }
    }
}

/// One peer as openraft calls it.
pub struct Peer {
    target: NodeId,
    client: Result<Client, String>,
    cluster_id: Arc<str>,
    limit: u64,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        let key = (target, node.addr.clone());
        let client = {
            let mut clients = self.clients.lock();
            match clients.get(&key) {
                Some(c) => Ok(c.clone()),
                None => match strata_rpc::channel(&node.addr, &self.settings) {
                    Ok(ch) => {
                        let c = strata_rpc::quorum_client(ch, &self.settings);
                        clients.insert(key, c.clone());
                        Ok(c)
                    }
                    Err(e) => Err(e.to_string()),
                },
            }
        };
        Peer {
            target,
            client,
            cluster_id: self.cluster_id.clone(),
            limit: self.settings.max_message_bytes as u64,
        }
    }
}

#[derive(Clone, Copy)]
enum Rpc {
    Append,
    Vote,
    Snapshot,
}

fn network<E: std::error::Error>(msg: String) -> RPCError<NodeId, BasicNode, E> {
    RPCError::Network(NetworkError::from(AnyError::error(msg)))
}

impl Peer {
    /// Sends one openraft message and decodes the remote Raft's `Result`. A peer that
    /// cannot be reached is `Unreachable` (openraft backs off from it); anything else
    /// that goes wrong on the way is a network error, retried on the next round.
    async fn call<Req, Resp, E>(
        &mut self,
        rpc: Rpc,
        req: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(e) => return Err(RPCError::Unreachable(Unreachable::from(AnyError::error(e)))),
        };
        let payload = encode(req).map_err(|e| network(format!("encode: {e}")))?;
        let mut request = tonic::Request::new(RaftMessage {
            cluster_id: self.cluster_id.to_string(),
            payload: payload.into(),
        });
        request.set_timeout(ttl);
        let mut client = client;
        let answer = match rpc {
            Rpc::Append => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::Snapshot => client.install_snapshot(request).await,
        };
        let msg = match answer {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == Code::Unavailable => {
                return Err(RPCError::Unreachable(Unreachable::from(AnyError::error(
                    format!("node {}: {}", self.target, s.message()),
                ))))
            }
            Err(s) => return Err(network(format!("node {}: {s}", self.target))),
        };
        let result: Result<Resp, E> = decode_bounded(&msg.payload, self.limit)
            .map_err(|e| network(format!("node {}: undecodable answer: {e}", self.target)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Append, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(Rpc::Snapshot, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Vote, &rpc, option.hard_ttl()).await
    }
}
