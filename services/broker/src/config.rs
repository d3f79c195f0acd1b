//! The node configuration: Kafka's broker property names, every field defaulted.
//!
//! Each key is one line of the table in [`broker_config!`]: its name, field, type,
//! default and the rule its value must meet. Parsing (serde), the defaults,
//! validation and DescribeConfigs all come from that line, so a key cannot be added
//! to one and forgotten in another. Rules that relate two keys are in
//! [`BrokerConfig::validate`].

use std::path::PathBuf;

use serde::Deserialize;
use strata_log::{LogConfig, TimestampType};

/// The largest in-memory size any config may ask for (1 TiB): a bound so a typo cannot
/// overflow the arithmetic or the allocators that size buffers and semaphores from it.
const MAX_MEMORY_BYTES: i64 = 1 << 40;
/// The largest on-disk cache any config may ask for (1 PiB).
const MAX_DISK_BYTES: i64 = 1 << 50;
/// The schemes `remote.log.storage.url` may use.
const REMOTE_SCHEMES: [&str; 5] = ["file://", "s3://", "gs://", "az://", "memory://"];

/// What a key's value must be.
enum Rule<T: 'static> {
    /// Anything its type holds.
    Any,
    /// At least this.
    AtLeast(T),
    /// Between the two, inclusive.
    Within(T, T),
    /// What the predicate accepts; the text says what that is.
    Holds(fn(&T) -> bool, &'static str),
}

impl<T: PartialOrd + Show> Rule<T> {
    fn check(&self, v: &T) -> Result<(), String> {
        match self {
            Rule::Any => Ok(()),
            Rule::AtLeast(lo) if v >= lo => Ok(()),
            Rule::AtLeast(lo) => Err(format!("must be >= {}", lo.show())),
            Rule::Within(lo, hi) if v >= lo && v <= hi => Ok(()),
            Rule::Within(lo, hi) => Err(format!("must be between {} and {}", lo.show(), hi.show())),
            Rule::Holds(ok, _) if ok(v) => Ok(()),
            Rule::Holds(_, what) => Err((*what).to_string()),
        }
    }
}

/// A config value as DescribeConfigs and error messages print it (unset: empty).
trait Show {
    fn show(&self) -> String;
}

macro_rules! show_by_display {
    ($($t:ty),*) => { $(impl Show for $t { fn show(&self) -> String { self.to_string() } })* };
}
show_by_display!(i16, i32, i64, f64, bool, String);

impl Show for PathBuf {
    fn show(&self) -> String {
        self.display().to_string()
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self) -> String {
        self.as_ref().map(Show::show).unwrap_or_default()
    }
}

