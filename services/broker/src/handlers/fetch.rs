//! Fetch: whole batches from the local log or the remote tier, long-polling on
//! max_wait_ms/min_bytes.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use strata_tiered::TieredRead;

use crate::context::DataPlane;
use crate::dispatch::RequestContext;
use crate::errors;
use crate::response_frame::FetchAnswer;

/// One requested partition, resolved once per request.
struct Wanted {
    topic_index: usize,
    name: Option<String>,
    partition: i32,
    offset: i64,
    max_bytes: usize,
}

/// One partition's answer; remote records come as several buffers.
type PartitionAnswer = (PartitionData, Option<Vec<Bytes>>);

pub async fn handle(
    state: &impl DataPlane,
    ctx: &RequestContext,
    req: FetchRequest,
) -> FetchAnswer {
    let image = state.image();
    let by_id = ctx.api_version >= 13;
    let mut topics: Vec<(kafka_protocol::messages::TopicName, Uuid)> = Vec::new();
    let mut wanted = Vec::new();
    for t in &req.topics {
        let name = if by_id {
            image
                .topic_by_id(&t.topic_id.into())
                .map(|x| x.name.clone())
        } else {
            Some(t.topic.to_string())
        };
        topics.push((t.topic.clone(), t.topic_id));
        for p in &t.partitions {
            wanted.push(Wanted {
                topic_index: topics.len() - 1,
                name: name.clone(),
                partition: p.partition,
                offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
            });
        }
    }
    // The broker's fetch.max.bytes caps what any request may ask for, so memory per
    // fetch is bounded by configuration (plus one oversized batch, KIP-74).
    let cap = state.fetch_max_bytes();
    let max_total = if req.max_bytes <= 0 {
        cap
    } else {
        (req.max_bytes as usize).min(cap)
    };
    let min_bytes = req.min_bytes.max(0) as usize;
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    // The partitions' own append notifications: an append elsewhere wakes no one here.
    let mut appended: Vec<_> = wanted
        .iter()
        .filter_map(|w| {
            w.name
                .as_deref()
                .and_then(|n| state.partition(n, w.partition))
        })
        .map(|p| p.subscribe_appends())
        .collect();
    let results = loop {
        for a in &mut appended {
            a.borrow_and_update();
        }
        let (results, bytes, answer_now) =
            read_all(state, &wanted, max_total, ctx.api_version).await;
        if bytes >= min_bytes || answer_now || Instant::now() >= deadline {
            break results;
        }
        let any_append = async {
            if appended.is_empty() {
                std::future::pending::<()>().await;
            }
            let changes = appended.iter_mut().map(|a| Box::pin(a.changed()));
            let _ = futures::future::select_all(changes).await;
        };
        let woke = tokio::time::timeout_at(deadline.into(), any_append).await;
        if woke.is_err() {
            // Deadline (or no more appends possible): answer with what there is.
            let (results, _, _) = read_all(state, &wanted, max_total, ctx.api_version).await;
            break results;
        }
    };
    let mut responses: Vec<FetchableTopicResponse> = topics
        .into_iter()
        .map(|(name, id)| {
            FetchableTopicResponse::default()
                .with_topic(if by_id { Default::default() } else { name })
                .with_topic_id(id)
        })
        .collect();
    let mut ropes = Vec::new();
    for (w, (data, rope)) in wanted.iter().zip(results) {
        if let Some(t) = responses.get_mut(w.topic_index) {
            if let Some(parts) = rope {
                ropes.push(((w.topic_index, t.partitions.len()), parts));
            }
            t.partitions.push(data);
        }
    }
    FetchAnswer {
        response: FetchResponse::default().with_responses(responses),
        ropes,
    }
}

