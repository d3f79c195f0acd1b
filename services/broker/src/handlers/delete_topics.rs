//! DeleteTopics, by name or (v6+) by topic id.

use futures::StreamExt;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, topic_name};
use crate::context::AdminOps;
use crate::dispatch::RequestContext;
use crate::errors::admin_error;

pub async fn handle(
    state: &impl AdminOps,
    ctx: &RequestContext,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let image = state.image();
    let v = ctx.api_version;
    // (name if known, id if given)
    let targets: Vec<(Option<String>, uuid::Uuid)> = if ctx.api_version >= 6 {
        req.topics
            .iter()
            .map(|t| match &t.name {
                Some(n) => (Some(n.to_string()), t.topic_id),
                None => (
                    image
                        .topic_by_id(&t.topic_id.into())
                        .map(|x| x.name.clone()),
                    t.topic_id,
                ),
            })
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n.to_string()), uuid::Uuid::nil()))
            .collect()
    };
    let responses = futures::stream::iter(targets)
        .then(|(name, id)| async move {
            let result = DeletableTopicResult::default()
                .with_name(name.clone().map(topic_name))
                .with_topic_id(id);
            let Some(name) = name else {
                return result.with_error_code(ResponseError::UnknownTopicId.code());
            };
            if !state.admin_settings().delete_topic_enable {
                return result.with_error_code(ResponseError::TopicDeletionDisabled.code());
            }
            match state.delete_topic(&name).await {
                // topic_id exists from v6 on, error_message from v5.
                Ok(real_id) if v >= 6 => result.with_topic_id(real_id.uuid()),
                Ok(_) => result,
                Err(e) => {
                    let (code, msg) = admin_error(&e);
                    result
                        .with_error_code(code)
                        .with_error_message((v >= 5).then(|| str_bytes(msg)))
                }
            }
        })
        .collect::<Vec<_>>()
        .await;
    DeleteTopicsResponse::default().with_responses(responses)
}
