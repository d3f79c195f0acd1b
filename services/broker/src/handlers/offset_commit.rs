//! OffsetCommit: committed offsets of a group, checked against membership and the
//! partitions that exist.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::ResponseError;
use strata_groups::{OffsetCommitEntry, Reply, Request};

use super::topic_name;
use crate::context::GroupAccess;
use crate::dispatch::RequestContext;
use crate::errors;

pub async fn handle(
    state: &impl GroupAccess,
    _ctx: &RequestContext,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let image = state.image();
    // (topic, partition) -> error code, in request order.
    let mut results: Vec<((String, i32), i16)> = Vec::new();
    let mut entries = Vec::new();
    for t in &req.topics {
        let name = t.name.to_string();
        let topic = image.topic(&name);
        for p in &t.partitions {
            let exists = topic.is_some_and(|t| t.partitions.contains_key(&p.partition_index));
            if !exists {
                results.push((
                    (name.clone(), p.partition_index),
                    ResponseError::UnknownTopicOrPartition.code(),
                ));
                continue;
            }
            results.push(((name.clone(), p.partition_index), 0));
            entries.push(OffsetCommitEntry {
                topic: name.clone(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            });
        }
    }
    if !entries.is_empty() {
        let request = Request::OffsetCommit {
            group_id: req.group_id.to_string(),
            generation_id: req.generation_id_or_member_epoch,
            member_id: req.member_id.to_string(),
            group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
            offsets: entries,
        };
        let outcome: BTreeMap<(String, i32), i16> = match state.groups().call(request).await {
            Ok(Reply::OffsetCommit(list)) => list
                .into_iter()
                .map(|(tp, e)| (tp, errors::group_error_code(e.as_ref())))
                .collect(),
            _ => results
                .iter()
                .filter(|(_, code)| *code == 0)
                .map(|(tp, _)| (tp.clone(), errors::coordinator_unavailable()))
                .collect(),
        };
        for (tp, code) in results.iter_mut() {
            if *code == 0 {
                *code = outcome.get(tp).copied().unwrap_or(0);
            }
        }
    }
    let mut topics: Vec<OffsetCommitResponseTopic> = Vec::new();
    for ((topic, partition), code) in results {
        let part = OffsetCommitResponsePartition::default()
            .with_partition_index(partition)
            .with_error_code(code);
        match topics.iter_mut().find(|t| t.name.as_str() == topic) {
            Some(t) => t.partitions.push(part),
            None => topics.push(
                OffsetCommitResponseTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![part]),
            ),
        }
    }
    OffsetCommitResponse::default().with_topics(topics)
}