/// Reads every wanted partition once: local reads first, then every partition whose
/// offset is in the remote tier at once (Kafka serves one remote partition per fetch).
/// Returns the partition answers, the bytes read, and whether to answer at once
/// (an error, or remote data that did not arrive within `remote.fetch.max.wait.ms`).
async fn read_all(
    state: &impl DataPlane,
    wanted: &[Wanted],
    max_total: usize,
    version: i16,
) -> (Vec<PartitionAnswer>, usize, bool) {
    let by_id = version >= 13;
    // log_start_offset exists from v5 on.
    let lso = |v: i64| if version >= 5 { v } else { -1 };
    let mut out = Vec::with_capacity(wanted.len());
    let mut total = 0usize;
    let mut answer_now = false;
    // (index in `out`, partition, read) of reads for the remote tier.
    let mut remote = Vec::new();
    let mut remote_budget = 0usize;
    for w in wanted {
        let base = PartitionData::default()
            .with_partition_index(w.partition)
            .with_high_watermark(-1)
            .with_last_stable_offset(-1)
            .with_records(Some(Bytes::new()));
        let Some(name) = w.name.as_deref() else {
            answer_now = true;
            out.push((
                base.with_error_code(ResponseError::UnknownTopicId.code()),
                None,
            ));
            continue;
        };
        let Some(partition) = state.partition(name, w.partition) else {
            answer_now = true;
            let code = match state.not_hosted_code(name, w.partition) {
                c if c == ResponseError::UnknownTopicOrPartition.code() && by_id => {
                    ResponseError::UnknownTopicId.code()
                }
                c => c,
            };
            out.push((base.with_error_code(code), None));
            continue;
        };
        // Consumers read from the leader (follower fetching, KIP-392, is not offered).
        if !partition.is_leader() {
            answer_now = true;
            out.push((
                base.with_error_code(ResponseError::NotLeaderOrFollower.code()),
                None,
            ));
            continue;
        }
        let budget = w
            .max_bytes
            .min(max_total.saturating_sub(total + remote_budget));
        // KIP-74: the first batch of the first partition with data is returned even if
        // it exceeds the limits, so a consumer can always make progress.
        let min_one = total == 0 && remote.is_empty();
        match partition.read(w.offset, budget, min_one).await {
            Ok(read) => {
                let base = base
                    .with_high_watermark(read.high_watermark)
                    .with_last_stable_offset(read.high_watermark)
                    .with_log_start_offset(lso(read.log_start_offset));
                match read.records {
                    TieredRead::Local(records) => {
                        total += records.len();
                        out.push((base.with_records(Some(records)), None));
                    }
                    TieredRead::Remote(fetch) => {
                        remote_budget += budget;
                        remote.push((out.len(), partition, fetch));
                        out.push((base, None));
                    }
                }
            }
            Err(e) => {
                answer_now = true;
                out.push((
                    base.with_error_code(errors::tiered_error(&e).0)
                        .with_high_watermark(partition.high_watermark())
                        .with_last_stable_offset(partition.high_watermark())
                        .with_log_start_offset(lso(partition.log_start_offset())),
                    None,
                ));
            }
        }
    }
    if !remote.is_empty() {
        let nothing_local = total == 0;
        let reads = remote
            .into_iter()
            .enumerate()
            .map(|(i, (at, p, fetch))| async move {
                (at, p, fetch.fetch(nothing_local && i == 0).await)
            });
        for (at, p, result) in futures::future::join_all(reads).await {
            let (slot, rope) = &mut out[at];
            match result {
                Ok(Some(parts)) => {
                    total += parts.iter().map(|b| b.len()).sum::<usize>();
                    *rope = Some(parts);
                }
                Ok(None) => {
                    // As Kafka's DelayedRemoteFetch on expiry: no records, no error.
                    answer_now = true;
                    tracing::debug!(tp = %p.topic_partition(), "remote read still running; answering without it");
                }
                Err(e) => {
                    answer_now = true;
                    let (code, msg) = errors::tiered_error(&e);
                    tracing::warn!(tp = %p.topic_partition(), error = %msg, "remote read failed");
                    slot.error_code = code;
                }
            }
        }
    }
    (out, total, answer_now)
}
