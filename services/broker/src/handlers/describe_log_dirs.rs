//! DescribeLogDirs: the local data directory with each partition's local bytes and,
//! when tiered storage is on, one more "log dir" named by the remote tier's URL with
//! each tiered partition's remote bytes — so `kafka-log-dirs.sh` and AdminClient show
//! both tiers. (Kafka reports only local directories.)

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::str_bytes;
use crate::context::DataPlane;
use crate::dispatch::RequestContext;

/// Kafka's value for volume sizes it cannot tell.
const UNKNOWN_VOLUME_BYTES: i64 = -1;

pub async fn handle(
    state: &impl DataPlane,
    _ctx: &RequestContext,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let wanted: Option<BTreeMap<String, Vec<i32>>> = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.topic.to_string(), t.partitions))
            .collect()
    });
    let mut local: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    let mut remote: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for p in state.partitions() {
        let tp = p.topic_partition();
        if let Some(w) = &wanted {
            if !w
                .get(&tp.topic)
                .is_some_and(|ps| ps.contains(&tp.partition))
            {
                continue;
            }
        }
        local.entry(tp.topic.clone()).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(tp.partition)
                .with_partition_size(p.log().local_size_bytes() as i64),
        );
        if p.log().is_tiered() {
            if let Err(e) = p.log().load_remote_view().await {
                tracing::debug!(%tp, error = %e, "remote view not loaded for DescribeLogDirs");
            }
            remote.entry(tp.topic.clone()).or_default().push(
                DescribeLogDirsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_partition_size(p.log().remote_size_bytes() as i64),
            );
        }
    }
    let dir =
        std::path::absolute(state.log_dir()).unwrap_or_else(|_| state.log_dir().to_path_buf());
    let mut results = vec![result(dir.display().to_string(), local)];
    if let Some(url) = state.remote_tier_url() {
        results.push(result(url.to_string(), remote));
    }
    DescribeLogDirsResponse::default().with_results(results)
}

fn result(
    dir: String,
    topics: BTreeMap<String, Vec<DescribeLogDirsPartition>>,
) -> DescribeLogDirsResult {
    DescribeLogDirsResult::default()
        .with_log_dir(str_bytes(dir))
        .with_total_bytes(UNKNOWN_VOLUME_BYTES)
        .with_usable_bytes(UNKNOWN_VOLUME_BYTES)
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    DescribeLogDirsTopic::default()
                        .with_name(TopicName(str_bytes(name)))
                        .with_partitions(partitions)
                })
                .collect(),
        )
}
