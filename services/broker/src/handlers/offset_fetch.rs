//! OffsetFetch: committed offsets of one group (v1-7) or of several (v8+).

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};
use strata_groups::{Reply, Request};

use super::{str_bytes, topic_name};
use crate::context::GroupAccess;
use crate::dispatch::RequestContext;
use crate::errors;

type Committed = Vec<(String, i32, i64, i32, Option<String>)>;
/// (partition, offset, leader epoch, metadata)
type PartitionOffsets = Vec<(i32, i64, i32, Option<String>)>;

async fn fetch(
    state: &impl GroupAccess,
    group_id: String,
    partitions: Option<Vec<(String, i32)>>,
    require_stable: bool,
) -> (i16, Committed) {
    let request = Request::OffsetFetch {
        group_id,
        partitions,
        require_stable,
    };
    match state.groups().call(request).await {
        Ok(Reply::OffsetFetch { error, offsets }) => {
            (errors::group_error_code(error.as_ref()), offsets)
        }
        _ => (errors::coordinator_unavailable(), Vec::new()),
    }
}

fn group_by_topic(offsets: Committed) -> Vec<(String, PartitionOffsets)> {
    let mut out: Vec<(String, PartitionOffsets)> = Vec::new();
    for (t, p, o, e, m) in offsets {
        match out.iter_mut().find(|(name, _)| *name == t) {
            Some((_, v)) => v.push((p, o, e, m)),
            None => out.push((t, vec![(p, o, e, m)])),
        }
    }
    out
}

pub async fn handle(
    state: &impl GroupAccess,
    ctx: &RequestContext,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let v = ctx.api_version;
    let require_stable = v >= 7 && req.require_stable;
    if v >= 8 {
        let mut groups = Vec::new();
        for g in &req.groups {
            let parts = g.topics.as_ref().map(|ts| {
                ts.iter()
                    .flat_map(|t| t.partition_indexes.iter().map(|p| (t.name.to_string(), *p)))
                    .collect()
            });
            let (code, offsets) = fetch(state, g.group_id.to_string(), parts, require_stable).await;
            let topics = group_by_topic(offsets)
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchResponseTopics::default()
                        .with_name(topic_name(t))
                        .with_partitions(
                            ps.into_iter()
                                .map(|(p, o, e, m)| {
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(o)
                                        .with_committed_leader_epoch(e)
                                        .with_metadata(Some(str_bytes(m.unwrap_or_default())))
                                })
                                .collect(),
                        )
                })
                .collect();
            groups.push(
                OffsetFetchResponseGroup::default()
                    .with_group_id(GroupId(g.group_id.0.clone()))
                    .with_error_code(code)
                    .with_topics(topics),
            );
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let parts = req.topics.as_ref().map(|ts| {
        ts.iter()
            .flat_map(|t| t.partition_indexes.iter().map(|p| (t.name.to_string(), *p)))
            .collect()
    });
    let (code, offsets) = fetch(state, req.group_id.to_string(), parts, require_stable).await;
    let topics = group_by_topic(offsets)
        .into_iter()
        .map(|(t, ps)| {
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(t))
                .with_partitions(
                    ps.into_iter()
                        .map(|(p, o, e, m)| {
                            let part = OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(o)
                                .with_metadata(Some(str_bytes(m.unwrap_or_default())));
                            if v >= 5 {
                                part.with_committed_leader_epoch(e)
                            } else {
                                part
                            }
                        })
                        .collect(),
                )
        })
        .collect();
    let resp = OffsetFetchResponse::default().with_topics(topics);
    // v1 has no top-level error code.
    if v >= 2 {
        resp.with_error_code(code)
    } else {
        resp
    }
}
