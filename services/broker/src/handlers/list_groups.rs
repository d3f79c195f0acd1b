//! ListGroups, with the state (v4+) and type (v5+) filters.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use strata_groups::{Reply, Request};

use super::str_bytes;
use crate::context::GroupAccess;
use crate::dispatch::RequestContext;
use crate::errors;

pub async fn handle(
    state: &impl GroupAccess,
    ctx: &RequestContext,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let v = ctx.api_version;
    let request = Request::ListGroups {
        states_filter: req.states_filter.iter().map(|s| s.to_string()).collect(),
        types_filter: req.types_filter.iter().map(|s| s.to_string()).collect(),
    };
    match state.groups().call(request).await {
        Ok(Reply::ListGroups(groups)) => ListGroupsResponse::default().with_groups(
            groups
                .into_iter()
                .map(|g| {
                    let mut l = ListedGroup::default()
                        .with_group_id(GroupId(str_bytes(g.group_id)))
                        .with_protocol_type(str_bytes(g.protocol_type));
                    if v >= 4 {
                        l = l.with_group_state(str_bytes(g.state.to_string()));
                    }
                    if v >= 5 {
                        l = l.with_group_type(str_bytes("classic"));
                    }
                    l
                })
                .collect(),
        ),
        _ => ListGroupsResponse::default().with_error_code(errors::coordinator_unavailable()),
    }
}
