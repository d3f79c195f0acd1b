//! AddRaftVoter and RemoveRaftVoter (KIP-853): promote an observer of the metadata
//! quorum to voter, or demote a voter, one change at a time. Kafka serves them on
//! controllers; Strata's brokers forward them to the active controller like every
//! other admin request.

use kafka_protocol::messages::{
    AddRaftVoterRequest, AddRaftVoterResponse, RemoveRaftVoterRequest, RemoveRaftVoterResponse,
};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::context::AdminOps;
use crate::dispatch::RequestContext;
use crate::errors::admin_error;

pub async fn add(
    state: &impl AdminOps,
    _ctx: &RequestContext,
    req: AddRaftVoterRequest,
) -> AddRaftVoterResponse {
    let (code, message) = change(state, req.cluster_id.as_deref(), req.voter_id, true).await;
    AddRaftVoterResponse::default()
        .with_error_code(code)
        .with_error_message(message.map(str_bytes))
}

pub async fn remove(
    state: &impl AdminOps,
    _ctx: &RequestContext,
    req: RemoveRaftVoterRequest,
) -> RemoveRaftVoterResponse {
    let (code, message) = change(state, req.cluster_id.as_deref(), req.voter_id, false).await;
    RemoveRaftVoterResponse::default()
        .with_error_code(code)
        .with_error_message(message.map(str_bytes))
}

async fn change(
    state: &impl AdminOps,
    cluster_id: Option<&str>,
    voter_id: i32,
    add: bool,
) -> (i16, Option<String>) {
    if let Some(id) = cluster_id.filter(|id| !id.is_empty() && *id != state.cluster_id()) {
        return (
            ResponseError::InconsistentClusterId.code(),
            Some(format!(
                "the request is for cluster {id}, this is cluster {}",
                state.cluster_id()
            )),
        );
    }
    let Ok(id) = u64::try_from(voter_id) else {
        return (
            ResponseError::InvalidRequest.code(),
            Some(format!("voter id {voter_id} is negative")),
        );
    };
    match state.change_voter(id, add).await {
        Ok(()) => (0, None),
        Err(e) => {
            let (code, m) = admin_error(&e);
            (code, Some(m))
        }
    }
}