/// The table of broker keys: `"key" field: Type = default, rule;`, each with its doc.
macro_rules! broker_config {
    ($( $(#[doc = $doc:expr])* $key:literal $field:ident : $ty:ty = $default:expr, $rule:expr; )*) => {
        /// Broker settings under Kafka's property names (`num.partitions`, `log.dirs`, …).
        ///
        /// Unknown keys are rejected when parsed (`deny_unknown_fields`);
        /// [`BrokerConfig::validate`] then reports every bad value at once. Where a
        /// default differs from Apache Kafka's, the field says why.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct BrokerConfig {
            $( $(#[doc = $doc])* #[serde(rename = $key)] pub $field: $ty, )*
        }

        impl Default for BrokerConfig {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        impl BrokerConfig {
            /// Every key, in table order.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// Each key's own rule.
            fn check_each(&self, problems: &mut Vec<ConfigProblem>) {
                $(
                    let rule: Rule<$ty> = $rule;
                    if let Err(reason) = rule.check(&self.$field) {
                        problems.push(ConfigProblem { key: $key, value: self.$field.show(), reason });
                    }
                )*
            }

            /// Every key with its value as set.
            fn values(&self) -> Vec<(&'static str, String)> {
                vec![$( ($key, self.$field.show()) ),*]
            }
        }
    };
}

use Rule::{Any, AtLeast, Holds, Within};

broker_config! {
    "node.id" node_id: i32 = 1, AtLeast(0);
    /// `host:port` to bind (Kafka's `listeners` is `PLAINTEXT://host:port`; both forms
    /// are accepted).
    "listeners" listeners: String = "127.0.0.1:9092".into(),
        Holds(|v| !listener_entries(v).is_empty() && listener_entries(v).iter().all(|(_, hp)| resolve_one(hp).is_ok()),
            "must be host:port or NAME://host:port,…");
    /// What clients are told to connect to; defaults to the bound address.
    "advertised.listeners" advertised_listeners: Option<String> = None,
        Holds(|v| v.as_deref().is_none_or(|a| split_host_port(a).is_some()),
            "must be host:port or PLAINTEXT://host:port");
    /// `broker`, `controller`, or both (combined). A controller is a voter of the
    /// metadata quorum (or an observer of a dynamic quorum until promoted); a broker
    /// serves Kafka clients. A broker-only node follows the metadata log as an observer.
    "process.roles" process_roles: String = "broker,controller".into(),
        Holds(|v| roles(v).is_some_and(|(b, c)| b || c), "must be broker, controller, or broker,controller");
    /// The metadata quorum, `id@host:port,…` (each voter's CONTROLLER listener), the
    /// same on every node. Unset (and no bootstrap servers): a single node whose
    /// metadata log is local, as before clusters.
    "controller.quorum.voters" controller_quorum_voters: Option<String> = None,
        Holds(|v| v.as_deref().is_none_or(|s| parse_voters(s).is_ok()), "must be id@host:port,… with distinct ids");
    /// A dynamic quorum (KIP-853): `host:port,…` of controllers to contact. The first
    /// controller is made the only voter by `strata format --standalone`; every other
    /// node joins as an observer and a controller becomes a voter with
    /// `strata cluster add-voter`.
    "controller.quorum.bootstrap.servers" controller_quorum_bootstrap_servers: Option<String> = None,
        Holds(|v| v.as_deref().is_none_or(|s| parse_addresses(s).is_ok()), "must be host:port,…");
    /// Whether the active controller moves leadership back to each partition's
    /// preferred (first) replica when a broker's imbalance passes the threshold.
    "auto.leader.rebalance.enable" auto_leader_rebalance_enable: bool = true, Any;
    /// How often the active controller checks leader imbalance.
    "leader.imbalance.check.interval.seconds" leader_imbalance_check_interval_seconds: i64 = 300, Within(1, 86_400);
    /// The share of a broker's preferred leaderships led elsewhere that triggers a
    /// rebalance.
    "leader.imbalance.per.broker.percentage" leader_imbalance_per_broker_percentage: i32 = 10, Within(0, 100);
    /// Which entry of `listeners` serves the control plane (gRPC).
    "controller.listener.names" controller_listener_names: String = "CONTROLLER".into(),
        Holds(|v| !v.trim().is_empty(), "must name a listener");
    /// How often a broker of a cluster heartbeats to the active controller.
    "broker.heartbeat.interval.ms" broker_heartbeat_interval_ms: i64 = 2000, Within(10, 3_600_000);
    /// A broker whose heartbeats stop for this long is fenced and its leaderships move.
    "broker.session.timeout.ms" broker_session_timeout_ms: i64 = 9000, Within(10, 3_600_000);
    /// The rack of this broker, for rack-aware replica placement.
    "broker.rack" broker_rack: Option<String> = None, Any;
    /// The cluster this node's data directory belongs to (Kafka's `kafka-storage.sh
    /// format -t`): written at the first start, refused at any later start that names
    /// another. Unset: a new single node picks a random one.
    "cluster.id" cluster_id: Option<String> = None,
        Holds(|v| v.as_deref().is_none_or(valid_cluster_id), "must be 1-64 characters of A-Z a-z 0-9 _ -");
    "log.dirs" log_dirs: PathBuf = PathBuf::from("strata-data"), Any;
    "num.partitions" num_partitions: i32 = 1, AtLeast(1);
    "default.replication.factor" default_replication_factor: i16 = 1, AtLeast(1);
    "auto.create.topics.enable" auto_create_topics_enable: bool = true, Any;
    "delete.topic.enable" delete_topic_enable: bool = true, Any;
    "socket.request.max.bytes" socket_request_max_bytes: i32 = 104_857_600, AtLeast(1024);
    /// Kafka's default is unbounded (`Integer.MAX_VALUE`); Strata bounds file handles
    /// by default.
    "max.connections" max_connections: i32 = 10_000, AtLeast(1);
    /// Bytes of requests read but not yet answered, over all connections. Kafka's
    /// default (-1) is unbounded; Strata bounds memory by default. At least
    /// `socket.request.max.bytes`.
    "queued.max.request.bytes" queued_max_request_bytes: i64 = 256 * 1024 * 1024,
        Within(1024, MAX_MEMORY_BYTES);
    "message.max.bytes" message_max_bytes: i32 = 1_048_588, AtLeast(0);
    /// The most bytes one Fetch response carries, whatever the request asks for.
    "fetch.max.bytes" fetch_max_bytes: i32 = 57_671_680, AtLeast(1024);
    "log.segment.bytes" log_segment_bytes: i64 = 1_073_741_824,
        Within(1_048_576, i32::MAX as i64);
    "log.roll.ms" log_roll_ms: Option<i64> = None,
        Holds(|v| v.is_none_or(|v| v >= 1), "must be >= 1");
    "log.roll.hours" log_roll_hours: i64 = 168, AtLeast(1);
    "log.index.size.max.bytes" log_index_size_max_bytes: i64 = 10_485_760, AtLeast(4);
    "log.index.interval.bytes" log_index_interval_bytes: i64 = 4096, AtLeast(0);
    "log.retention.ms" log_retention_ms: Option<i64> = None,
        Holds(|v| v.is_none_or(|v| v >= -1), "must be >= -1");
    "log.retention.minutes" log_retention_minutes: Option<i64> = None,
        Holds(|v| v.is_none_or(|v| v >= -1), "must be >= -1");
    "log.retention.hours" log_retention_hours: i64 = 168, AtLeast(-1);
    "log.retention.bytes" log_retention_bytes: i64 = -1, AtLeast(-1);
    "log.retention.check.interval.ms" log_retention_check_interval_ms: i64 = 300_000, AtLeast(1);
    "log.flush.offset.checkpoint.interval.ms" log_flush_offset_checkpoint_interval_ms: i64 = 60_000,
        AtLeast(1);
    /// How long an idempotent producer's state is kept after its last batch.
    "producer.id.expiration.ms" producer_id_expiration_ms: i64 = 86_400_000, AtLeast(1);
    "producer.id.expiration.check.interval.ms" producer_id_expiration_check_interval_ms: i64 = 600_000,
        AtLeast(1);
    "log.message.timestamp.type" log_message_timestamp_type: String = "CreateTime".into(),
        Holds(|v| matches!(v.as_str(), "CreateTime" | "LogAppendTime"),
            "must be CreateTime or LogAppendTime");
    "log.message.timestamp.before.max.ms" log_message_timestamp_before_max_ms: i64 = i64::MAX,
        AtLeast(0);
    "log.message.timestamp.after.max.ms" log_message_timestamp_after_max_ms: i64 = 3_600_000,
        AtLeast(0);
    "log.cleanup.policy" log_cleanup_policy: String = "delete".into(),
        Holds(|v| strata_log::validate_topic_config("cleanup.policy", v).is_ok(),
            "must be delete, compact, or compact,delete");
    "log.cleaner.enable" log_cleaner_enable: bool = true, Any;
    "log.cleaner.backoff.ms" log_cleaner_backoff_ms: i64 = 15_000, AtLeast(0);
    "log.cleaner.dedupe.buffer.size" log_cleaner_dedupe_buffer_size: i64 = 134_217_728,
        Within(1024 * 1024, MAX_MEMORY_BYTES);
    "log.cleaner.io.buffer.size" log_cleaner_io_buffer_size: i64 = 524_288, Within(4096, 1 << 30);
    "log.cleaner.io.max.bytes.per.second" log_cleaner_io_max_bytes_per_second: f64 = f64::MAX,
        Holds(|v| *v > 0.0, "must be > 0");
    "offsets.topic.num.partitions" offsets_topic_num_partitions: i32 = 50, Within(1, 1000);
    "offsets.topic.segment.bytes" offsets_topic_segment_bytes: i64 = 104_857_600,
        Within(1_048_576, i32::MAX as i64);
    "offsets.retention.minutes" offsets_retention_minutes: i64 = 10_080, AtLeast(1);
    "offset.metadata.max.bytes" offset_metadata_max_bytes: i32 = 4096, AtLeast(0);
    /// At most `group.max.session.timeout.ms`.
    "group.min.session.timeout.ms" group_min_session_timeout_ms: i32 = 6000, AtLeast(0);
    "group.max.session.timeout.ms" group_max_session_timeout_ms: i32 = 1_800_000, AtLeast(0);
    "group.initial.rebalance.delay.ms" group_initial_rebalance_delay_ms: i32 = 3000, AtLeast(0);
    "group.max.size" group_max_size: i32 = i32::MAX, AtLeast(1);
    /// Strata only (Kafka has no such bound): partitions one CreateTopics or
    /// CreatePartitions request may create, so one request cannot make the node open a
    /// million logs.
    "strata.max.partitions.per.request" max_partitions_per_request: i32 = 10_000,
        Within(1, 1_000_000);
    /// Strata only: partition replicas this broker may host in all.
    "strata.max.partitions.per.broker" max_partitions_per_broker: i32 = 100_000,
        Within(1, 10_000_000);
    /// Kafka's default is false; Strata tiers out of the box (into a folder under the
    /// data directory unless `remote.log.storage.url` says otherwise).
    "remote.log.storage.system.enable" remote_log_storage_system_enable: bool = true, Any;
    /// Where the remote tier lives: `file:///dir`, `s3://bucket/prefix`, `gs://…`,
    /// `az://…`, `memory://`. Default: `<log.dirs>/remote-tier`. (Kafka configures a
    /// plugin class instead.)
    "remote.log.storage.url" remote_log_storage_url: Option<String> = None,
        Holds(|v| v.as_deref().is_none_or(|u| REMOTE_SCHEMES.iter().any(|s| u.starts_with(s))),
            "must start with file://, s3://, gs://, az:// or memory://");
    /// Kafka's default is 30 s; sweeping in-memory state is cheap, and time-based
    /// retention of the remote tier runs sooner (uploads start on each roll anyway).
    "remote.log.manager.task.interval.ms" remote_log_manager_task_interval_ms: i64 = 500,
        AtLeast(1);
    "remote.log.manager.copy.max.bytes.per.second" remote_log_manager_copy_max_bytes_per_second: i64 = i64::MAX,
        AtLeast(1);
    "remote.log.manager.fetch.max.bytes.per.second" remote_log_manager_fetch_max_bytes_per_second: i64 = i64::MAX,
        AtLeast(1);
    "remote.log.manager.copier.thread.pool.size" remote_log_manager_copier_thread_pool_size: i32 = 4,
        Within(1, 256);
    /// Concurrent GETs of remote chunks (Kafka: threads serving remote fetches).
    "remote.log.reader.threads" remote_log_reader_threads: i32 = 8, Within(1, 256);
    /// How long a Fetch waits for remote data before answering without it (Kafka's
    /// `remote.fetch.max.wait.ms`); the read goes on and fills the cache for the retry.
    "remote.fetch.max.wait.ms" remote_fetch_max_wait_ms: i64 = 500, AtLeast(1);
    "remote.log.index.file.cache.total.size.bytes" remote_log_index_file_cache_total_size_bytes: i64 = 64 << 20,
        Within(1, MAX_MEMORY_BYTES);
    /// Strata: bytes of remote data fetched and cached per GET.
    "remote.log.fetch.chunk.bytes" remote_log_fetch_chunk_bytes: i64 = 4 << 20,
        Within(65_536, 268_435_456);
    /// Strata: chunks fetched ahead of a sequential remote reader.
    "remote.log.fetch.read.ahead.chunks" remote_log_fetch_read_ahead_chunks: i32 = 4, Within(0, 64);
    /// Strata: bytes of remote chunks cached in memory (at least
    /// `remote.log.fetch.chunk.bytes`).
    "remote.log.cache.memory.bytes" remote_log_cache_memory_bytes: i64 = 256 << 20,
        Within(65_536, MAX_MEMORY_BYTES);
    /// Strata: bytes of remote chunks cached on local disk (0: memory only).
    "remote.log.cache.disk.bytes" remote_log_cache_disk_bytes: i64 = 1 << 30,
        Within(0, MAX_DISK_BYTES);
    /// Strata: directory of the disk cache. Default: `<log.dirs>/remote-cache`.
    "remote.log.cache.dir" remote_log_cache_dir: Option<PathBuf> = None, Any;
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
    /// Checks every value (each key's rule, then the rules between keys); returns all
    /// problems at once.
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        self.check_each(&mut problems);
        let mut relate = |ok: bool, key: &'static str, value: String, reason: &str| {
            if !ok {
                problems.push(ConfigProblem {
                    key,
                    value,
                    reason: reason.into(),
                });
            }
        };
        let (is_broker, is_controller) = self.roles();
        relate(
            !is_broker || resolve(&self.listeners).is_ok(),
            "listeners",
            self.listeners.clone(),
            "must have a Kafka listener (host:port or PLAINTEXT://host:port) when process.roles includes broker",
        );
        if let Some(Ok(voters)) = self.controller_quorum_voters.as_deref().map(parse_voters) {
            let listed = voters.contains_key(&(self.node_id as u64));
            relate(
                listed == is_controller,
                "controller.quorum.voters",
                self.controller_quorum_voters.clone().unwrap_or_default(),
                if is_controller {
                    "must name this node's node.id (process.roles includes controller)"
                } else {
                    "must not name this node's node.id (process.roles is broker only)"
                },
            );
        }
        relate(
            !(self.controller_quorum_voters.is_some()
                && self.controller_quorum_bootstrap_servers.is_some()),
            "controller.quorum.bootstrap.servers",
            self.controller_quorum_bootstrap_servers.clone().unwrap_or_default(),
            "must not be set together with controller.quorum.voters (a static or a dynamic quorum, not both)",
        );
        relate(
            self.is_cluster() || (is_broker && is_controller),
            "process.roles",
            self.process_roles.clone(),
            "must be broker,controller unless controller.quorum.voters or controller.quorum.bootstrap.servers names a quorum",
        );
        if self.is_cluster() {
            relate(
                self.controller_listen_addr().is_some_and(|a| a.is_ok()),
                "listeners",
                self.listeners.clone(),
                "must have an entry named by controller.listener.names (e.g. CONTROLLER://127.0.0.1:9093) on every node of a cluster (brokers receive the metadata log there)",
            );
        }
        relate(
            self.broker_heartbeat_interval_ms < self.broker_session_timeout_ms,
            "broker.heartbeat.interval.ms",
            self.broker_heartbeat_interval_ms.to_string(),
            "must be below broker.session.timeout.ms",
        );
        relate(
            self.queued_max_request_bytes >= self.socket_request_max_bytes as i64,
            "queued.max.request.bytes",
            self.queued_max_request_bytes.to_string(),
            "must be >= socket.request.max.bytes",
        );
        relate(
            self.remote_log_cache_memory_bytes >= self.remote_log_fetch_chunk_bytes,
            "remote.log.cache.memory.bytes",
            self.remote_log_cache_memory_bytes.to_string(),
            "must be >= remote.log.fetch.chunk.bytes",
        );
        relate(
            self.group_min_session_timeout_ms <= self.group_max_session_timeout_ms,
            "group.min.session.timeout.ms",
            self.group_min_session_timeout_ms.to_string(),
            "must be <= group.max.session.timeout.ms",
        );
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Every broker property with its value, for DescribeConfigs (the remote tier's
    /// URL and cache directory with their defaults filled in).
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let mut all = self.values();
        for (key, value) in &mut all {
            match *key {
                "remote.log.storage.url" => *value = self.remote_storage_url(),
                "remote.log.cache.dir" => *value = self.remote_cache_dir().display().to_string(),
                _ => {}
            }
        }
        all
    }

    /// How the controller fills in and bounds admin requests.
    pub fn controller_settings(&self) -> strata_metadata::ControllerSettings {
        strata_metadata::ControllerSettings {
            defaults: (self.num_partitions, self.default_replication_factor),
            limits: strata_metadata::PartitionLimits {
                per_request: self.max_partitions_per_request.max(1) as usize,
                per_broker: self.max_partitions_per_broker.max(1) as usize,
            },
            log_defaults: self.log_defaults(),
            tiered_storage: self.remote_log_storage_system_enable,
            node_id: self.node_id,
            leader_rebalance: self.auto_leader_rebalance_enable.then(|| {
                strata_metadata::LeaderRebalance {
                    interval: std::time::Duration::from_secs(
                        self.leader_imbalance_check_interval_seconds.max(1) as u64,
                    ),
                    per_broker_percentage: self.leader_imbalance_per_broker_percentage,
                }
            }),
        }
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

    /// The address the Kafka listener binds: the first entry of `listeners` that is
    /// not the controller's.
    pub fn listen_addr(&self) -> Result<std::net::SocketAddr, String> {
        resolve(&self.listeners)
    }

    /// The address the control plane binds (the `controller.listener.names` entry of
    /// `listeners`), if there is one.
    pub fn controller_listen_addr(&self) -> Option<Result<std::net::SocketAddr, String>> {
        let name = self.controller_listener_names.split(',').next()?.trim();
        listener_entries(&self.listeners)
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, hp)| resolve_one(&hp))
    }

    /// (broker, controller) from `process.roles`.
    pub fn roles(&self) -> (bool, bool) {
        roles(&self.process_roles).unwrap_or((true, true))
    }

    /// Whether this node is part of a cluster (a static or a dynamic quorum is named).
    pub fn is_cluster(&self) -> bool {
        self.controller_quorum_voters.is_some()
            || self.controller_quorum_bootstrap_servers.is_some()
    }

    /// The controllers' control-plane addresses this node may ask first: the static
    /// voters' or the bootstrap servers'.
    pub fn quorum_contacts(&self) -> Vec<String> {
        if let Some(v) = self.quorum_voters() {
            return v.into_values().collect();
        }
        self.controller_quorum_bootstrap_servers
            .as_deref()
            .and_then(|s| parse_addresses(s).ok())
            .unwrap_or_default()
    }

    /// The quorum's voters (node id → control-plane address), when this node is part
    /// of a cluster.
    pub fn quorum_voters(&self) -> Option<std::collections::BTreeMap<u64, String>> {
        self.controller_quorum_voters
            .as_deref()
            .and_then(|v| parse_voters(v).ok())
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

/// The entries of a `listeners` list as (name, `host:port`); an entry without a
/// `NAME://` prefix is PLAINTEXT.
fn listener_entries(list: &str) -> Vec<(String, String)> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| match e.split_once("://") {
            Some((name, rest)) => (name.to_string(), rest.to_string()),
            None => ("PLAINTEXT".to_string(), e.to_string()),
        })
        .collect()
}

/// `process.roles` as (broker, controller), or `None` for an unknown role.
fn roles(v: &str) -> Option<(bool, bool)> {
    let mut broker = false;
    let mut controller = false;
    for r in v.split(',').map(str::trim) {
        match r {
            "broker" => broker = true,
            "controller" => controller = true,
            _ => return None,
        }
    }
    Some((broker, controller))
}

/// `controller.quorum.voters`: `id@host:port,…`, ids distinct.
fn parse_voters(v: &str) -> Result<std::collections::BTreeMap<u64, String>, String> {
    let mut out = std::collections::BTreeMap::new();
    for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, addr) = entry
            .split_once('@')
            .ok_or_else(|| format!("{entry}: expected id@host:port"))?;
        let id: u64 = id.parse().map_err(|_| format!("{entry}: bad node id"))?;
        let (host, port) = split_host_port(addr).ok_or_else(|| format!("{entry}: bad address"))?;
        if out.insert(id, format!("{host}:{port}")).is_some() {
            return Err(format!("node id {id} is listed twice"));
        }
    }
    if out.is_empty() {
        return Err("no voters".into());
    }
    Ok(out)
}

