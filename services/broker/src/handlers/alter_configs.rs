//! AlterConfigs (legacy): replaces a topic's whole set of overrides.

use std::collections::BTreeMap;

use futures::StreamExt;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::ResponseError;

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::str_bytes;
use crate::context::AdminOps;
use crate::dispatch::RequestContext;
use crate::errors::admin_error;

pub async fn handle(
    state: &impl AdminOps,
    _ctx: &RequestContext,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let responses = futures::stream::iter(req.resources)
        .then(|r| async move {
            let resp = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match r.resource_type {
                RESOURCE_TOPIC => {
                    let set: BTreeMap<String, String> = r
                        .configs
                        .iter()
                        .filter_map(|c| {
                            c.value
                                .as_ref()
                                .map(|v| (c.name.to_string(), v.to_string()))
                        })
                        .collect();
                    match state
                        .alter_topic_configs(
                            r.resource_name.as_str(),
                            set,
                            Vec::new(),
                            true,
                            req.validate_only,
                        )
                        .await
                    {
                        Ok(()) => resp,
                        Err(e) => {
                            let (code, msg) = admin_error(&e);
                            resp.with_error_code(code)
                                .with_error_message(Some(str_bytes(msg)))
                        }
                    }
                }
                RESOURCE_BROKER => broker_unsupported(resp),
                other => resp
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!(
                        "unsupported resource type {other}"
                    )))),
            }
        })
        .collect::<Vec<_>>()
        .await;
    AlterConfigsResponse::default().with_responses(responses)
}

/// Dynamic broker configs are not supported yet: every broker setting is static.
pub fn broker_unsupported(resp: AlterConfigsResourceResponse) -> AlterConfigsResourceResponse {
    resp.with_error_code(ResponseError::InvalidRequest.code())
        .with_error_message(Some(str_bytes(
            "dynamic broker configs are not supported; set them in the config file",
        )))
}
