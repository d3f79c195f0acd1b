//! `strata perf produce|consume`: throughput and latency in the spirit of Kafka's
//! kafka-producer-perf-test and kafka-consumer-perf-test.
//!
//! The producer behaves like a Kafka producer with `compression.type=none`: records
//! without keys go to one partition until its batch is full (sticky partitioning), a
//! batch holds as many records as fit `--batch-size` bytes or what arrived within
//! `--linger-ms`, each batch is encoded when it is sealed (fresh timestamps and CRC),
//! and one Produce request carries every batch ready when a slot of the
//! `--max-in-flight` window frees. Latency runs from a batch's first record to the
//! answer; MB/s counts record values, as kafka-producer-perf-test does, beside the
//! bytes on the wire.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::{Bytes, BytesMut};
use clap::{Args, Subcommand};
use hdrhistogram::Histogram;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rand::RngCore;
use tokio::sync::mpsc;

use crate::client::Client;

#[derive(Args)]
pub struct PerfArgs {
    #[command(subcommand)]
    command: PerfCommand,
}

#[derive(Args, Clone)]
struct Common {
    /// Broker to talk to, host:port.
    #[arg(long, env = "STRATA_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    /// Topic to use (created with --partitions if missing).
    #[arg(long)]
    topic: String,
    /// Number of records to send or read.
    #[arg(long, default_value_t = 1_000_000)]
    num_records: u64,
}

#[derive(Subcommand)]
enum PerfCommand {
    /// Produce records and report records/s, MB/s and latency percentiles.
    Produce {
        #[command(flatten)]
        common: Common,
        /// Bytes of value per record.
        #[arg(long, default_value_t = 100)]
        record_size: usize,
        /// Acknowledgements: 0, 1 or -1 (all).
        #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
        acks: i16,
        /// Most bytes per record batch, framing included (the producer's `batch.size`).
        #[arg(long, default_value_t = 16_384)]
        batch_size: usize,
        /// How long a batch that is not full waits for more records (the producer's
        /// `linger.ms`; matters with --throughput, where records arrive one by one).
        #[arg(long, default_value_t = 5)]
        linger_ms: u64,
        /// Partitions to create the topic with if it does not exist.
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// Target records/s; -1 for as fast as possible.
        #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
        throughput: i64,
        /// Produce requests in flight at once.
        #[arg(long, default_value_t = 5)]
        max_in_flight: usize,
    },
    /// Commit offsets for a group as fast as the broker takes them (simple commits:
    /// generation -1, no member), reporting commits/s and latency.
    Commit {
        #[command(flatten)]
        common: Common,
        /// Group to commit for (must be empty).
        #[arg(long, default_value = "strata-perf-commit")]
        group: String,
        /// OffsetCommit requests in flight at once.
        #[arg(long, default_value_t = 5)]
        max_in_flight: usize,
    },
    /// Raw object-store PUT and GET throughput (the ceiling for remote reads).
    ObjectStore(crate::perf_object_store::ObjectStoreArgs),
    /// Read records from the earliest offset of every partition.
    Consume {
        #[command(flatten)]
        common: Common,
        /// Bytes per partition per fetch.
        #[arg(long, default_value_t = 8 * 1024 * 1024)]
        partition_fetch_bytes: i32,
    },
}

