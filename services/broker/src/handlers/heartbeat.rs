//! Heartbeat: keeps a member's session alive and tells it when to rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use strata_groups::{Reply, Request};

use crate::context::GroupAccess;
use crate::dispatch::RequestContext;
use crate::errors;

pub async fn handle(
    state: &impl GroupAccess,
    _ctx: &RequestContext,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    let request = Request::Heartbeat {
        group_id: req.group_id.to_string(),
        generation_id: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
    };
    let code = match state.groups().call(request).await {
        Ok(Reply::Heartbeat(e)) => errors::group_error_code(e.as_ref()),
        _ => errors::coordinator_unavailable(),
    };
    HeartbeatResponse::default().with_error_code(code)
}
