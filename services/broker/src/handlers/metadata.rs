//! Metadata: brokers, topics, partitions and leaders, with auto-creation.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use kafka_protocol::ResponseError;
use strata_metadata::{CreateTopicSpec, MetadataImage, TopicImage};
use uuid::Uuid;

use super::{str_bytes, topic_name};
use crate::context::AdminOps;
use crate::dispatch::RequestContext;
use crate::errors;
use crate::state::AdminError;

pub async fn handle(
    state: &impl AdminOps,
    ctx: &RequestContext,
    req: MetadataRequest,
) -> MetadataResponse {
    let image = state.image();
    let mut topics = Vec::new();
    match req.topics {
        // v0: an empty list means all topics; v1+: null means all.
        None => all_topics(&image, ctx.api_version, &mut topics),
        Some(list) if list.is_empty() && ctx.api_version == 0 => {
            all_topics(&image, ctx.api_version, &mut topics)
        }
        Some(list) => {
            let may_create = ctx.api_version < 4 || req.allow_auto_topic_creation;
            for t in list {
                let name = match &t.name {
                    Some(n) => n.to_string(),
                    None => match image.topic_by_id(&t.topic_id.into()) {
                        Some(topic) => topic.name.clone(),
                        None => {
                            topics.push(
                                MetadataResponseTopic::default()
                                    .with_topic_id(t.topic_id)
                                    .with_error_code(ResponseError::UnknownTopicId.code()),
                            );
                            continue;
                        }
                    },
                };
                topics.push(describe_or_create(state, &name, may_create, ctx.api_version).await);
            }
        }
    }
    let v = ctx.api_version;
    let brokers = state
        .brokers()
        .into_iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(str_bytes(b.host))
                .with_port(b.port)
                .with_rack(b.rack.map(str_bytes))
        })
        .collect();
    let controller = match v {
        0 => -1,
        _ => state.active_controller().unwrap_or(-1),
    };
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id((v >= 2).then(|| str_bytes(state.cluster_id().to_string())))
        .with_controller_id(BrokerId(controller))
        .with_topics(topics)
}

fn all_topics(image: &MetadataImage, version: i16, out: &mut Vec<MetadataResponseTopic>) {
    out.extend(image.topics().map(|t| describe(t, version)));
}

async fn describe_or_create(
    state: &impl AdminOps,
    name: &str,
    may_create: bool,
    version: i16,
) -> MetadataResponseTopic {
    let unknown = |code: i16| {
        MetadataResponseTopic::default()
            .with_name(Some(topic_name(name)))
            .with_error_code(code)
    };
    if let Some(t) = state.image().topic(name) {
        return describe(t, version);
    }
    if !(may_create && state.admin_settings().auto_create_topics_enable) {
        if let Err(e) = strata_metadata::controller::validate_topic_name(name) {
            return unknown(errors::controller_error(&e).0);
        }
        return unknown(ResponseError::UnknownTopicOrPartition.code());
    }
    let spec = CreateTopicSpec {
        name: name.to_string(),
        num_partitions: -1,
        replication_factor: -1,
        assignments: Default::default(),
        configs: Default::default(),
    };
    match state.create_topic(spec, false).await {
        Ok(_) => {}
        Err(AdminError::Controller(strata_metadata::ControllerError::TopicAlreadyExists(_))) => {}
        Err(AdminError::Controller(e)) => return unknown(errors::controller_error(&e).0),
        Err(e) => {
            tracing::error!(topic = name, error = %e, "auto-creation failed");
            return unknown(ResponseError::UnknownServerError.code());
        }
    }
    match state.image().topic(name) {
        Some(t) => describe(t, version),
        None => unknown(ResponseError::LeaderNotAvailable.code()),
    }
}

/// A topic as the response version can carry it (leader_epoch from v7, topic_id from
/// v10, is_internal from v1).
fn describe(t: &TopicImage, version: i16) -> MetadataResponseTopic {
    let partitions = t
        .partitions
        .values()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_error_code(if p.leader < 0 {
                    ResponseError::LeaderNotAvailable.code()
                } else {
                    0
                })
                .with_partition_index(p.partition)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(if version >= 7 { p.leader_epoch } else { -1 })
                .with_replica_nodes(p.replicas.iter().map(|b| BrokerId(*b)).collect())
                .with_isr_nodes(p.isr.iter().map(|b| BrokerId(*b)).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(t.name.clone())))
        .with_topic_id(if version >= 10 {
            t.id.uuid()
        } else {
            Uuid::nil()
        })
        .with_is_internal(version >= 1 && t.name.starts_with("__"))
        .with_partitions(partitions)
}