pub async fn run(args: PerfArgs) -> Result<()> {
    match args.command {
        PerfCommand::Produce {
            common,
            record_size,
            acks,
            batch_size,
            linger_ms,
            partitions,
            throughput,
            max_in_flight,
        } => {
            if !matches!(acks, -1..=1) {
                bail!("--acks must be 0, 1 or -1");
            }
            produce(
                common,
                record_size,
                acks,
                batch_size,
                Duration::from_millis(linger_ms),
                partitions,
                throughput,
                max_in_flight.max(1),
            )
            .await
        }
        PerfCommand::Consume {
            common,
            partition_fetch_bytes,
        } => consume(common, partition_fetch_bytes).await,
        PerfCommand::ObjectStore(args) => crate::perf_object_store::run(args).await,
        PerfCommand::Commit {
            common,
            group,
            max_in_flight,
        } => commit(common, group, max_in_flight.max(1)).await,
    }
}

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// Partition indexes of `topic`, creating it with `partitions` if it does not exist.
async fn partitions_of(c: &mut Client, topic: &str, create_with: i32) -> Result<Vec<i32>> {
    let mv = c.version(ApiKey::Metadata, 12)?;
    let req = |create: bool| {
        MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(topic)))
            ]))
            .with_allow_auto_topic_creation(create)
    };
    let resp = c.call(&req(false), mv).await?;
    let exists = resp.topics.first().is_some_and(|t| t.error_code == 0);
    if !exists && create_with > 0 {
        let cv = c.version(ApiKey::CreateTopics, 7)?;
        let create = CreateTopicsRequest::default()
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name(topic))
                .with_num_partitions(create_with)
                .with_replication_factor(-1)])
            .with_timeout_ms(30_000);
        let r = c.call(&create, cv).await?;
        if let Some(t) = r.topics.first() {
            if t.error_code != 0 && t.error_code != 36 {
                bail!("cannot create topic {topic}: error {}", t.error_code);
            }
        }
    }
    let resp = c.call(&req(false), mv).await?;
    let t = resp.topics.first().context("no metadata for the topic")?;
    if t.error_code != 0 {
        bail!("topic {topic}: error {}", t.error_code);
    }
    let mut ps: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
    ps.sort();
    Ok(ps)
}

/// One record batch of `records` records of `value`, encoded now, as a producer
/// encodes each batch it sends (fresh timestamps and CRC per batch).
fn encode_batch(records: usize, value: &Bytes) -> Result<Bytes> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let recs: Vec<Record> = (0..records)
        .map(|i| Record {
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
            key: None,
            value: Some(value.clone()),
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
    )?;
    Ok(buf.freeze())
}

/// Records of `record_size` bytes that fit one batch of at most `batch_size` bytes
/// (batch header and per-record framing included, as the Java producer's `batch.size`
/// counts them); at least one.
fn records_per_batch(batch_size: usize, value: &Bytes) -> Result<usize> {
    let one = encode_batch(1, value)?.len();
    let two = encode_batch(2, value)?.len();
    let per_record = (two - one).max(1);
    let header = one.saturating_sub(per_record);
    Ok((batch_size.saturating_sub(header) / per_record).max(1))
}

struct Stats {
    start: Instant,
    /// Bytes of value per record (what kafka-producer-perf-test's MB/s counts).
    record_size: u64,
    records: u64,
    bytes: u64,
    wire_bytes: u64,
    latency_us: Histogram<u64>,
    window_start: Instant,
    window_records: u64,
    window_bytes: u64,
    window_latency: Histogram<u64>,
}

impl Stats {
    fn new(record_size: u64) -> Result<Self> {
        Ok(Self {
            start: Instant::now(),
            record_size,
            records: 0,
            bytes: 0,
            wire_bytes: 0,
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            window_start: Instant::now(),
            window_records: 0,
            window_bytes: 0,
            window_latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        })
    }

    /// Accounts one answered request: every record of each batch, with the latency from
    /// the batch's first record to the answer (none with acks=0).
    fn record_request(&mut self, req: &InFlight, acked: bool) {
        self.wire_bytes += req.wire_bytes;
        for (since, records) in &req.batches {
            let latency = acked.then(|| since.elapsed());
            self.record(*records, records * self.record_size, latency);
        }
    }

    fn record(&mut self, records: u64, bytes: u64, latency: Option<Duration>) {
        self.records += records;
        self.bytes += bytes;
        self.window_records += records;
        self.window_bytes += bytes;
        if let Some(l) = latency {
            let us = (l.as_micros() as u64).clamp(1, 60_000_000);
            let _ = self.latency_us.record_n(us, records);
            let _ = self.window_latency.record_n(us, records);
        }
        if self.window_start.elapsed() >= Duration::from_secs(5) {
            let secs = self.window_start.elapsed().as_secs_f64();
            println!(
                "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
                self.window_records,
                self.window_records as f64 / secs,
                self.window_bytes as f64 / secs / 1e6,
                self.window_latency.mean() / 1000.0,
                self.window_latency.max() as f64 / 1000.0
            );
            self.window_start = Instant::now();
            self.window_records = 0;
            self.window_bytes = 0;
            self.window_latency.reset();
        }
    }

