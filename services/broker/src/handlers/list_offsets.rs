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
                    .push(resp.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            let tier = state
                .tier()
                .filter(|_| part.config().remote_storage_enable());
            if let Some(tier) = tier {
                // The log start and the tier boundary need the remote view.
                if let Err(e) = tier.load_view(&part).await {
                    partitions.push(resp.with_error_code(errors::tiering_error(&e).0));
                    continue;
                }
            }
            let found: Result<Option<(i64, i64)>, (i16, String)> = match p.timestamp {
                LATEST => Ok(Some((-1, part.high_watermark()))),
                EARLIEST => Ok(Some((-1, part.log_start_offset()))),
                EARLIEST_LOCAL if v >= 8 => Ok(Some((-1, part.local_log_start_offset()))),
                LATEST_TIERED if v >= 9 => Ok(Some((-1, part.remote().read().latest_tiered()))),
                MAX_TIMESTAMP if v >= 7 => {
                    let local = part
                        .max_timestamp_offset()
                        .map_err(|e| errors::log_error(&e));
                    match (tier, local) {
                        (Some(tier), Ok(local)) => tier
                            .max_timestamp_offset(&part, local)
                            .await
                            .map_err(|e| errors::tiering_error(&e)),
                        (_, local) => local,
                    }
                    .map(|o| o.map(|o| (o.timestamp, o.offset)))
                }
                ts if ts >= 0 => {
                    let remote = match tier {
                        Some(tier) => tier
                            .offset_for_timestamp(&part, ts)
                            .await
                            .map_err(|e| errors::tiering_error(&e)),
                        None => Ok(None),
                    };
                    match remote {
                        Ok(Some(o)) => Ok(Some(o)),
                        Ok(None) => part
                            .offset_for_timestamp(ts)
                            .map_err(|e| errors::log_error(&e)),
                        Err(e) => Err(e),
                    }
                    .map(|o| o.map(|o| (o.timestamp, o.offset)))
                }
                _ => {
                    partitions.push(resp.with_error_code(ResponseError::InvalidRequest.code()));
                    continue;
                }
            };
            partitions.push(match found {
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
                Err((code, _)) => resp.with_error_code(code),
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
