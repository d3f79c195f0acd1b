//! The quorum's gRPC service: hands each incoming Raft message to the local openraft
//! node and answers with its `Result`.

use openraft::Raft;
use serde::de::DeserializeOwned;
use serde::Serialize;
use strata_rpc::quorum::quorum_server::Quorum;
use strata_rpc::quorum::RaftMessage;
use strata_rpc::{Request, Response, Status};

use super::types::{decode_bounded, encode, TypeConfig};

/// Serves the Raft RPCs of one node.
pub struct QuorumService {
    raft: Raft<TypeConfig>,
    cluster_id: String,
    limit: u64,
}

impl QuorumService {
    pub fn new(raft: Raft<TypeConfig>, cluster_id: &str, limit: usize) -> Self {
        Self {
            raft,
            cluster_id: cluster_id.to_string(),
            limit: limit as u64,
        }
    }

    /// The openraft message of `req`, refused when it is for another cluster or
    /// does not decode (the peer's connection stays; nothing reaches Raft).
    fn open<T: DeserializeOwned>(&self, req: Request<RaftMessage>) -> Result<T, Status> {
        let msg = req.into_inner();
        if msg.cluster_id != self.cluster_id {
            return Err(Status::failed_precondition(format!(
                "this node is in cluster {}, the message is for cluster {}",
                self.cluster_id, msg.cluster_id
            )));
        }
        decode_bounded(&msg.payload, self.limit)
            .map_err(|e| Status::invalid_argument(format!("undecodable raft message: {e}")))
    }
}

fn answer<T: Serialize>(result: &T) -> Result<Response<RaftMessage>, Status> {
    let payload = encode(result).map_err(|e| Status::internal(format!("encode: {e}")))?;
    Ok(Response::new(RaftMessage {
        cluster_id: String::new(),
        payload: payload.into(),
    }))
}

#[tonic::async_trait]
impl Quorum for QuorumService {
    async fn append_entries(
        &self,
        req: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let rpc = self.open(req)?;
        answer(&self.raft.append_entries(rpc).await)
    }

    async fn vote(&self, req: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc = self.open(req)?;
        answer(&self.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        req: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let rpc = self.open(req)?;
        answer(&self.raft.install_snapshot(rpc).await)
    }
}
