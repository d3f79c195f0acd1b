//! JoinGroup: hands the request to the group coordinator and waits for the rebalance.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use strata_groups::{Reply, Request};

use super::str_bytes;
use crate::context::GroupAccess;
use crate::dispatch::RequestContext;
use crate::errors;

pub async fn handle(
    state: &impl GroupAccess,
    ctx: &RequestContext,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let v = ctx.api_version;
    let request = Request::JoinGroup {
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if v >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        require_known_member_id: v >= 4,
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host.clone(),
        reason: req.reason.as_ref().map(|s| s.to_string()),
    };
    let resp = JoinGroupResponse::default()
        .with_generation_id(-1)
        .with_member_id(req.member_id.clone());
    match state.groups().call(request).await {
        Ok(Reply::JoinGroup(r)) => {
            let members = r
                .members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(
                            m.group_instance_id.filter(|_| v >= 5).map(str_bytes),
                        )
                        .with_metadata(m.metadata)
                })
                .collect();
            let mut out = resp
                .with_error_code(errors::group_error_code(r.error.as_ref()))
                .with_generation_id(r.generation_id)
                .with_protocol_name(r.protocol_name.map(str_bytes))
                .with_leader(str_bytes(r.leader))
                .with_member_id(str_bytes(r.member_id))
                .with_members(members);
            if v >= 7 {
                out = out.with_protocol_type(r.protocol_type.map(str_bytes));
            }
            if v >= 9 {
                out = out.with_skip_assignment(r.skip_assignment);
            }
            if v < 7 && out.protocol_name.is_none() {
                // Before v7 the protocol name is not nullable.
                out = out.with_protocol_name(Some(str_bytes("")));
            }
            out
        }
        _ => resp.with_error_code(errors::coordinator_unavailable()),
    }
}
