//! The node configuration: Kafka's broker property names, every field defaulted.

use std::path::PathBuf;

use serde::Deserialize;
use strata_log::{LogConfig, TimestampType};

/// The largest in-memory size any config may ask for (1 TiB): a bound so a typo cannot
/// overflow the arithmetic or the allocators that size buffers and semaphores from it.
const MAX_MEMORY_BYTES: i64 = 1 << 40;
/// The largest on-disk cache any config may ask for (1 PiB).
const MAX_DISK_BYTES: i64 = 1 << 50;

/// Broker settings under Kafka's property names (`num.partitions`, `log.dirs`, …).
///
/// Unknown keys are rejected when parsed (`deny_unknown_fields`); [`BrokerConfig::validate`]
/// then reports every bad value at once. Where a default differs from Apache Kafka's,
/// the field says why.

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    #[serde(rename = "node.id")]
    pub node_id: i32,
    /// `host:port` to bind (Kafka's `listeners` is `PLAINTEXT://host:port`; both forms
    /// are accepted).
    #[serde(rename = "listeners")]
    pub listeners: String,
    /// What clients are told to connect to; defaults to the bound address.
    #[serde(rename = "advertised.listeners")]
    pub advertised_listeners: Option<String>,
    #[serde(rename = "log.dirs")]
    pub log_dirs: PathBuf,
    #[serde(rename = "num.partitions")]
    pub num_partitions: i32,
    #[serde(rename = "default.replication.factor")]
    pub default_replication_factor: i16,
    #[serde(rename = "auto.create.topics.enable")]
    pub auto_create_topics_enable: bool,
    #[serde(rename = "delete.topic.enable")]
    pub delete_topic_enable: bool,
    #[serde(rename = "socket.request.max.bytes")]
    pub socket_request_max_bytes: i32,
    /// Kafka's default is unbounded (`Integer.MAX_VALUE`); Strata bounds file handles
    /// by default.
    #[serde(rename = "max.connections")]
    pub max_connections: i32,
    /// Bytes of requests read but not yet answered, over all connections. Kafka's
    /// default (-1) is unbounded; Strata bounds memory by default.
    #[serde(rename = "queued.max.request.bytes")]
    pub queued_max_request_bytes: i64,
    #[serde(rename = "message.max.bytes")]
    pub message_max_bytes: i32,
    /// The most bytes one Fetch response carries, whatever the request asks for.
    #[serde(rename = "fetch.max.bytes")]
    pub fetch_max_bytes: i32,
    #[serde(rename = "log.segment.bytes")]
    pub log_segment_bytes: i64,
    #[serde(rename = "log.roll.ms")]
    pub log_roll_ms: Option<i64>,
    #[serde(rename = "log.roll.hours")]
    pub log_roll_hours: i64,
    #[serde(rename = "log.index.size.max.bytes")]
    pub log_index_size_max_bytes: i64,
    #[serde(rename = "log.index.interval.bytes")]
    pub log_index_interval_bytes: i64,
    #[serde(rename = "log.retention.ms")]
    pub log_retention_ms: Option<i64>,
    #[serde(rename = "log.retention.minutes")]
    pub log_retention_minutes: Option<i64>,
    #[serde(rename = "log.retention.hours")]
    pub log_retention_hours: i64,
    #[serde(rename = "log.retention.bytes")]
    pub log_retention_bytes: i64,
    #[serde(rename = "log.retention.check.interval.ms")]
    pub log_retention_check_interval_ms: i64,
    #[serde(rename = "log.flush.offset.checkpoint.interval.ms")]
    pub log_flush_offset_checkpoint_interval_ms: i64,
    /// How long an idempotent producer's state is kept after its last batch.
    #[serde(rename = "producer.id.expiration.ms")]
    pub producer_id_expiration_ms: i64,
    #[serde(rename = "producer.id.expiration.check.interval.ms")]
    pub producer_id_expiration_check_interval_ms: i64,
    #[serde(rename = "log.message.timestamp.type")]
    pub log_message_timestamp_type: String,
    #[serde(rename = "log.message.timestamp.before.max.ms")]
    pub log_message_timestamp_before_max_ms: i64,
    #[serde(rename = "log.message.timestamp.after.max.ms")]
    pub log_message_timestamp_after_max_ms: i64,
    #[serde(rename = "log.cleanup.policy")]
    pub log_cleanup_policy: String,
    #[serde(rename = "log.cleaner.enable")]
    pub log_cleaner_enable: bool,
    #[serde(rename = "log.cleaner.backoff.ms")]
    pub log_cleaner_backoff_ms: i64,
    #[serde(rename = "log.cleaner.dedupe.buffer.size")]
    pub log_cleaner_dedupe_buffer_size: i64,
    #[serde(rename = "log.cleaner.io.buffer.size")]
    pub log_cleaner_io_buffer_size: i64,
    #[serde(rename = "log.cleaner.io.max.bytes.per.second")]
    pub log_cleaner_io_max_bytes_per_second: f64,
    #[serde(rename = "offsets.topic.num.partitions")]
    pub offsets_topic_num_partitions: i32,
    #[serde(rename = "offsets.topic.segment.bytes")]
    pub offsets_topic_segment_bytes: i64,
    #[serde(rename = "offsets.retention.minutes")]
    pub offsets_retention_minutes: i64,
    #[serde(rename = "offset.metadata.max.bytes")]
    pub offset_metadata_max_bytes: i32,
    #[serde(rename = "group.min.session.timeout.ms")]
    pub group_min_session_timeout_ms: i32,
    #[serde(rename = "group.max.session.timeout.ms")]
    pub group_max_session_timeout_ms: i32,
    #[serde(rename = "group.initial.rebalance.delay.ms")]
    pub group_initial_rebalance_delay_ms: i32,
    #[serde(rename = "group.max.size")]
    pub group_max_size: i32,
    /// Strata only (Kafka has no such bound): partitions one CreateTopics or
    /// CreatePartitions request may create, so one request cannot make the node open a
    /// million logs.
    #[serde(rename = "strata.max.partitions.per.request")]
    pub max_partitions_per_request: i32,
    /// Strata only: partition replicas this broker may host in all.
    #[serde(rename = "strata.max.partitions.per.broker")]
    pub max_partitions_per_broker: i32,
    /// Kafka's default is false; Strata tiers out of the box (into a folder under the
    /// data directory unless `remote.log.storage.url` says otherwise).
    #[serde(rename = "remote.log.storage.system.enable")]
    pub remote_log_storage_system_enable: bool,
    /// Where the remote tier lives: `file:///dir`, `s3://bucket/prefix`, `gs://…`,
    /// `az://…`, `memory://`. Default: `<log.dirs>/remote-tier`. (Kafka configures a
    /// plugin class instead.)
    #[serde(rename = "remote.log.storage.url")]
    pub remote_log_storage_url: Option<String>,
    /// Kafka's default is 30 s; sweeping in-memory state is cheap, and uploads start
    /// sooner after a roll.
    #[serde(rename = "remote.log.manager.task.interval.ms")]
    pub remote_log_manager_task_interval_ms: i64,
    #[serde(rename = "remote.log.manager.copy.max.bytes.per.second")]
    pub remote_log_manager_copy_max_bytes_per_second: i64,
    #[serde(rename = "remote.log.manager.fetch.max.bytes.per.second")]
    pub remote_log_manager_fetch_max_bytes_per_second: i64,
    #[serde(rename = "remote.log.manager.copier.thread.pool.size")]
    pub remote_log_manager_copier_thread_pool_size: i32,
    /// Concurrent GETs of remote chunks (Kafka: threads serving remote fetches).
    #[serde(rename = "remote.log.reader.threads")]
    pub remote_log_reader_threads: i32,
    /// How long a Fetch waits for remote data before answering without it (Kafka's
    /// `remote.fetch.max.wait.ms`); the read goes on and fills the cache for the retry.
    #[serde(rename = "remote.fetch.max.wait.ms")]
    pub remote_fetch_max_wait_ms: i64,
    #[serde(rename = "remote.log.index.file.cache.total.size.bytes")]
    pub remote_log_index_file_cache_total_size_bytes: i64,
    /// Strata: bytes of remote data fetched and cached per GET.
    #[serde(rename = "remote.log.fetch.chunk.bytes")]
    pub remote_log_fetch_chunk_bytes: i64,
    /// Strata: chunks fetched ahead of a sequential remote reader.
    #[serde(rename = "remote.log.fetch.read.ahead.chunks")]
    pub remote_log_fetch_read_ahead_chunks: i32,
    /// Strata: bytes of remote chunks cached in memory.
    #[serde(rename = "remote.log.cache.memory.bytes")]
    pub remote_log_cache_memory_bytes: i64,
    /// Strata: bytes of remote chunks cached on local disk (0: memory only).
    #[serde(rename = "remote.log.cache.disk.bytes")]
    pub remote_log_cache_disk_bytes: i64,
    /// Strata: directory of the disk cache. Default: `<log.dirs>/remote-cache`.
    #[serde(rename = "remote.log.cache.dir")]
    pub remote_log_cache_dir: Option<PathBuf>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            node_id: 1,
            listeners: "127.0.0.1:9092".into(),
            advertised_listeners: None,
            log_dirs: PathBuf::from("strata-data"),
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics_enable: true,
            delete_topic_enable: true,
            socket_request_max_bytes: 104_857_600,
            max_connections: 10_000,
            queued_max_request_bytes: 256 * 1024 * 1024,
            message_max_bytes: 1_048_588,
            fetch_max_bytes: 57_671_680,
            log_segment_bytes: 1_073_741_824,
            log_roll_ms: None,
            log_roll_hours: 168,
            log_index_size_max_bytes: 10_485_760,
            log_index_interval_bytes: 4096,
            log_retention_ms: None,
            log_retention_minutes: None,
            log_retention_hours: 168,
            log_retention_bytes: -1,
            log_retention_check_interval_ms: 300_000,
            producer_id_expiration_ms: 86_400_000,
            producer_id_expiration_check_interval_ms: 600_000,
            log_flush_offset_checkpoint_interval_ms: 60_000,
            log_message_timestamp_type: "CreateTime".into(),
            log_message_timestamp_before_max_ms: i64::MAX,
            log_message_timestamp_after_max_ms: 3_600_000,
            log_cleanup_policy: "delete".into(),
            log_cleaner_enable: true,
            log_cleaner_backoff_ms: 15_000,
            log_cleaner_dedupe_buffer_size: 134_217_728,
            log_cleaner_io_buffer_size: 524_288,
            log_cleaner_io_max_bytes_per_second: f64::MAX,
            offsets_topic_num_partitions: 50,
            offsets_topic_segment_bytes: 104_857_600,
            offsets_retention_minutes: 10_080,
            offset_metadata_max_bytes: 4096,
            group_min_session_timeout_ms: 6000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3000,
            group_max_size: i32::MAX,
            max_partitions_per_request: 10_000,
            max_partitions_per_broker: 100_000,
            remote_log_storage_system_enable: true,
            remote_log_storage_url: None,
            remote_log_manager_task_interval_ms: 500,
            remote_log_manager_copy_max_bytes_per_second: i64::MAX,
            remote_log_manager_fetch_max_bytes_per_second: i64::MAX,
            remote_log_manager_copier_thread_pool_size: 4,
            remote_log_reader_threads: 8,
            remote_fetch_max_wait_ms: 500,
            remote_log_index_file_cache_total_size_bytes: 64 << 20,
            remote_log_fetch_chunk_bytes: 4 << 20,
            remote_log_fetch_read_ahead_chunks: 4,
            remote_log_cache_memory_bytes: 256 << 20,
            remote_log_cache_disk_bytes: 1 << 30,
            remote_log_cache_dir: None,
        }
    }
}

