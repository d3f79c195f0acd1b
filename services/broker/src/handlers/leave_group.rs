//! LeaveGroup: one member (v0-2) or a batch of members (v3+) leave.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use strata_groups::{Reply, Request};

use super::str_bytes;
use crate::context::GroupAccess;
use crate::dispatch::RequestContext;
use crate::errors;

pub async fn handle(
    state: &impl GroupAccess,
    ctx: &RequestContext,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let batched = ctx.api_version >= 3;
    let members = if batched {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                    m.reason.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None, None)]
    };
    let request = Request::LeaveGroup {
        group_id: req.group_id.to_string(),
        members,
    };
    match state.groups().call(request).await {
        Ok(Reply::LeaveGroup { error, members }) => {
            if !batched {
                // v0-2 report the single member's error at the top level.
                let code = error
                    .as_ref()
                    .map(|e| errors::group_error_code(Some(e)))
                    .or_else(|| {
                        members
                            .first()
                            .map(|(_, _, e)| errors::group_error_code(e.as_ref()))
                    })
                    .unwrap_or(0);
                return LeaveGroupResponse::default().with_error_code(code);
            }
            LeaveGroupResponse::default()
                .with_error_code(errors::group_error_code(error.as_ref()))
                .with_members(
                    members
                        .into_iter()
                        .map(|(id, instance, e)| {
                            MemberResponse::default()
                                .with_member_id(str_bytes(id))
                                .with_group_instance_id(instance.map(str_bytes))
                                .with_error_code(errors::group_error_code(e.as_ref()))
                        })
                        .collect(),
                )
        }
        _ => LeaveGroupResponse::default().with_error_code(errors::coordinator_unavailable()),
    }
}
