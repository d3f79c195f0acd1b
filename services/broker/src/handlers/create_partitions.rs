//! CreatePartitions: grow a topic's partition count.

use futures::StreamExt;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::str_bytes;
use crate::context::AdminOps;
use crate::dispatch::RequestContext;
use crate::errors::admin_error;

pub async fn handle(
    state: &impl AdminOps,
    _ctx: &RequestContext,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let results = futures::stream::iter(req.topics)
        .then(|t| async move {
            let name = t.name.to_string();
            let current = state
                .image()
                .topic(&name)
                .map(|x| x.partitions.len() as i32)
                .unwrap_or(0);
            let assignments = t
                .assignments
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, a)| {
                    (
                        current + i as i32,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect();
            let result = CreatePartitionsTopicResult::default().with_name(t.name);
            match state
                .create_partitions(&name, t.count, assignments, req.validate_only)
                .await
            {
                Ok(()) => result,
                Err(e) => {
                    let (code, msg) = admin_error(&e);
                    result
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(msg)))
                }
            }
        })
        .collect::<Vec<_>>()
        .await;
    CreatePartitionsResponse::default().with_results(results)
}
