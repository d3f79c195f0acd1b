//! Produce: validate and append each partition's batches as leader.

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, topic_name};
use crate::context::DataPlane;
use crate::dispatch::RequestContext;
use crate::errors;

pub async fn handle(
    state: &impl DataPlane,
    ctx: &RequestContext,
    req: ProduceRequest,
) -> ProduceResponse {
    let image = state.image();
    let acks_ok = matches!(req.acks, -1..=1);
    let transactional = req.transactional_id.is_some();
    let now = state.now_ms();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    // acks=all successes: (topic index, partition index, partition, offset to commit).
    let mut committed = Vec::new();
    for topic in req.topic_data {
        // v13+ names topics by id.
        let name = if ctx.api_version >= 13 {
            image
                .topic_by_id(&topic.topic_id.into())
                .map(|t| t.name.clone())
        } else {
            Some(topic.name.to_string())
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for pd in topic.partition_data {
            let resp = PartitionProduceResponse::default()
                .with_index(pd.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            // error_message exists from v8 on.
            let v = ctx.api_version;
            let fail = |code: i16, msg: Option<String>| {
                resp.clone()
                    .with_error_code(code)
                    .with_error_message(msg.filter(|_| v >= 8).map(str_bytes))
            };
            if !acks_ok {
                partitions.push(fail(ResponseError::InvalidRequiredAcks.code(), None));
                continue;
            }
            if transactional {
                partitions.push(fail(
                    ResponseError::TransactionalIdAuthorizationFailed.code(),
                    Some("transactions are not supported yet".into()),
                ));
                continue;
            }
            let Some(name) = name.as_deref() else {
                partitions.push(fail(ResponseError::UnknownTopicId.code(), None));
                continue;
            };
            let Some(partition) = state.partition(name, pd.index) else {
                let code = match strata_metadata::controller::validate_topic_name(name) {
                    Err(e) => errors::controller_error(&e).0,
                    Ok(()) => state.not_hosted_code(name, pd.index),
                };
                partitions.push(fail(code, None));
                continue;
            };
            if !partition.is_leader() {
                partitions.push(fail(ResponseError::NotLeaderOrFollower.code(), None));
                continue;
            }
            let records = pd.records.unwrap_or_default();
            if records.is_empty() {
                partitions.push(fail(
                    ResponseError::CorruptMessage.code(),
                    Some("empty record set".into()),
                ));
                continue;
            }
            match partition.append(&records, now) {
                Ok(info) => {
                    let mut ok = resp
                        .with_base_offset(info.first_offset)
                        .with_log_append_time_ms(info.log_append_time_ms);
                    if v >= 5 {
                        ok = ok.with_log_start_offset(info.log_start_offset);
                    }
                    if req.acks == -1 {
                        committed.push((
                            responses.len(),
                            partitions.len(),
                            partition.clone(),
                            info.last_offset + 1,
                        ));
                    }
                    partitions.push(ok)
                }
                Err(e) => {
                    let (code, msg) = errors::log_error(&e);
                    tracing::debug!(topic = name, partition = pd.index, error = %e, "produce rejected");
                    partitions.push(fail(code, Some(msg)));
                }
            }
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(if ctx.api_version >= 13 {
                    Default::default()
                } else {
                    topic_name(topic.name.to_string())
                })
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partitions),
        );
    }
    // acks=all: each partition answers once its high watermark covers the batch (on
    // one node at once), or REQUEST_TIMED_OUT after the request's timeout.
    let timeout = std::time::Duration::from_millis(req.timeout_ms.max(0) as u64);
    for (t, p, partition, end) in committed {
        if !partition.wait_for_high_watermark(end, timeout).await {
            if let Some(r) = responses
                .get_mut(t)
                .and_then(|t| t.partition_responses.get_mut(p))
            {
                r.error_code = ResponseError::RequestTimedOut.code();
            }
        }
    }
    ProduceResponse::default().with_responses(responses)
}
