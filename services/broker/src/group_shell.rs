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
use strata_groups::{
    partition_for, GroupCoordinator, GroupError, GroupRecord, Output, Reply, Request,
};
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
            if !apply(&state, out, &mut pending) {
                self.reload(&state, &mut pending);
            }
        }
    }

    /// After a failed append: memory must not stay ahead of the log, so the state is
    /// rebuilt from `__consumer_offsets`, and requests still waiting (joins in a
    /// rebalance) are dropped, which answers them COORDINATOR_NOT_AVAILABLE.
    fn reload(&mut self, state: &BrokerState, pending: &mut HashMap<u64, oneshot::Sender<Reply>>) {
        pending.clear();
        self.coordinator.reset();
        let partitions = state.offsets_partitions();
        match load(&partitions, &mut self.coordinator, state.clock.now_ms()) {
            Ok(n) => tracing::warn!(
                records = n,
                "group coordinator reloaded from {OFFSETS_TOPIC}"
            ),
            Err(e) => tracing::error!(error = %e, "group coordinator reload failed"),
        }
    }
}

/// Appends the output's records, then sends its replies: a reply is sent only once
/// the records behind it are in the log. If the append fails, every write among the
/// replies is answered COORDINATOR_NOT_AVAILABLE instead (the client retries) and
/// `false` is returned: the coordinator's memory is then ahead of the log.
fn apply(
    state: &BrokerState,
    out: Output,
    pending: &mut HashMap<u64, oneshot::Sender<Reply>>,
) -> bool {
    let mut durable = true;
    if !out.records.is_empty() {
        if let Err(e) = append_records(state, &out.records) {
            tracing::error!(error = %e, "cannot write to {OFFSETS_TOPIC}; failing the writes");
            durable = false;
        }
    }
    for (id, reply) in out.replies {
        if let Some(tx) = pending.remove(&id) {
            let reply = if durable {
                reply
            } else {
                reply.failed_write(GroupError::CoordinatorNotAvailable)
            };
            let _ = tx.send(reply);
        }
    }
    durable
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

/// Why the offsets topic could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{tp}: cannot read at offset {offset}: {reason}")]
    Read {
        tp: String,
        offset: i64,
        reason: String,
    },
    #[error("{tp}: undecodable batch at offset {offset}: {reason}")]
    Corrupt {
        tp: String,
        offset: i64,
        reason: String,
    },
    #[error("{tp}: no progress at offset {offset} below the high watermark {hw}")]
    Stuck { tp: String, offset: i64, hw: i64 },
}