    fn summary(&self, acks: i16) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let ms = |q: f64| self.latency_us.value_at_quantile(q) as f64 / 1000.0;
        if acks == 0 {
            println!(
                "{} records sent, {:.1} records/sec ({:.2} MB/sec of values, {:.2} MB/sec on the wire), latency not measured with acks=0.",
                self.records,
                self.records as f64 / secs,
                self.bytes as f64 / secs / 1e6,
                self.wire_bytes as f64 / secs / 1e6
            );
        } else {
            println!(
                "{} records sent, {:.1} records/sec ({:.2} MB/sec of values, {:.2} MB/sec on the wire), {:.2} ms avg latency, {:.2} ms max latency, {:.2} ms 50th, {:.2} ms 99th, {:.2} ms 99.9th.",
                self.records,
                self.records as f64 / secs,
                self.bytes as f64 / secs / 1e6,
                self.wire_bytes as f64 / secs / 1e6,
                self.latency_us.mean() / 1000.0,
                self.latency_us.max() as f64 / 1000.0,
                ms(0.5),
                ms(0.99),
                ms(0.999)
            );
        }
    }
}

/// A batch being filled for one partition.
struct Filling {
    partition: i32,
    records: usize,
    /// When its first record was added: the record latency counts from here, as
    /// kafka-producer-perf-test counts each record from its `send()`.
    since: Instant,
}

/// A sealed batch waiting for a request.
struct Ready {
    partition: i32,
    records: u64,
    payload: Bytes,
    since: Instant,
}

/// What one request in flight carries, for the response reader.
struct InFlight {
    /// (first-record time, records) of each batch.
    batches: Vec<(Instant, u64)>,
    wire_bytes: u64,
}

