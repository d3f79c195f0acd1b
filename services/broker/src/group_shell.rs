//! The group coordinator on the coordinator runtime: one shard per hosted partition of
//! `__consumer_offsets`, each a [`GroupCoordinator`] for the groups that hash to it.
//! This module is the broker's side of it: the partition writer (records to record
//! batches and back) and the routing of requests to shards, including the requests
//! that span groups (ListGroups, DescribeGroups, DeleteGroups), which are split by
//! shard and their answers merged.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use strata_coordinator::{CoordinatorRuntime, PartitionWriter, WriteError, WriteFailure};
use strata_groups::{partition_for, GroupCoordinator, GroupRecord, Reply, Request};
use strata_proto::SharedClock;
use strata_replication::Partition;

/// Kafka's internal topic for committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Makes the coordinator of one shard (each shard has its own state).
pub type CoordinatorFactory = Box<dyn Fn() -> GroupCoordinator + Send + Sync>;

/// The handle connections use to reach the group coordinator's shards.
pub struct GroupShell {
    runtime: CoordinatorRuntime<GroupCoordinator>,
    partitions: i32,
    factory: CoordinatorFactory,
}

/// The shard that would answer is not running here (not loaded, or the node is
/// shutting down): the client retries (COORDINATOR_NOT_AVAILABLE).
#[derive(Debug, thiserror::Error)]
#[error("the group coordinator is not available")]
pub struct CoordinatorGone;

impl GroupShell {
    /// A shell for `partitions` partitions of `__consumer_offsets`, none loaded yet.
    pub fn new(partitions: i32, factory: CoordinatorFactory, clock: SharedClock) -> Self {
        Self {
            runtime: CoordinatorRuntime::new(clock),
            partitions: partitions.max(1),
            factory,
        }
    }

    /// Loads the shard of `partition` (this node leads it): replays it first.
    pub fn load(&self, partition: Arc<Partition>) -> Result<usize, LoadError> {
        let index = partition.topic_partition().partition;
        let writer = Arc::new(OffsetsWriter { partition });
        self.runtime
            .load(index, (self.factory)(), writer)
            .map_err(LoadError::Shard)
    }

    /// The `__consumer_offsets` partitions whose shards run here, ascending.
    pub fn loaded(&self) -> Vec<i32> {
        self.runtime.partitions()
    }

    /// Stops the shard of `partition` (this node no longer leads it).
    pub fn unload(&self, partition: i32) {
        self.runtime.unload(partition);
    }

    /// Stops every shard and waits for their tasks.
    pub async fn shutdown(&self) {
        self.runtime.shutdown().await;
    }

    /// Sends one request to the shard(s) it concerns and waits for the reply, which may
    /// come only after a rebalance.
    pub async fn call(&self, req: Request) -> Result<Reply, CoordinatorGone> {
        match req {
            Request::ListGroups {
                states_filter,
                types_filter,
            } => {
                let mut all = Vec::new();
                for p in self.runtime.partitions() {
                    let req = Request::ListGroups {
                        states_filter: states_filter.clone(),
                        types_filter: types_filter.clone(),
                    };
                    if let Reply::ListGroups(mut groups) = self.shard(p, req).await? {
                        all.append(&mut groups);
                    }
                }
                all.sort_by(|a, b| a.group_id.cmp(&b.group_id));
                Ok(Reply::ListGroups(all))
            }
            Request::DescribeGroups { group_ids } => {
                let mut by_id = BTreeMap::new();
                for (p, ids) in self.split(&group_ids) {
                    if let Reply::DescribeGroups(found) = self
                        .shard(p, Request::DescribeGroups { group_ids: ids })
                        .await?
                    {
                        by_id.extend(found.into_iter().map(|d| (d.group_id.clone(), d)));
                    }
                }
                Ok(Reply::DescribeGroups(
                    group_ids.iter().filter_map(|g| by_id.remove(g)).collect(),
                ))
            }
            Request::DeleteGroups { group_ids } => {
                let mut by_id = BTreeMap::new();
                for (p, ids) in self.split(&group_ids) {
                    if let Reply::DeleteGroups(results) = self
                        .shard(p, Request::DeleteGroups { group_ids: ids })
                        .await?
                    {
                        by_id.extend(results);
                    }
                }
                Ok(Reply::DeleteGroups(
                    group_ids
                        .iter()
                        .filter_map(|g| by_id.remove(g).map(|e| (g.clone(), e)))
                        .collect(),
                ))
            }
            one => {
                let p = partition_for(group_of(&one), self.partitions);
                self.shard(p, one).await
            }
        }
    }

    async fn shard(&self, partition: i32, req: Request) -> Result<Reply, CoordinatorGone> {
        self.runtime
            .call(partition, req)
            .await
            .map_err(|_| CoordinatorGone)
    }