impl BrokerConfig {
    /// `remote.log.storage.url`, defaulted to a folder under the data directory.
    pub fn remote_storage_url(&self) -> String {
        match &self.remote_log_storage_url {
            Some(u) => u.clone(),
            None => {
                let dir = self.log_dirs.join("remote-tier");
                let abs = std::path::absolute(&dir).unwrap_or(dir);
                format!("file://{}", abs.display())
            }
        }
    }

    /// `remote.log.cache.dir`, defaulted to a folder under the data directory.
    pub fn remote_cache_dir(&self) -> PathBuf {
        self.remote_log_cache_dir
            .clone()
            .unwrap_or_else(|| self.log_dirs.join("remote-cache"))
    }
}

/// One bad configuration value, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value} for configuration {key}: {reason}")]
pub struct ConfigProblem {
    pub key: &'static str,
    pub value: String,
    pub reason: String,
}

impl BrokerConfig {
    /// Checks every value; returns all problems at once.
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &'static str, value: String, reason: &str| {
            if !ok {
                problems.push(ConfigProblem {
                    key,
                    value,
                    reason: reason.into(),
                });
            }
        };
        check(
            self.node_id >= 0,
            "node.id",
            self.node_id.to_string(),
            "must be >= 0",
        );
        check(
            self.listen_addr().is_ok(),
            "listeners",
            self.listeners.clone(),
            "must be host:port or PLAINTEXT://host:port",
        );
        if let Some(adv) = &self.advertised_listeners {
            check(
                split_host_port(adv).is_some(),
                "advertised.listeners",
                adv.clone(),
                "must be host:port or PLAINTEXT://host:port",
            );
        }
        check(
            self.num_partitions >= 1,
            "num.partitions",
            self.num_partitions.to_string(),
            "must be >= 1",
        );
        check(
            self.default_replication_factor >= 1,
            "default.replication.factor",
            self.default_replication_factor.to_string(),
            "must be >= 1",
        );
        check(
            self.socket_request_max_bytes >= 1024,
            "socket.request.max.bytes",
            self.socket_request_max_bytes.to_string(),
            "must be >= 1024",
        );
        check(
            self.max_connections >= 1,
            "max.connections",
            self.max_connections.to_string(),
            "must be >= 1",
        );
        check(
            self.queued_max_request_bytes >= self.socket_request_max_bytes as i64
                && self.queued_max_request_bytes <= MAX_MEMORY_BYTES,
            "queued.max.request.bytes",
            self.queued_max_request_bytes.to_string(),
            "must be >= socket.request.max.bytes and <= 1099511627776",
        );
        check(
            self.message_max_bytes >= 0,
            "message.max.bytes",
            self.message_max_bytes.to_string(),
            "must be >= 0",
        );
        check(
            self.fetch_max_bytes >= 1024,
            "fetch.max.bytes",
            self.fetch_max_bytes.to_string(),
            "must be >= 1024",
        );
        check(
            self.log_segment_bytes >= 1_048_576 && self.log_segment_bytes <= i32::MAX as i64,
            "log.segment.bytes",
            self.log_segment_bytes.to_string(),
            "must be between 1048576 and 2147483647",
        );
        check(
            self.log_roll_ms.is_none_or(|v| v >= 1),
            "log.roll.ms",
            format!("{:?}", self.log_roll_ms),
            "must be >= 1",
        );
        check(
            self.log_roll_hours >= 1,
            "log.roll.hours",
            self.log_roll_hours.to_string(),
            "must be >= 1",
        );
        check(
            self.log_index_size_max_bytes >= 4,
            "log.index.size.max.bytes",
            self.log_index_size_max_bytes.to_string(),
            "must be >= 4",
        );
        check(
            self.log_index_interval_bytes >= 0,
            "log.index.interval.bytes",
            self.log_index_interval_bytes.to_string(),
            "must be >= 0",
        );
        check(
            self.log_retention_ms.is_none_or(|v| v >= -1),
            "log.retention.ms",
            format!("{:?}", self.log_retention_ms),
            "must be >= -1",
        );
        check(
            self.producer_id_expiration_ms >= 1,
            "producer.id.expiration.ms",
            self.producer_id_expiration_ms.to_string(),
            "must be >= 1",
        );
        check(
            self.producer_id_expiration_check_interval_ms >= 1,
            "producer.id.expiration.check.interval.ms",
            self.producer_id_expiration_check_interval_ms.to_string(),
            "must be >= 1",
        );
        check(
            self.log_retention_check_interval_ms >= 1,
            "log.retention.check.interval.ms",
            self.log_retention_check_interval_ms.to_string(),
            "must be >= 1",
        );
        check(
            self.log_flush_offset_checkpoint_interval_ms >= 1,
            "log.flush.offset.checkpoint.interval.ms",
            self.log_flush_offset_checkpoint_interval_ms.to_string(),
            "must be >= 1",
        );
        check(
            matches!(
                self.log_message_timestamp_type.as_str(),
                "CreateTime" | "LogAppendTime"
            ),
            "log.message.timestamp.type",
            self.log_message_timestamp_type.clone(),
            "must be CreateTime or LogAppendTime",
        );
        check(
            self.log_message_timestamp_before_max_ms >= 0,
            "log.message.timestamp.before.max.ms",
            self.log_message_timestamp_before_max_ms.to_string(),
            "must be >= 0",
        );
        check(
            self.log_message_timestamp_after_max_ms >= 0,
            "log.message.timestamp.after.max.ms",
            self.log_message_timestamp_after_max_ms.to_string(),
            "must be >= 0",
        );
        check(
            strata_log::validate_topic_config("cleanup.policy", &self.log_cleanup_policy).is_ok(),
            "log.cleanup.policy",
            self.log_cleanup_policy.clone(),
            "must be delete, compact, or compact,delete",
        );
        check(
            self.log_cleaner_backoff_ms >= 0,
            "log.cleaner.backoff.ms",
            self.log_cleaner_backoff_ms.to_string(),
            "must be >= 0",
        );
        check(
            (1024 * 1024..=MAX_MEMORY_BYTES).contains(&self.log_cleaner_dedupe_buffer_size),
            "log.cleaner.dedupe.buffer.size",
            self.log_cleaner_dedupe_buffer_size.to_string(),
            "must be between 1048576 and 1099511627776",
        );
        check(
            (4096..=1 << 30).contains(&self.log_cleaner_io_buffer_size),
            "log.cleaner.io.buffer.size",
            self.log_cleaner_io_buffer_size.to_string(),
            "must be between 4096 and 1073741824",
        );
        check(
            self.log_cleaner_io_max_bytes_per_second > 0.0,
            "log.cleaner.io.max.bytes.per.second",
            self.log_cleaner_io_max_bytes_per_second.to_string(),
            "must be > 0",
        );
        check(
            self.remote_log_manager_task_interval_ms >= 1,
            "remote.log.manager.task.interval.ms",
            self.remote_log_manager_task_interval_ms.to_string(),
            "must be >= 1",
        );
        check(
            self.remote_log_manager_copy_max_bytes_per_second >= 1,
            "remote.log.manager.copy.max.bytes.per.second",
            self.remote_log_manager_copy_max_bytes_per_second
                .to_string(),
            "must be >= 1",
        );
        check(
            self.remote_log_manager_fetch_max_bytes_per_second >= 1,
            "remote.log.manager.fetch.max.bytes.per.second",
            self.remote_log_manager_fetch_max_bytes_per_second
                .to_string(),
            "must be >= 1",
        );
        check(
            (1..=256).contains(&self.remote_log_manager_copier_thread_pool_size),
            "remote.log.manager.copier.thread.pool.size",
            self.remote_log_manager_copier_thread_pool_size.to_string(),
            "must be between 1 and 256",
        );
        check(
            (1..=256).contains(&self.remote_log_reader_threads),
            "remote.log.reader.threads",
            self.remote_log_reader_threads.to_string(),
            "must be between 1 and 256",
        );
        check(
            self.remote_fetch_max_wait_ms >= 1,
            "remote.fetch.max.wait.ms",
            self.remote_fetch_max_wait_ms.to_string(),
            "must be >= 1",
        );
        check(
            (1..=MAX_MEMORY_BYTES).contains(&self.remote_log_index_file_cache_total_size_bytes),
            "remote.log.index.file.cache.total.size.bytes",
            self.remote_log_index_file_cache_total_size_bytes
                .to_string(),
            "must be between 1 and 1099511627776",
        );
        check(
            (65_536..=268_435_456).contains(&self.remote_log_fetch_chunk_bytes),
            "remote.log.fetch.chunk.bytes",
            self.remote_log_fetch_chunk_bytes.to_string(),
            "must be between 65536 and 268435456",
        );
        check(
            (0..=64).contains(&self.remote_log_fetch_read_ahead_chunks),
            "remote.log.fetch.read.ahead.chunks",
            self.remote_log_fetch_read_ahead_chunks.to_string(),
            "must be between 0 and 64",
        );
        check(
            self.remote_log_cache_memory_bytes >= self.remote_log_fetch_chunk_bytes
                && self.remote_log_cache_memory_bytes <= MAX_MEMORY_BYTES,
            "remote.log.cache.memory.bytes",
            self.remote_log_cache_memory_bytes.to_string(),
            "must be >= remote.log.fetch.chunk.bytes and <= 1099511627776",
        );
        check(
            (0..=MAX_DISK_BYTES).contains(&self.remote_log_cache_disk_bytes),
            "remote.log.cache.disk.bytes",
            self.remote_log_cache_disk_bytes.to_string(),
            "must be between 0 and 1125899906842624",
        );
        if let Some(url) = &self.remote_log_storage_url {
            check(
                ["file://", "s3://", "gs://", "az://", "memory://"]
                    .iter()
                    .any(|s| url.starts_with(s)),
                "remote.log.storage.url",
                url.clone(),
                "must start with file://, s3://, gs://, az:// or memory://",
            );
        }
        check(
            (1..=1000).contains(&self.offsets_topic_num_partitions),
            "offsets.topic.num.partitions",
            self.offsets_topic_num_partitions.to_string(),
            "must be between 1 and 1000",
        );
        check(
            self.offsets_topic_segment_bytes >= 1_048_576
                && self.offsets_topic_segment_bytes <= i32::MAX as i64,
            "offsets.topic.segment.bytes",
            self.offsets_topic_segment_bytes.to_string(),
            "must be between 1048576 and 2147483647",
        );
        check(
            self.offsets_retention_minutes >= 1,
            "offsets.retention.minutes",
            self.offsets_retention_minutes.to_string(),
            "must be >= 1",
        );
        check(
            self.offset_metadata_max_bytes >= 0,
            "offset.metadata.max.bytes",
            self.offset_metadata_max_bytes.to_string(),
            "must be >= 0",
        );
        check(
            self.group_min_session_timeout_ms >= 0
                && self.group_min_session_timeout_ms <= self.group_max_session_timeout_ms,
            "group.min.session.timeout.ms",
            self.group_min_session_timeout_ms.to_string(),
            "must be >= 0 and <= group.max.session.timeout.ms",
        );
        check(
            self.group_initial_rebalance_delay_ms >= 0,
            "group.initial.rebalance.delay.ms",
            self.group_initial_rebalance_delay_ms.to_string(),
            "must be >= 0",
        );
        check(
            self.group_max_size >= 1,
            "group.max.size",
            self.group_max_size.to_string(),
            "must be >= 1",
        );
        check(
            (1..=1_000_000).contains(&self.max_partitions_per_request),
            "strata.max.partitions.per.request",
            self.max_partitions_per_request.to_string(),
            "must be between 1 and 1000000",
        );
        check(
            (1..=10_000_000).contains(&self.max_partitions_per_broker),
            "strata.max.partitions.per.broker",
            self.max_partitions_per_broker.to_string(),
            "must be between 1 and 10000000",
        );
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Every broker property with its value, for DescribeConfigs.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let opt = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
        vec![
            ("node.id", self.node_id.to_string()),
            ("listeners", self.listeners.clone()),
            (
                "advertised.listeners",
                self.advertised_listeners.clone().unwrap_or_default(),
            ),
            ("log.dirs", self.log_dirs.display().to_string()),
            ("num.partitions", self.num_partitions.to_string()),
            (
                "default.replication.factor",
                self.default_replication_factor.to_string(),
            ),
            (
                "auto.create.topics.enable",
                self.auto_create_topics_enable.to_string(),
            ),
            ("delete.topic.enable", self.delete_topic_enable.to_string()),
            (
                "socket.request.max.bytes",
                self.socket_request_max_bytes.to_string(),
            ),
            ("max.connections", self.max_connections.to_string()),
            (
                "queued.max.request.bytes",
                self.queued_max_request_bytes.to_string(),
            ),
            ("message.max.bytes", self.message_max_bytes.to_string()),
            ("fetch.max.bytes", self.fetch_max_bytes.to_string()),
            ("log.segment.bytes", self.log_segment_bytes.to_string()),
            ("log.roll.ms", opt(self.log_roll_ms)),
            ("log.roll.hours", self.log_roll_hours.to_string()),
            (
                "log.index.size.max.bytes",
                self.log_index_size_max_bytes.to_string(),
            ),
            (
                "log.index.interval.bytes",
                self.log_index_interval_bytes.to_string(),
            ),
            ("log.retention.ms", opt(self.log_retention_ms)),
            ("log.retention.minutes", opt(self.log_retention_minutes)),
            ("log.retention.hours", self.log_retention_hours.to_string()),
            ("log.retention.bytes", self.log_retention_bytes.to_string()),
            (
                "log.retention.check.interval.ms",
                self.log_retention_check_interval_ms.to_string(),
            ),
            (
                "producer.id.expiration.ms",
                self.producer_id_expiration_ms.to_string(),
            ),
            (
                "producer.id.expiration.check.interval.ms",
                self.producer_id_expiration_check_interval_ms.to_string(),
            ),
            (
                "log.flush.offset.checkpoint.interval.ms",
                self.log_flush_offset_checkpoint_interval_ms.to_string(),
            ),
            (
                "log.message.timestamp.type",
                self.log_message_timestamp_type.clone(),
            ),
            (
                "log.message.timestamp.before.max.ms",
                self.log_message_timestamp_before_max_ms.to_string(),
            ),
            (
                "log.message.timestamp.after.max.ms",
                self.log_message_timestamp_after_max_ms.to_string(),
            ),
            ("log.cleanup.policy", self.log_cleanup_policy.clone()),
            ("log.cleaner.enable", self.log_cleaner_enable.to_string()),
            (
                "log.cleaner.backoff.ms",
                self.log_cleaner_backoff_ms.to_string(),
            ),
            (
                "log.cleaner.dedupe.buffer.size",
                self.log_cleaner_dedupe_buffer_size.to_string(),
            ),
            (
                "log.cleaner.io.buffer.size",
                self.log_cleaner_io_buffer_size.to_string(),
            ),
            (
                "log.cleaner.io.max.bytes.per.second",
                self.log_cleaner_io_max_bytes_per_second.to_string(),
            ),
            (
                "offsets.topic.num.partitions",
                self.offsets_topic_num_partitions.to_string(),
            ),
            (
                "remote.log.storage.system.enable",
                self.remote_log_storage_system_enable.to_string(),
            ),
            ("remote.log.storage.url", self.remote_storage_url()),
            (
                "remote.log.manager.task.interval.ms",
                self.remote_log_manager_task_interval_ms.to_string(),
            ),
            (
                "remote.log.manager.copy.max.bytes.per.second",
                self.remote_log_manager_copy_max_bytes_per_second
                    .to_string(),
            ),
            (
                "remote.log.manager.fetch.max.bytes.per.second",
                self.remote_log_manager_fetch_max_bytes_per_second
                    .to_string(),
            ),
            (
                "remote.log.reader.threads",
                self.remote_log_reader_threads.to_string(),
            ),
            (
                "remote.log.fetch.chunk.bytes",
                self.remote_log_fetch_chunk_bytes.to_string(),
            ),
            (
                "remote.log.cache.memory.bytes",
                self.remote_log_cache_memory_bytes.to_string(),
            ),
            (
                "remote.log.cache.disk.bytes",
                self.remote_log_cache_disk_bytes.to_string(),
            ),
            (
                "offsets.topic.segment.bytes",
                self.offsets_topic_segment_bytes.to_string(),
            ),
            (
                "offsets.retention.minutes",
                self.offsets_retention_minutes.to_string(),
            ),
            (
                "offset.metadata.max.bytes",
                self.offset_metadata_max_bytes.to_string(),
            ),
            (
                "group.min.session.timeout.ms",
                self.group_min_session_timeout_ms.to_string(),
            ),
            (
                "group.max.session.timeout.ms",
                self.group_max_session_timeout_ms.to_string(),
            ),
            (
                "group.initial.rebalance.delay.ms",
                self.group_initial_rebalance_delay_ms.to_string(),
            ),
            ("group.max.size", self.group_max_size.to_string()),
            (
                "strata.max.partitions.per.request",
                self.max_partitions_per_request.to_string(),
            ),
            (
                "strata.max.partitions.per.broker",
                self.max_partitions_per_broker.to_string(),
            ),
        ]
    }

    /// The group coordinator's settings.
    pub fn group_config(&self) -> strata_groups::GroupConfig {
        strata_groups::GroupConfig {
            min_session_timeout_ms: self.group_min_session_timeout_ms,
            max_session_timeout_ms: self.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: self.group_initial_rebalance_delay_ms,
            max_size: self.group_max_size,
            offsets_retention_ms: self.offsets_retention_minutes.saturating_mul(60_000),
            offset_metadata_max_bytes: self.offset_metadata_max_bytes.max(0) as usize,
        }
    }

    /// The address to bind.
    pub fn listen_addr(&self) -> Result<std::net::SocketAddr, String> {
        let (host, port) = split_host_port(&self.listeners)
            .ok_or_else(|| format!("bad listener {}", self.listeners))?;
        use std::net::ToSocketAddrs;
        (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or_else(|| format!("{} resolves to no address", self.listeners))
    }

    /// The host and port clients are told to use.
    pub fn advertised(&self, bound: std::net::SocketAddr) -> (String, i32) {
        self.advertised_listeners
            .as_deref()
            .and_then(split_host_port)
            .map(|(h, p)| (h, p as i32))
            .unwrap_or_else(|| (bound.ip().to_string(), bound.port() as i32))
    }

    /// The topic-level defaults these broker properties imply.
    pub fn log_defaults(&self) -> LogConfig {
        let retention_ms = self
            .log_retention_ms
            .or(self.log_retention_minutes.map(|m| m.saturating_mul(60_000)))
            .unwrap_or(self.log_retention_hours.saturating_mul(3_600_000));
        LogConfig {
            segment_bytes: self.log_segment_bytes.max(1) as u64,
            segment_ms: self
                .log_roll_ms
                .unwrap_or(self.log_roll_hours.saturating_mul(3_600_000)),
            segment_index_bytes: self.log_index_size_max_bytes.max(4) as u64,
            index_interval_bytes: self.log_index_interval_bytes.max(0) as u64,
            retention_ms,
            retention_bytes: self.log_retention_bytes,
            max_message_bytes: self.message_max_bytes,
            message_timestamp_type: if self.log_message_timestamp_type == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            message_timestamp_before_max_ms: self.log_message_timestamp_before_max_ms,
            message_timestamp_after_max_ms: self.log_message_timestamp_after_max_ms,
            cleanup_policy: self.log_cleanup_policy.clone(),
            other_overrides: Default::default(),
        }
    }
}

