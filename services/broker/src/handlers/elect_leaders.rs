//! ElectLeaders: preferred-leader election (`kafka-leader-election.sh --election-type
//! PREFERRED`), run by the active controller. UNCLEAN elections need replication (a
//! replica out of the ISR to choose) and answer ELECTION_NOT_NEEDED for a partition
//! that has a leader, ELIGIBLE_LEADERS_NOT_AVAILABLE for one that has none.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use kafka_protocol::ResponseError;
use strata_metadata::MetadataImage;

use super::{str_bytes, topic_name};
use crate::context::AdminOps;
use crate::dispatch::RequestContext;
use crate::errors::admin_error;

/// Kafka's election types.
const PREFERRED: i8 = 0;

pub async fn handle(
    state: &impl AdminOps,
    ctx: &RequestContext,
    req: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let image = state.image();
    let preferred = ctx.api_version == 0 || req.election_type == PREFERRED;
    let all = req.topic_partitions.is_none();
    let asked: Vec<(String, i32)> = match &req.topic_partitions {
        Some(tps) => tps
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.to_string(), *p)))
            .collect(),
        None => image
            .topics()
            .flat_map(|t| t.partitions.keys().map(|p| (t.name.clone(), *p)))
            .collect(),
    };
    let mut results: Vec<(String, i32, i16, Option<String>)> = Vec::new();
    let mut electable = Vec::new();
    for (topic, partition) in asked {
        let code = before_election(&image, &topic, partition, preferred);
        match code {
            None => electable.push((topic, partition)),
            Some(c) => results.push((topic, partition, c, None)),
        }
    }
    if !electable.is_empty() {
        let outcome = state.elect_preferred_leaders(Some(electable.clone())).await;
        let (code, message) = match &outcome {
            Ok(()) => (0, None),
            Err(e) => {
                let (c, m) = admin_error(e);
                (c, Some(m))
            }
        };
        results.extend(
            electable
                .into_iter()
                .map(|(t, p)| (t, p, code, message.clone())),
        );
    }
    let not_needed = ResponseError::ElectionNotNeeded.code();
    let mut by_topic: std::collections::BTreeMap<String, Vec<PartitionResult>> = Default::default();
    for (topic, partition, code, message) in results {
        // Asked for every partition, Kafka answers only those an election concerned.
        if all && code == not_needed {
            continue;
        }
        let message = message.or_else(|| {
            (code != 0).then(|| {
                ResponseError::try_from_code(code)
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            })
        });
        by_topic.entry(topic).or_default().push(
            PartitionResult::default()
                .with_partition_id(partition)
                .with_error_code(code)
                .with_error_message(message.map(str_bytes)),
        );
    }
    ElectLeadersResponse::default().with_replica_election_results(
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                ReplicaElectionResult::default()
                    .with_topic(topic_name(t))
                    .with_partition_result(ps)
            })
            .collect(),
    )
}

/// The answer for a partition that needs no election, or `None` when it needs one.
fn before_election(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    preferred: bool,
) -> Option<i16> {
    let Some(p) = image
        .topic(topic)
        .and_then(|t| t.partitions.get(&partition))
    else {
        return Some(ResponseError::UnknownTopicOrPartition.code());
    };
    if !preferred {
        return Some(if p.leader >= 0 {
            ResponseError::ElectionNotNeeded.code()
        } else {
            ResponseError::EligibleLeadersNotAvailable.code()
        });
    }
    if p.replicas.first() == Some(&p.leader) {
        return Some(ResponseError::ElectionNotNeeded.code());
    }
    match strata_metadata::preferred_change(image, p) {
        Some(_) => None,
        None => Some(ResponseError::PreferredLeaderNotAvailable.code()),
    }
}
