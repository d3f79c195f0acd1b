//! ListOffsets: earliest, latest, max timestamp, earliest-local, latest-tiered, and by
//! timestamp.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use crate::dispatch::RequestContext;
use crate::errors;
use crate::state::BrokerState;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub async fn handle(
    state: &BrokerState,
    ctx: &RequestContext,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let v = ctx.api_version;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.to_string();
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    let Some(part) = state.partition(&name, p.partition_index) else {
                        return resp.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let found = match p.timestamp {
                        LATEST => Ok(Some((-1, part.high_watermark()))),
                        EARLIEST => Ok(Some((-1, part.log_start_offset()))),
                        EARLIEST_LOCAL if v >= 8 => Ok(Some((-1, part.log_start_offset()))),
                        // No remote tier yet: nothing is tiered.
                        LATEST_TIERED if v >= 9 => Ok(Some((-1, -1))),
                        MAX_TIMESTAMP if v >= 7 => part
                            .max_timestamp_offset()
                            .map(|o| o.map(|o| (o.timestamp, o.offset))),
                        ts if ts >= 0 => part
                            .offset_for_timestamp(ts)
                            .map(|o| o.map(|o| (o.timestamp, o.offset))),
                        _ => {
                            return resp.with_error_code(ResponseError::InvalidRequest.code());
                        }
                    };
                    match found {
                        Ok(Some((ts, off))) => {
                            let r = resp.with_timestamp(ts).with_offset(off);
                            // leader_epoch exists from v4 on.
                            if v >= 4 {
                                r.with_leader_epoch(part.leader_epoch())
                            } else {
                                r
                            }
                        }
                        Ok(None) => resp,
                        Err(e) => resp.with_error_code(errors::log_error(&e).0),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
