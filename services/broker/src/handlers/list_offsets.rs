//! ListOffsets: earliest, latest, max timestamp, earliest-local, latest-tiered, and by
//! timestamp.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use strata_tiered::OffsetSpec;

use crate::context::DataPlane;
use crate::dispatch::RequestContext;
use crate::errors;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub async fn handle(
    state: &impl DataPlane,
    ctx: &RequestContext,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let v = ctx.api_version;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.to_string();
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let resp = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1);
            let Some(part) = state.partition(&name, p.partition_index) else {
                partitions
                    .push(resp.with_error_code(state.not_hosted_code(&name, p.partition_index)));
                continue;
            };
            let spec = match p.timestamp {
                LATEST => OffsetSpec::Latest,
                EARLIEST => OffsetSpec::Earliest,
                EARLIEST_LOCAL if v >= 8 => OffsetSpec::EarliestLocal,
                LATEST_TIERED if v >= 9 => OffsetSpec::LatestTiered,
                MAX_TIMESTAMP if v >= 7 => OffsetSpec::MaxTimestamp,
                ts if ts >= 0 => OffsetSpec::Timestamp(ts),
                _ => {
                    partitions.push(resp.with_error_code(ResponseError::InvalidRequest.code()));
                    continue;
                }
            };
            let found = part.list_offset(spec).await;
            partitions.push(match found {
                Ok(Some(found)) => {
                    let r = resp
                        .with_timestamp(found.timestamp)
                        .with_offset(found.offset);
                    // leader_epoch exists from v4 on.
                    if v >= 4 {
                        r.with_leader_epoch(part.leader_epoch())
                    } else {
                        r
                    }
                }
                Ok(None) => resp,
                Err(e) => resp.with_error_code(errors::tiered_error(&e).0),
            });
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}