/// `controller.quorum.bootstrap.servers`: `host:port,…`.
fn parse_addresses(v: &str) -> Result<Vec<String>, String> {
    let out: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            split_host_port(e)
                .map(|(h, p)| format!("{h}:{p}"))
                .ok_or_else(|| format!("{e}: bad address"))
        })
        .collect::<Result<_, _>>()?;
    if out.is_empty() {
        return Err("no servers".into());
    }
    Ok(out)
}

fn valid_cluster_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The address a `listeners` value binds for Kafka clients: its first entry that is
/// not named CONTROLLER.
fn resolve(listeners: &str) -> Result<std::net::SocketAddr, String> {
    let entry = listener_entries(listeners)
        .into_iter()
        .find(|(name, _)| !name.eq_ignore_ascii_case("CONTROLLER"))
        .map(|(_, hp)| hp)
        .ok_or_else(|| format!("no Kafka listener in {listeners}"))?;
    resolve_one(&entry)
}

fn resolve_one(listeners: &str) -> Result<std::net::SocketAddr, String> {
    let (host, port) =
        split_host_port(listeners).ok_or_else(|| format!("bad listener {listeners}"))?;
    use std::net::ToSocketAddrs;
    (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{listeners} resolves to no address"))
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

    /// The table is the only list of keys: each is unique, described, and parsed
    /// under its own name.
    #[test]
    fn every_key_is_parsed_validated_and_described() {
        let keys = BrokerConfig::KEYS;
        let unique: std::collections::BTreeSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "a key is listed twice");
        let described: Vec<_> = BrokerConfig::default()
            .describe()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(described, keys);
        for key in keys {
            let text = format!("{{\"{key}\": [[]]}}");
            let err = serde_json::from_str::<BrokerConfig>(&text)
                .expect_err("no key takes a list of lists")
                .to_string();
            assert!(
                !err.contains("unknown field"),
                "{key} is not a field name: {err}"
            );
        }
        let bad = BrokerConfig {
            remote_log_fetch_read_ahead_chunks: 65,
            ..Default::default()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            vec![ConfigProblem {
                key: "remote.log.fetch.read.ahead.chunks",
                value: "65".into(),
                reason: "must be between 0 and 64".into(),
            }]
        );
    }

    /// The keys `config` is refused for.
    fn refused_keys(config: &BrokerConfig) -> Vec<&'static str> {
        config
            .validate()
            .unwrap_err()
            .iter()
            .map(|p| p.key)
            .collect()
    }

    #[test]
    fn cluster_keys() {
        let c = BrokerConfig {
            node_id: 2,
            listeners: "PLAINTEXT://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193".into(),
            controller_quorum_voters: Some("1@127.0.0.1:9093,2@127.0.0.1:9193".into()),
            cluster_id: Some("abc-DEF_1".into()),
            ..Default::default()
        };
        assert!(c.validate().is_ok(), "{:?}", c.validate());
        assert_eq!(c.listen_addr().unwrap().port(), 9192);
        assert_eq!(c.controller_listen_addr().unwrap().unwrap().port(), 9193);
        assert_eq!(c.quorum_voters().unwrap().len(), 2);
        let bad = BrokerConfig {
            node_id: 3,
            listeners: "127.0.0.1:9192".into(),
            controller_quorum_voters: Some("1@127.0.0.1:9093,1@127.0.0.1:9193".into()),
            process_roles: "broker,tea".into(),
            ..Default::default()
        };
        let keys = refused_keys(&bad);
        assert!(keys.contains(&"controller.quorum.voters"), "{keys:?}");
        assert!(keys.contains(&"process.roles"), "{keys:?}");
        let missing = BrokerConfig {
            node_id: 3,
            listeners: "127.0.0.1:9192".into(),
            controller_quorum_voters: Some("1@127.0.0.1:9093".into()),
            ..Default::default()
        };
        let keys = refused_keys(&missing);
        for k in ["controller.quorum.voters", "listeners"] {
            assert!(keys.contains(&k), "{k}: {keys:?}");
        }
        // Dedicated roles: a controller needs no Kafka listener; a broker-only node
        // must not be a voter; a static and a dynamic quorum do not mix.
        let controller = BrokerConfig {
            node_id: 1,
            process_roles: "controller".into(),
            listeners: "CONTROLLER://127.0.0.1:9093".into(),
            controller_quorum_voters: Some("1@127.0.0.1:9093".into()),
            ..Default::default()
        };
        assert!(controller.validate().is_ok(), "{:?}", controller.validate());
        assert_eq!(controller.roles(), (false, true));
        let broker_voter = BrokerConfig {
            node_id: 1,
            process_roles: "broker".into(),
            listeners: "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093".into(),
            controller_quorum_voters: Some("1@127.0.0.1:9093".into()),
            controller_quorum_bootstrap_servers: Some("127.0.0.1:9093".into()),
            ..Default::default()
        };
        let keys = refused_keys(&broker_voter);
        for k in [
            "controller.quorum.voters",
            "controller.quorum.bootstrap.servers",
        ] {
            assert!(keys.contains(&k), "{k}: {keys:?}");
        }
        let alone = BrokerConfig {
            process_roles: "broker".into(),
            ..Default::default()
        };
        let keys = refused_keys(&alone);
        assert!(keys.contains(&"process.roles"), "{keys:?}");
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