#[allow(clippy::too_many_arguments)]
async fn produce(
    common: Common,
    record_size: usize,
    acks: i16,
    batch_size: usize,
    linger: Duration,
    create_partitions: i32,
    throughput: i64,
    max_in_flight: usize,
) -> Result<()> {
    let mut c = Client::connect(&common.bootstrap_server).await?;
    let partitions = partitions_of(&mut c, &common.topic, create_partitions).await?;
    let version = c.version(ApiKey::Produce, 12)?;
    let mut value = vec![0u8; record_size];
    rand::rng().fill_bytes(&mut value);
    let value = Bytes::from(value);
    let per_batch = records_per_batch(batch_size, &value)?;
    let Client { mut tx, mut rx, .. } = c;
    let (inflight_tx, mut inflight_rx) = mpsc::channel::<InFlight>(max_in_flight);
    let reader = tokio::spawn(async move {
        let mut stats = Stats::new(record_size as u64)?;
        while let Some(req) = inflight_rx.recv().await {
            if acks != 0 {
                let resp = rx.recv::<ProduceRequest>(version).await?;
                for t in &resp.responses {
                    for p in &t.partition_responses {
                        if p.error_code != 0 {
                            bail!(
                                "produce to partition {} failed with error {} {}",
                                p.index,
                                p.error_code,
                                p.error_message.as_ref().map(|m| m.as_str()).unwrap_or("")
                            );
                        }
                    }
                }
            }
            stats.record_request(&req, acks != 0);
        }
        stats.summary(acks);
        anyhow::Ok(())
    });
    // Sticky partitioning (KIP-480, what producers do for records without a key): fill
    // one partition's batch, then move to the next.
    let start = Instant::now();
    let mut produced: u64 = 0;
    let mut next_partition = 0usize;
    let mut filling: Option<Filling> = None;
    let mut ready: Vec<Ready> = Vec::new();
    // At most one sealed batch per partition waits for a request, as a producer keeps
    // one open batch per partition while its in-flight window is full.
    let max_ready = partitions.len().max(1);
    loop {
        let done = produced >= common.num_records;
        // Seal the filling batch when full, lingered out, or at the end.
        if let Some(f) = &filling {
            if f.records >= per_batch || done || f.since.elapsed() >= linger {
                let f = filling.take().context("no batch")?;
                ready.push(Ready {
                    partition: f.partition,
                    records: f.records as u64,
                    payload: encode_batch(f.records, &value)?,
                    since: f.since,
                });
            }
        }
        // Send what is ready: at once if a request slot is free, or wait for one when
        // no more batches can be held back.
        if !ready.is_empty() {
            let permit = if ready.len() >= max_ready || done {
                Some(
                    inflight_tx
                        .reserve()
                        .await
                        .context("response reader stopped")?,
                )
            } else {
                inflight_tx.try_reserve().ok()
            };
            if let Some(permit) = permit {
                let batches: Vec<Ready> = std::mem::take(&mut ready);
                let wire_bytes = batches.iter().map(|b| b.payload.len() as u64).sum();
                let meta = batches.iter().map(|b| (b.since, b.records)).collect();
                let partition_data = batches
                    .into_iter()
                    .map(|b| {
                        PartitionProduceData::default()
                            .with_index(b.partition)
                            .with_records(Some(b.payload))
                    })
                    .collect();
                let req = ProduceRequest::default()
                    .with_acks(acks)
                    .with_timeout_ms(30_000)
                    .with_topic_data(vec![TopicProduceData::default()
                        .with_name(topic_name(&common.topic))
                        .with_partition_data(partition_data)]);
                tx.send(&req, version).await?;
                tx.flush().await?;
                permit.send(InFlight {
                    batches: meta,
                    wire_bytes,
                });
            }
        }
        if done && filling.is_none() && ready.is_empty() {
            break;
        }
        if done {
            continue;
        }
        // The next record, at the target rate; while waiting, a lingering batch may
        // come due first.
        if throughput > 0 {
            let due = start + Duration::from_secs_f64(produced as f64 / throughput as f64);
            let now = Instant::now();
            if due > now {
                let wake = match &filling {
                    Some(f) => due.min(f.since + linger),
                    None => due,
                };
                tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
                if Instant::now() < due {
                    continue;
                }
            }
        }
        let f = filling.get_or_insert_with(|| {
            let partition = partitions[next_partition % partitions.len()];
            next_partition += 1;
            Filling {
                partition,
                records: 0,
                since: Instant::now(),
            }
        });
        // Without a target rate the records come as fast as the batch takes them.
        let room = (per_batch - f.records) as u64;
        let take = if throughput > 0 {
            1
        } else {
            room.min(common.num_records - produced)
        };
        f.records += take as usize;
        produced += take;
    }
    drop(inflight_tx);
    reader.await.context("response reader panicked")??;
    Ok(())
}

async fn consume(common: Common, partition_fetch_bytes: i32) -> Result<()> {
    let mut c = Client::connect(&common.bootstrap_server).await?;
    let partitions = partitions_of(&mut c, &common.topic, 0).await?;
    let lv = c.version(ApiKey::ListOffsets, 7)?;
    let lreq = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(&common.topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(*p)
                            .with_timestamp(-2)
                    })
                    .collect(),
            )]);
    let lresp = c.call(&lreq, lv).await?;
    let mut offsets: Vec<(i32, i64)> = lresp
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, p.offset.max(0)))
        .collect();
    let fv = c.version(ApiKey::Fetch, 12)?;
    let start = Instant::now();
    let mut records: u64 = 0;
    let mut bytes: u64 = 0;
    let mut last_report = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(600);
    while records < common.num_records {
        if Instant::now() > deadline {
            bail!("gave up after 600 s with {records} records read");
        }
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(64 * 1024 * 1024)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name(&common.topic))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|(p, o)| {
                            FetchPartition::default()
                                .with_partition(*p)
                                .with_fetch_offset(*o)
                                .with_partition_max_bytes(partition_fetch_bytes)
                        })
                        .collect(),
                )]);
        let resp = c.call(&req, fv).await?;
        for t in &resp.responses {
            for pd in &t.partitions {
                if pd.error_code != 0 {
                    bail!(
                        "fetch of partition {} failed: error {}",
                        pd.partition_index,
                        pd.error_code
                    );
                }
                let Some(data) = &pd.records else { continue };
                let (n, next) = count_batches(data);
                records += n;
                bytes += data.len() as u64;
                if let Some(next) = next {
                    if let Some(o) = offsets.iter_mut().find(|(p, _)| *p == pd.partition_index) {
                        o.1 = o.1.max(next);
                    }
                }
            }
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{records} records read, {:.1} records/sec ({:.2} MB/sec)",
                records as f64 / secs,
                bytes as f64 / secs / 1e6
            );
            last_report = Instant::now();
        }
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    println!(
        "{records} records read in {secs:.2} s, {:.1} records/sec ({:.2} MB/sec, {:.2} MB total)",
        records as f64 / secs,
        bytes as f64 / secs / 1e6,
        bytes as f64 / 1e6
    );
    Ok(())
}

