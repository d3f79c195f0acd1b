//! CreateTopics, with per-topic configs and `validate_only`.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::ResponseError;
use strata_metadata::CreateTopicSpec;

use super::str_bytes;
use crate::context::AdminOps;
use crate::dispatch::RequestContext;
use crate::errors::{admin_error, remote_lookup_error};

/// Kafka's DescribeConfigs/CreateTopics config sources.
pub const SOURCE_DYNAMIC_TOPIC: i8 = 1;
pub const SOURCE_STATIC_BROKER: i8 = 4;
pub const SOURCE_DEFAULT: i8 = 5;

pub async fn handle(
    state: &impl AdminOps,
    ctx: &RequestContext,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut seen = std::collections::HashSet::new();
    let duplicates: std::collections::HashSet<String> = req
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.to_string()))
        .map(|t| t.name.to_string())
        .collect();
    let v = ctx.api_version;
    let mut results = Vec::with_capacity(req.topics.len());
    // Partitions asked for so far in this request (strata.max.partitions.per.request).
    let mut requested: i64 = 0;
    let per_request = i64::from(state.admin_settings().max_partitions_per_request);
    for t in req.topics {
        let name = t.name.to_string();
        let result = CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        if duplicates.contains(&name) {
            results.push(
                result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!(
                        "Create topics request from client contains multiple entries for the topic {name}"
                    )))),
            );
            continue;
        }
        let mut configs = BTreeMap::new();
        for c in &t.configs {
            if let Some(v) = &c.value {
                configs.insert(c.name.to_string(), v.to_string());
            }
        }
        let recover = configs
            .remove(RECOVER_FROM_REMOTE)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let mut num_partitions = t.num_partitions;
        let mut recovered = None;
        if recover {
            match state.find_in_remote_tier(&name).await {
                Ok((id, parts)) => {
                    if num_partitions == -1 {
                        num_partitions = parts.iter().map(|p| p.partition + 1).max().unwrap_or(1);
                    }
                    configs
                        .entry("remote.storage.enable".to_string())
                        .or_insert_with(|| "true".to_string());
                    recovered = Some((id, parts));
                }
                Err(e) => {
                    let (code, msg) = remote_lookup_error(&e);
                    results.push(
                        result
                            .with_error_code(code)
                            .with_error_message(Some(str_bytes(format!(
                                "{RECOVER_FROM_REMOTE}: {msg}"
                            )))),
                    );
                    continue;
                }
            }
        }
        let spec = CreateTopicSpec {
            name: name.clone(),
            num_partitions,
            replication_factor: t.replication_factor,
            assignments: t
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
            configs,
        };
        let wanted = match (spec.assignments.len(), spec.num_partitions) {
            (0, -1) => i64::from(state.admin_settings().num_partitions),
            (0, n) => i64::from(n.max(0)),
            (n, _) => n as i64,
        };
        requested += wanted;
        if requested > per_request {
            results.push(
                result
                    .with_error_code(ResponseError::InvalidPartitions.code())
                    .with_error_message(Some(str_bytes(format!(
                        "this request asks for {requested} partitions, more than strata.max.partitions.per.request ({per_request})"
                    )))),
            );
            continue;
        }
        let from = recovered
            .as_ref()
            .map(|(id, parts)| (*id, parts.as_slice()));
        match state.create_topic_from(spec, req.validate_only, from).await {
            Ok(created) => {
                let effective = state
                    .log_defaults()
                    .with_overrides(&created.overrides)
                    .map(|c| c.describe())
                    .unwrap_or_default();
                let configs = effective
                    .into_iter()
                    .map(|(k, v)| {
                        let source = if created.overrides.contains_key(k) {
                            SOURCE_DYNAMIC_TOPIC
                        } else {
                            SOURCE_DEFAULT
                        };
                        CreatableTopicConfigs::default()
                            .with_name(str_bytes(k))
                            .with_value(Some(str_bytes(v)))
                            .with_config_source(source)
                    })
                    .collect();
                // topic_id exists from v7 on; partitions, replication factor and
                // configs from v5.
                let mut r = result;
                if v >= 7 {
                    r = r.with_topic_id(created.id.uuid());
                }
                if v >= 5 {
                    r = r
                        .with_num_partitions(created.num_partitions)
                        .with_replication_factor(created.replication_factor)
                        .with_configs(Some(configs));
                }
                results.push(r);
            }
            Err(e) => {
                let (code, msg) = admin_error(&e);
                results.push(
                    result
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(msg))),
                );
            }
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}

/// Create-only option (not a topic config): adopt what the remote tier holds for a
/// topic of this name, so a topic survives the loss of every local disk.
pub const RECOVER_FROM_REMOTE: &str = "strata.recover.from.remote";
