//! OffsetDelete: removes committed offsets of partitions a group no longer consumes.

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};
use strata_groups::{Reply, Request};

use super::topic_name;
use crate::context::GroupAccess;
use crate::dispatch::RequestContext;
use crate::errors;

pub async fn handle(
    state: &impl GroupAccess,
    _ctx: &RequestContext,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let partitions: Vec<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index))
        })
        .collect();
    let request = Request::OffsetDelete {
        group_id: req.group_id.to_string(),
        partitions,
    };
    match state.groups().call(request).await {
        Ok(Reply::OffsetDelete { error, partitions }) => {
            let mut topics: Vec<OffsetDeleteResponseTopic> = Vec::new();
            for ((t, p), e) in partitions {
                let part = OffsetDeleteResponsePartition::default()
                    .with_partition_index(p)
                    .with_error_code(errors::group_error_code(e.as_ref()));
                match topics.iter_mut().find(|x| x.name.as_str() == t) {
                    Some(x) => x.partitions.push(part),
                    None => topics.push(
                        OffsetDeleteResponseTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(vec![part]),
                    ),
                }
            }
            OffsetDeleteResponse::default()
                .with_error_code(errors::group_error_code(error.as_ref()))
                .with_topics(topics)
        }
        _ => OffsetDeleteResponse::default().with_error_code(errors::coordinator_unavailable()),
    }
}
