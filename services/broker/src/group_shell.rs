//! The I/O shell around the pure group coordinator (`strata-groups`): one task owns the
//! coordinator, feeds it requests and timer ticks, appends the records it emits to
//! `__consumer_offsets` before answering, and routes deferred replies (JoinGroup and
//! SyncGroup wait for a rebalance) back to the waiting connection.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use strata_groups::{partition_for, GroupCoordinator, GroupRecord, Output, Reply, Request};
use strata_replication::Partition;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::state::BrokerState;

/// Kafka's internal topic for committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Requests waiting for the coordinator task.
const QUEUE: usize = 1024;

type Envelope = (Request, oneshot::Sender<Reply>);

/// The handle connections use to reach the coordinator task.
pub struct GroupShell {
    tx: mpsc::Sender<Envelope>,
}

/// What the task takes over when the node starts serving.
pub struct GroupTask {
    rx: mpsc::Receiver<Envelope>,
    coordinator: GroupCoordinator,
}

/// The coordinator task is not running (the node is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the group coordinator is not available")]
pub struct CoordinatorGone;

impl GroupShell {
    pub fn new(coordinator: GroupCoordinator) -> (GroupShell, GroupTask) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (GroupShell { tx }, GroupTask { rx, coordinator })
    }

    /// Sends one request and waits for its reply, which may come only after a rebalance.
    pub async fn call(&self, req: Request) -> Result<Reply, CoordinatorGone> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((req, tx)).await.map_err(|_| CoordinatorGone)?;
        rx.await.map_err(|_| CoordinatorGone)
    }
}

impl GroupTask {
    pub(crate) fn coordinator_mut(&mut self) -> &mut GroupCoordinator {
        &mut self.coordinator
    }

    /// Runs until `shutdown`; each request and each timer tick is handled to completion
    /// (records appended, then replies sent) before the next.
    pub async fn run(mut self, state: Arc<BrokerState>, shutdown: CancellationToken) {
        let mut pending: HashMap<u64, oneshot::Sender<Reply>> = HashMap::new();
        let mut next_id: u64 = 0;
        loop {
            let sleep = match self.coordinator.next_deadline() {
                Some(at) => {
                    let wait = (at - state.clock.now_ms()).max(0) as u64;
                    tokio::time::sleep(std::time::Duration::from_millis(wait))
                }
                None => tokio::time::sleep(std::time::Duration::from_secs(3600)),
            };
            let out = tokio::select! {
                msg = self.rx.recv() => {
                    let Some((req, reply)) = msg else { return };
                    next_id += 1;
                    pending.insert(next_id, reply);
                    self.coordinator.handle(next_id, req, state.clock.now_ms())
                }
                _ = sleep => self.coordinator.tick(state.clock.now_ms()),
                _ = shutdown.cancelled() => return,
            };
            apply(&state, out, &mut pending);
        }
    }
}

/// Appends the output's records, then sends its replies. If the append fails, the
/// replies still go out (Kafka would answer the commit with an error; the coordinator
/// already applied it in memory, so it is logged loudly).
fn apply(state: &BrokerState, out: Output, pending: &mut HashMap<u64, oneshot::Sender<Reply>>) {
    if !out.records.is_empty() {
        if let Err(e) = append_records(state, &out.records) {
            tracing::error!(error = %e, "cannot write to {OFFSETS_TOPIC}");
        }
    }
    for (id, reply) in out.replies {
        if let Some(tx) = pending.remove(&id) {
            let _ = tx.send(reply);
        }
    }
}

fn append_records(state: &BrokerState, records: &[GroupRecord]) -> Result<(), String> {
    let n = state.config.offsets_topic_num_partitions;
    let mut by_partition: HashMap<i32, Vec<&GroupRecord>> = HashMap::new();
    for r in records {
        by_partition
            .entry(partition_for(r.group(), n))
            .or_default()
            .push(r);
    }
    let now = state.clock.now_ms();
    for (p, recs) in by_partition {
        let partition = state
            .partition(OFFSETS_TOPIC, p)
            .ok_or_else(|| format!("{OFFSETS_TOPIC}-{p} is not hosted here"))?;
        let batch = encode_batch(&recs, now)?;
        partition.append(&batch, now).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn encode_batch(records: &[&GroupRecord], now: i64) -> Result<Bytes, String> {
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: now,
            key: Some(r.key()),
            value: r.value(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &recs,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

/// Replays every record of the offsets topic into `coordinator` (start-up).
pub fn load(partitions: &[Arc<Partition>], coordinator: &mut GroupCoordinator, now: i64) -> usize {
    let mut loaded = 0;
    for p in partitions {
        let mut offset = p.log_start_offset();
        while offset < p.high_watermark() {
            let data = match p.read(offset, 4 * 1024 * 1024, true) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(tp = %p.topic_partition(), error = %e, "cannot read offsets topic");
                    break;
                }
            };
            if data.records.is_empty() {
                break;
            }
            let mut buf = data.records.clone();
            let mut progressed = false;
            while !buf.is_empty() {
                let Ok(set) = RecordBatchDecoder::decode(&mut buf) else {
                    break;
                };
                for r in set.records {
                    offset = offset.max(r.offset + 1);
                    progressed = true;
                    let Some(key) = r.key.as_deref() else {
                        continue;
                    };
                    match GroupRecord::decode(key, r.value.as_deref()) {
                        Ok(rec) => {
                            coordinator.replay(rec, now);
                            loaded += 1;
                        }
                        Err(e) => tracing::warn!(error = %e, "skipping undecodable group record"),
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }
    loaded
}