fn split_host_port(s: &str) -> Option<(String, u16)> {
    let s = s.split(',').next()?.trim();
    let s = s.split_once("://").map(|(_, rest)| rest).unwrap_or(s);
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    Some((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(BrokerConfig::default().validate().is_ok());
    }

    #[test]
    fn every_problem_is_reported() {
        let c = BrokerConfig {
            num_partitions: 0,
            listeners: "nonsense".into(),
            ..Default::default()
        };
        let errs = c.validate().unwrap_err();
        let keys: Vec<_> = errs.iter().map(|p| p.key).collect();
        assert!(keys.contains(&"num.partitions"));
        assert!(keys.contains(&"listeners"));
    }

    /// Regression: an i64::MAX queued.max.request.bytes passed validation and then
    /// panicked in `Semaphore::new` at start-up.
    #[test]
    fn memory_sizes_are_bounded_above() {
        let c = BrokerConfig {
            queued_max_request_bytes: i64::MAX,
            log_cleaner_dedupe_buffer_size: i64::MAX,
            remote_log_cache_memory_bytes: i64::MAX,
            remote_log_cache_disk_bytes: i64::MAX,
            remote_log_index_file_cache_total_size_bytes: i64::MAX,
            ..Default::default()
        };
        let errs = c.validate().unwrap_err();
        let keys: Vec<_> = errs.iter().map(|p| p.key).collect();
        for k in [
            "queued.max.request.bytes",
            "log.cleaner.dedupe.buffer.size",
            "remote.log.cache.memory.bytes",
            "remote.log.cache.disk.bytes",
            "remote.log.index.file.cache.total.size.bytes",
        ] {
            assert!(keys.contains(&k), "{k} not refused: {keys:?}");
        }
    }

    #[test]
    fn listener_forms() {
        assert_eq!(
            split_host_port("PLAINTEXT://127.0.0.1:9092"),
            Some(("127.0.0.1".into(), 9092))
        );
        assert_eq!(split_host_port(":9093"), Some(("0.0.0.0".into(), 9093)));
        assert_eq!(split_host_port("localhost"), None);
    }
}