    /// `group_ids` by the shard each belongs to.
    fn split(&self, group_ids: &[String]) -> BTreeMap<i32, Vec<String>> {
        let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for g in group_ids {
            out.entry(partition_for(g, self.partitions))
                .or_default()
                .push(g.clone());
        }
        out
    }
}

/// The group a single-group request names.
fn group_of(req: &Request) -> &str {
    match req {
        Request::JoinGroup { group_id, .. }
        | Request::SyncGroup { group_id, .. }
        | Request::Heartbeat { group_id, .. }
        | Request::LeaveGroup { group_id, .. }
        | Request::OffsetCommit { group_id, .. }
        | Request::OffsetFetch { group_id, .. }
        | Request::OffsetDelete { group_id, .. } => group_id,
        Request::ListGroups { .. }
        | Request::DescribeGroups { .. }
        | Request::DeleteGroups { .. } => "",
    }
}

/// A shard's partition of `__consumer_offsets`: records go in as one uncompressed
/// batch; an append returns once the batch is in the log (on a single node the high
/// watermark is the log end, so it is then readable and survives a restart).
struct OffsetsWriter {
    partition: Arc<Partition>,
}

impl PartitionWriter<GroupRecord> for OffsetsWriter {
    fn append(&self, records: &[GroupRecord], now: i64) -> Result<(), WriteError> {
        let batch =
            encode_batch(records, now).map_err(|e| WriteError::new(WriteFailure::Rejected, e))?;
        self.partition
            .append(&batch, now)
            .map(|_| ())
            .map_err(|e| WriteError::new(crate::errors::coordinator_write_failure(&e), e))
    }

    fn read_all(&self) -> Result<Vec<GroupRecord>, strata_coordinator::LoadError> {
        read_all(&self.partition).map_err(strata_coordinator::LoadError::new)
    }
}

fn encode_batch(records: &[GroupRecord], now: i64) -> Result<Bytes, EncodeError> {
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
    .map_err(|e| EncodeError(e.to_string()))?;
    Ok(buf.freeze())
}

/// The records of a group write could not be encoded as a batch (the encoder's own
/// error carries no type to keep).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode group records: {0}")]
pub struct EncodeError(String);

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
    #[error(transparent)]
    Shard(#[from] strata_coordinator::LoadError),
}

/// Every record of one partition of the offsets topic, oldest first. A batch that
/// cannot be read or decoded is an error naming the partition and offset: the groups
/// would otherwise come back silently older than what was acknowledged. Single
/// records of an unknown version are skipped with a warning, as they belong to no
/// group this broker can serve.
fn read_all(p: &Partition) -> Result<Vec<GroupRecord>, LoadError> {
    let mut out = Vec::new();
    let tp = || p.topic_partition().to_string();
    let mut offset = p.log_start_offset();
    let hw = p.high_watermark();
    while offset < hw {
        let records = p
            .read_local(offset, 4 * 1024 * 1024, true)
            .map_err(|e| LoadError::Read {
                tp: tp(),
                offset,
                reason: e.to_string(),
            })?;
        if records.is_empty() {
            return Err(LoadError::Stuck {
                tp: tp(),
                offset,
                hw,
            });
        }
        let mut buf = records;
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
                    Ok(rec) => out.push(rec),
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
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use strata_groups::OffsetCommitEntry;

    use super::*;
    use crate::config::BrokerConfig;
    use crate::state::BrokerState;
    use strata_groups::GroupError;

    async fn open(dir: &std::path::Path) -> Arc<BrokerState> {
        let config = BrokerConfig {
            log_dirs: dir.to_path_buf(),
            offsets_topic_num_partitions: 1,
            ..Default::default()
        };
        Arc::new(
            BrokerState::open(config, ("127.0.0.1".into(), 9092))
                .await
                .expect("open"),
        )
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
        let state = open(dir.path()).await;

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
            .await
            .unwrap();
        let reply = state
            .groups
            .call(commit(9, &"m".repeat(200)))
            .await
            .unwrap();
        // Kafka's answer for a commit the log refuses as too large.
        assert_eq!(
            commit_error(reply),
            Some(GroupError::InvalidCommitOffsetSize)
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
            .await
            .unwrap();
        assert_eq!(
            commit_error(state.groups.call(commit(9, "")).await.unwrap()),
            None
        );
        assert_eq!(committed(&state).await, 9);
        state.groups.shutdown().await;
    }

    /// Regression: a corrupt batch in `__consumer_offsets` silently ended the replay of
    /// the partition at start-up, so groups came back older than acknowledged. Now
    /// the node refuses to start and says where the damage is.
    #[tokio::test]
    async fn a_corrupt_offsets_batch_stops_start_up_loudly() {
        let dir = tempfile::tempdir().unwrap();
        {
            let state = open(dir.path()).await;
            for o in 1..=3 {
                state.groups.call(commit(o, "")).await.unwrap();
            }
            state.groups.shutdown().await;
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
        match BrokerState::open(config, ("127.0.0.1".into(), 9092)).await {
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
