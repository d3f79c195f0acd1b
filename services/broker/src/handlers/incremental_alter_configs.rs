//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on topic configs.

use std::collections::BTreeMap;

use futures::StreamExt;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::ResponseError;

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::str_bytes;
use crate::context::AdminOps;
use crate::dispatch::RequestContext;
use crate::errors::admin_error;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

pub async fn handle(
    state: &impl AdminOps,
    _ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let image = state.image();
    let image = &image;
    let responses = futures::stream::iter(req.resources)
        .then(|r| async move {
            let resp = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let fail = |code: ResponseError, msg: String| {
                resp.clone()
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(msg)))
            };
            match r.resource_type {
                RESOURCE_TOPIC => {}
                RESOURCE_BROKER => {
                    return fail(
                        ResponseError::InvalidRequest,
                        "dynamic broker configs are not supported; set them in the config file"
                            .into(),
                    )
                }
                other => {
                    return fail(
                        ResponseError::InvalidRequest,
                        format!("unsupported resource type {other}"),
                    )
                }
            }
            let name = r.resource_name.to_string();
            let Some(topic) = image.topic(&name) else {
                return fail(
                    ResponseError::UnknownTopicOrPartition,
                    format!("Topic {name} does not exist"),
                );
            };
            let effective: BTreeMap<&str, String> =
                state.log_config_for(topic).describe().into_iter().collect();
            let mut set = BTreeMap::new();
            let mut delete = Vec::new();
            for c in &r.configs {
                let key = c.name.to_string();
                let value = c.value.as_ref().map(|v| v.to_string());
                match c.config_operation {
                    OP_SET => match value {
                        Some(v) => {
                            set.insert(key, v);
                        }
                        None => {
                            return fail(
                                ResponseError::InvalidRequest,
                                format!("Null value not supported for : {key}"),
                            )
                        }
                    },
                    OP_DELETE => delete.push(key),
                    OP_APPEND | OP_SUBTRACT => {
                        if !crate::config_types::is_list(&key) {
                            return fail(
                                ResponseError::InvalidConfig,
                                format!("Config value append is not allowed for config key: {key}"),
                            );
                        }
                        let current = set
                            .get(&key)
                            .cloned()
                            .or_else(|| effective.get(key.as_str()).cloned())
                            .unwrap_or_default();
                        let mut items: Vec<String> = current
                            .split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect();
                        for item in value.unwrap_or_default().split(',').map(str::trim) {
                            if item.is_empty() {
                                continue;
                            }
                            if c.config_operation == OP_APPEND {
                                if !items.iter().any(|x| x == item) {
                                    items.push(item.to_string());
                                }
                            } else {
                                items.retain(|x| x != item);
                            }
                        }
                        set.insert(key, items.join(","));
                    }
                    other => {
                        return fail(
                            ResponseError::InvalidRequest,
                            format!("unknown config operation {other}"),
                        )
                    }
                }
            }
            match state
                .alter_topic_configs(&name, set, delete, false, req.validate_only)
                .await
            {
                Ok(()) => resp,
                Err(e) => {
                    let (code, msg) = admin_error(&e);
                    resp.with_error_code(code)
                        .with_error_message(Some(str_bytes(msg)))
                }
            }
        })
        .collect::<Vec<_>>()
        .await;
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
