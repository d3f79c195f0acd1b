//! DeleteGroups: empty groups and their committed offsets.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, GroupId};
use strata_groups::{Reply, Request};

use super::str_bytes;
use crate::context::GroupAccess;
use crate::dispatch::RequestContext;
use crate::errors;

pub async fn handle(
    state: &impl GroupAccess,
    _ctx: &RequestContext,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let request = Request::DeleteGroups {
        group_ids: req.groups_names.iter().map(|g| g.to_string()).collect(),
    };
    let results = match state.groups().call(request).await {
        Ok(Reply::DeleteGroups(list)) => list
            .into_iter()
            .map(|(g, e)| {
                DeletableGroupResult::default()
                    .with_group_id(GroupId(str_bytes(g)))
                    .with_error_code(errors::group_error_code(e.as_ref()))
            })
            .collect(),
        _ => req
            .groups_names
            .iter()
            .map(|g| {
                DeletableGroupResult::default()
                    .with_group_id(g.clone())
                    .with_error_code(errors::coordinator_unavailable())
            })
            .collect(),
    };
    DeleteGroupsResponse::default().with_results(results)
}