/// Records in the whole batches of `data` and the offset after the last one.
fn count_batches(data: &[u8]) -> (u64, Option<i64>) {
    let mut pos = 0usize;
    let mut n = 0u64;
    let mut next = None;
    while pos + 61 <= data.len() {
        let h = &data[pos..];
        let base = i64::from_be_bytes(h[0..8].try_into().unwrap_or([0; 8]));
        let len = i32::from_be_bytes(h[8..12].try_into().unwrap_or([0; 4]));
        if len < 49 || pos + 12 + len as usize > data.len() {
            break;
        }
        let delta = i32::from_be_bytes(h[23..27].try_into().unwrap_or([0; 4]));
        let count = i32::from_be_bytes(h[57..61].try_into().unwrap_or([0; 4]));
        let is_control = (h[22] & 0x20) != 0;
        if !is_control {
            n += count.max(0) as u64;
        }
        next = Some(base + delta as i64 + 1);
        pos += 12 + len as usize;
    }
    (n, next)
}

/// `--num-records` OffsetCommit requests, each committing one partition's offset,
/// pipelined `max_in_flight` deep.
async fn commit(common: Common, group: String, max_in_flight: usize) -> Result<()> {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    let mut c = Client::connect(&common.bootstrap_server).await?;
    let partitions = partitions_of(&mut c, &common.topic, 1).await?;
    let version = c.version(ApiKey::OffsetCommit, 8)?;
    let Client { mut tx, mut rx, .. } = c;
    let (inflight_tx, mut inflight_rx) = mpsc::channel::<Instant>(max_in_flight);
    let total = common.num_records;
    let reader = tokio::spawn(async move {
        let mut stats = Stats::new(0)?;
        while let Some(sent) = inflight_rx.recv().await {
            let resp = rx.recv::<OffsetCommitRequest>(version).await?;
            for t in &resp.topics {
                for p in &t.partitions {
                    if p.error_code != 0 {
                        bail!("commit failed with error {}", p.error_code);
                    }
                }
            }
            stats.record(1, 0, Some(sent.elapsed()));
        }
        let secs = stats.start.elapsed().as_secs_f64().max(1e-9);
        println!(
            "{} commits, {:.1} commits/sec, {:.2} ms 50th, {:.2} ms 99th, {:.2} ms 99.9th.",
            stats.records,
            stats.records as f64 / secs,
            stats.latency_us.value_at_quantile(0.5) as f64 / 1000.0,
            stats.latency_us.value_at_quantile(0.99) as f64 / 1000.0,
            stats.latency_us.value_at_quantile(0.999) as f64 / 1000.0
        );
        anyhow::Ok(())
    });
    for i in 0..total {
        let p = partitions[(i as usize) % partitions.len()];
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.clone())))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(topic_name(&common.topic))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(p)
                    .with_committed_offset(i as i64)])]);
        let permit = inflight_tx
            .reserve()
            .await
            .context("response reader stopped")?;
        let t0 = Instant::now();
        tx.send(&req, version).await?;
        tx.flush().await?;
        permit.send(t0);
    }
    drop(inflight_tx);
    reader.await.context("response reader panicked")??;
    Ok(())
}
