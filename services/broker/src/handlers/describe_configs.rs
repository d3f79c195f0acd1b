//! DescribeConfigs for topics (every topic config with its source) and the broker.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::ResponseError;

use super::create_topics::{SOURCE_DEFAULT, SOURCE_DYNAMIC_TOPIC, SOURCE_STATIC_BROKER};
use super::str_bytes;
use crate::context::AdminOps;
use crate::dispatch::RequestContext;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

pub async fn handle(
    state: &impl AdminOps,
    ctx: &RequestContext,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let image = state.image();
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let wanted = |k: &str| {
                r.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|x| x.as_str() == k))
            };
            let entries: Vec<(String, String, i8, bool)> = match r.resource_type {
                RESOURCE_TOPIC => {
                    let Some(topic) = image.topic(r.resource_name.as_str()) else {
                        return result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(str_bytes(format!(
                                "Topic {} does not exist",
                                r.resource_name.as_str()
                            ))));
                    };
                    let effective = state.log_config_for(topic).describe();
                    effective
                        .into_iter()
                        .map(|(k, v)| {
                            let (value, source) = match topic.configs.get(k) {
                                Some(o) => (o.clone(), SOURCE_DYNAMIC_TOPIC),
                                None => (v, SOURCE_DEFAULT),
                            };
                            (k.to_string(), value, source, false)
                        })
                        .collect()
                }
                RESOURCE_BROKER => {
                    let name = r.resource_name.as_str();
                    if !name.is_empty() && name != state.node_id().to_string() {
                        return result
                            .with_error_code(ResponseError::InvalidRequest.code())
                            .with_error_message(Some(str_bytes(format!(
                                "unexpected broker id, expected {} but received {name}",
                                state.node_id()
                            ))));
                    }
                    state
                        .broker_configs()
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v, SOURCE_STATIC_BROKER, true))
                        .collect()
                }
                other => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(format!(
                            "unsupported resource type {other}"
                        ))));
                }
            };
            let configs = entries
                .into_iter()
                .filter(|(k, ..)| wanted(k))
                .map(|(k, v, source, read_only)| {
                    let mut c = DescribeConfigsResourceResult::default()
                        .with_name(str_bytes(k.clone()))
                        .with_value(Some(str_bytes(v)))
                        .with_read_only(read_only)
                        .with_config_source(source);
                    if ctx.api_version >= 3 {
                        c = c.with_config_type(crate::config_types::type_code(&k));
                    }
                    if ctx.api_version >= 3 && req.include_documentation {
                        c = c.with_documentation(crate::config_types::doc(&k).map(str_bytes));
                    }
                    c
                })
                .collect();
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
