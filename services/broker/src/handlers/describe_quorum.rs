//! DescribeQuorum: the metadata quorum (Kafka's `__cluster_metadata` partition 0) as
//! its leader sees it: leader, term as the leader epoch, high watermark, each voter's
//! and observer's log end. Offsets are Raft log indexes.

use kafka_protocol::messages::describe_quorum_response::{PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kafka_protocol::ResponseError;
use strata_metadata::quorum::{QuorumDescription, QuorumReplica};

use super::{str_bytes, topic_name};
use crate::context::AdminOps;
use crate::dispatch::RequestContext;
use crate::errors::admin_error;

/// The topic name Kafka gives the metadata log.
const METADATA_TOPIC: &str = "__cluster_metadata";

pub async fn handle(
    state: &impl AdminOps,
    _ctx: &RequestContext,
    req: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let described = match state.describe_quorum().await {
        Ok(Some(d)) => d,
        // A single node: it is the only voter and leads.
        Ok(None) => single(state.node_id() as u64),
        Err(e) => {
            let (code, message) = admin_error(&e);
            return DescribeQuorumResponse::default()
                .with_error_code(code)
                .with_error_message(Some(str_bytes(message)));
        }
    };
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let known = t.topic_name.0.as_str() == METADATA_TOPIC;
            TopicData::default()
                .with_topic_name(topic_name(t.topic_name.to_string()))
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            if !known || p.partition_index != 0 {
                                return PartitionData::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(
                                        ResponseError::UnknownTopicOrPartition.code(),
                                    );
                            }
                            partition(&described)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeQuorumResponse::default().with_topics(topics)
}

/// A single node's metadata log is local files, not a Raft log: no index to report.
fn single(node_id: u64) -> QuorumDescription {
    let end = None;
    QuorumDescription {
        leader_id: Some(node_id),
        term: 1,
        high_watermark: end,
        voters: vec![QuorumReplica {
            node_id,
            address: String::new(),
            log_end: end,
        }],
        observers: Vec::new(),
    }
}

fn partition(d: &QuorumDescription) -> PartitionData {
    let replica = |r: &QuorumReplica| {
        ReplicaState::default()
            .with_replica_id(BrokerId(r.node_id as i32))
            .with_log_end_offset(r.log_end.map_or(-1, |i| i as i64))
            .with_last_fetch_timestamp(-1)
            .with_last_caught_up_timestamp(-1)
    };
    PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(d.leader_id.map_or(-1, |l| l as i32)))
        .with_leader_epoch(d.term.min(i32::MAX as u64) as i32)
        .with_high_watermark(d.high_watermark.map_or(-1, |i| i as i64))
        .with_current_voters(d.voters.iter().map(replica).collect())
        .with_observers(d.observers.iter().map(replica).collect())
}