/// Replays every record of the offsets topic into `coordinator` (start-up, and after
/// a failed append). A batch that cannot be read or decoded stops the replay with an
/// error naming the partition and offset: the groups would otherwise come back
/// silently older than what was acknowledged. Single records of an unknown version
/// are skipped with a warning, as they belong to no group this broker can serve.
pub fn load(
    partitions: &[Arc<Partition>],
    coordinator: &mut GroupCoordinator,
    now: i64,
) -> Result<usize, LoadError> {
    let mut loaded = 0;
    for p in partitions {
        let tp = || p.topic_partition().to_string();
        let mut offset = p.log_start_offset();
        let hw = p.high_watermark();
        while offset < hw {
            let data = p
                .read(offset, 4 * 1024 * 1024, true)
                .map_err(|e| LoadError::Read {
                    tp: tp(),
                    offset,
                    reason: e.to_string(),
                })?;
            if data.records.is_empty() {
                return Err(LoadError::Stuck {
                    tp: tp(),
                    offset,
                    hw,
                });
            }
            let mut buf = data.records.clone();
            let mut progressed = false;
            while !buf.is_empty() {
                let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| LoadError::Corrupt {
                    tp: tp(),
                    offset,
                    reason: e.to_string(),
                })?;
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
                return Err(LoadError::Stuck {
                    tp: tp(),
                    offset,
                    hw,
                });
            }
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use strata_groups::OffsetCommitEntry;

    use super::*;
    use crate::config::BrokerConfig;

    fn open(dir: &std::path::Path) -> Arc<BrokerState> {
        let config = BrokerConfig {
            log_dirs: dir.to_path_buf(),
            offsets_topic_num_partitions: 1,
            ..Default::default()
        };
        Arc::new(BrokerState::open(config, ("127.0.0.1".into(), 9092)).expect("open"))
    }

    fn commit(offset: i64, metadata: &str) -> Request {
        Request::OffsetCommit {
            group_id: "g".into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: vec![OffsetCommitEntry {
                topic: "t".into(),
                partition: 0,
                offset,
                leader_epoch: -1,
                metadata: Some(metadata.into()),
            }],
        }
    }

    async fn committed(state: &BrokerState) -> i64 {
        let reply = state
            .groups
            .call(Request::OffsetFetch {
                group_id: "g".into(),
                partitions: Some(vec![("t".into(), 0)]),
                require_stable: false,
            })
            .await
            .expect("coordinator");
        match reply {
            Reply::OffsetFetch { offsets, .. } => offsets[0].2,
            other => panic!("{other:?}"),
        }
    }

    fn commit_error(reply: Reply) -> Option<GroupError> {
        match reply {
            Reply::OffsetCommit(parts) => parts[0].1,
            other => panic!("{other:?}"),
        }
    }

    /// Regression: a commit whose append to `__consumer_offsets` failed was answered
    /// success, and the coordinator kept serving the offset the log never got.
    #[tokio::test]
    async fn a_commit_that_is_not_appended_is_not_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let state = open(dir.path());
        let task = state.take_group_task().unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(task.run(state.clone(), stop.clone()));

        assert_eq!(
            commit_error(state.groups.call(commit(5, "")).await.unwrap()),
            None
        );
        assert_eq!(committed(&state).await, 5);

        // The log now refuses any batch bigger than 100 bytes: the next commit's
        // append fails.
        let small = BTreeMap::from([("max.message.bytes".to_string(), "100".to_string())]);
        state
            .alter_topic_configs(OFFSETS_TOPIC, small, vec![], false, false)
            .unwrap();
        let reply = state
            .groups
            .call(commit(9, &"m".repeat(200)))
            .await
            .unwrap();
        assert_eq!(
            commit_error(reply),
            Some(GroupError::CoordinatorNotAvailable)
        );
        // Memory follows the log, not the failed write.
        assert_eq!(committed(&state).await, 5);

        state
            .alter_topic_configs(
                OFFSETS_TOPIC,
                BTreeMap::new(),
                vec!["max.message.bytes".into()],
                false,
                false,
            )
            .unwrap();
        assert_eq!(
            commit_error(state.groups.call(commit(9, "")).await.unwrap()),
            None
        );
        assert_eq!(committed(&state).await, 9);
        stop.cancel();
    }

    /// Regression: a corrupt batch in `__consumer_offsets` silently ended the replay of
    /// the partition at start-up, so groups came back older than acknowledged. Now
    /// the node refuses to start and says where the damage is.
    #[tokio::test]
    async fn a_corrupt_offsets_batch_stops_start_up_loudly() {
        let dir = tempfile::tempdir().unwrap();
        {
            let state = open(dir.path());
            let task = state.take_group_task().unwrap();
            let stop = CancellationToken::new();
            let run = tokio::spawn(task.run(state.clone(), stop.clone()));
            for o in 1..=3 {
                state.groups.call(commit(o, "")).await.unwrap();
            }
            stop.cancel();
            run.await.unwrap();
            state.replicas.close_all();
        }
        // Damage the middle batch's records count and fix up its CRC, so log recovery
        // (lengths and CRCs) still passes but the batch no longer decodes.
        let seg = std::fs::read_dir(dir.path().join(format!("{OFFSETS_TOPIC}-0")))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "log"))
            .unwrap();
        let mut bytes = std::fs::read(&seg).unwrap();
        let first = i32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize + 12;
        let len = i32::from_be_bytes(bytes[first + 8..first + 12].try_into().unwrap()) as usize;
        let end = first + 12 + len;
        bytes[first + 57..first + 61].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[first + 21..end]);
        bytes[first + 17..first + 21].copy_from_slice(&crc.to_be_bytes());
        std::fs::write(&seg, &bytes).unwrap();

        let config = BrokerConfig {
            log_dirs: dir.path().to_path_buf(),
            offsets_topic_num_partitions: 1,
            ..Default::default()
        };
        match BrokerState::open(config, ("127.0.0.1".into(), 9092)) {
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(OFFSETS_TOPIC) && msg.contains("offset"),
                    "{msg}"
                );
            }
            Ok(_) => panic!("a corrupt offsets batch was replayed silently"),
        }
    }
}
