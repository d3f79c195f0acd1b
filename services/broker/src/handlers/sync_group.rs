//! SyncGroup: the leader's assignments in, each member's assignment out.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use strata_groups::{Reply, Request};

use super::str_bytes;
use crate::context::GroupAccess;
use crate::dispatch::RequestContext;
use crate::errors;

pub async fn handle(
    state: &impl GroupAccess,
    ctx: &RequestContext,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let request = Request::SyncGroup {
        group_id: req.group_id.to_string(),
        generation_id: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        protocol_type: req.protocol_type.as_ref().map(|s| s.to_string()),
        protocol_name: req.protocol_name.as_ref().map(|s| s.to_string()),
        assignments: req
            .assignments
            .iter()
            .map(|a| (a.member_id.to_string(), a.assignment.clone()))
            .collect(),
    };
    match state.groups().call(request).await {
        Ok(Reply::SyncGroup(r)) => {
            let mut out = SyncGroupResponse::default()
                .with_error_code(errors::group_error_code(r.error.as_ref()))
                .with_assignment(r.assignment);
            if ctx.api_version >= 5 {
                out = out
                    .with_protocol_type(r.protocol_type.map(str_bytes))
                    .with_protocol_name(r.protocol_name.map(str_bytes));
            }
            out
        }
        _ => SyncGroupResponse::default().with_error_code(errors::coordinator_unavailable()),
    }
}
