//! Topic-level log configuration under Kafka's property names.

use std::collections::BTreeMap;

/// Meaning of record timestamps (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Timestamps are set by the producer.
    #[default]
    CreateTime,
    /// The leader overwrites the batch max timestamp with its clock on append.
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// A bad topic config entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The name is not a topic config.
    #[error("unknown topic config {name}")]
    Unknown {
        /// The unknown key.
        name: String,
    },
    /// The value fails the config's type or range.
    #[error("Invalid value {value} for configuration {name}: {reason}")]
    InvalidValue {
        /// The key.
        name: String,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
}

/// Type and valid range of a topic config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConfigKind {
    /// 64-bit integer in `[min, max]`.
    Long {
        /// Smallest valid value.
        min: i64,
        /// Largest valid value.
        max: i64,
    },
    /// 32-bit integer in `[min, max]`.
    Int {
        /// Smallest valid value.
        min: i32,
        /// Largest valid value.
        max: i32,
    },
    /// 32-bit integer in `[min, max]` or the sentinel -1 ("codec default").
    IntOrMinusOne {
        /// Smallest valid value other than -1.
        min: i32,
        /// Largest valid value.
        max: i32,
    },
    /// `true` or `false` (case-insensitive).
    Bool,
    /// Floating point in `[min, max]`.
    Double {
        /// Smallest valid value.
        min: f64,
        /// Largest valid value.
        max: f64,
    },
    /// One of the listed strings (case-sensitive, as Kafka).
    Enum(&'static [&'static str]),
    /// A comma-separated list whose items are each one of the listed strings.
    List(&'static [&'static str]),
    /// Throttled replica list: empty, `*`, or `partition:broker` pairs.
    ThrottledReplicas,
    /// Any string.
    String,
}

/// Definition of one Kafka topic config.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    /// Kafka's property name.
    pub name: &'static str,
    /// One-line description.
    pub doc: &'static str,
    /// Type and range.
    pub kind: ConfigKind,
    /// Kafka's default, as a string.
    pub default: &'static str,
    /// Whether DescribeConfigs must hide the value.
    pub sensitive: bool,
}

const fn def(
    name: &'static str,
    doc: &'static str,
    kind: ConfigKind,
    default: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        doc,
        kind,
        default,
        sensitive: false,
    }
}

const fn long(min: i64) -> ConfigKind {
    ConfigKind::Long { min, max: i64::MAX }
}
const fn int(min: i32) -> ConfigKind {
    ConfigKind::Int { min, max: i32::MAX }
}

/// Every Kafka 4.x topic config with its default and valid range.
pub static TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def(
        "cleanup.policy",
        "Retention policy for old segments: delete and/or compact.",
        ConfigKind::List(&["compact", "delete"]),
        "delete",
    ),
    def(
        "compression.type",
        "Final compression type for the topic.",
        ConfigKind::Enum(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        "producer",
    ),
    def(
        "compression.gzip.level",
        "Compression level for gzip.",
        ConfigKind::IntOrMinusOne { min: 1, max: 9 },
        "-1",
    ),
    def(
        "compression.lz4.level",
        "Compression level for lz4.",
        ConfigKind::Int { min: 1, max: 17 },
        "9",
    ),
    def(
        "compression.zstd.level",
        "Compression level for zstd.",
        ConfigKind::Int {
            min: -131072,
            max: 22,
        },
        "3",
    ),
    def(
        "delete.retention.ms",
        "How long delete tombstones are retained for compacted topics.",
        long(0),
        "86400000",
    ),
    def(
        "file.delete.delay.ms",
        "Time to wait before deleting a file from the filesystem.",
        long(0),
        "60000",
    ),
    def(
        "flush.messages",
        "Messages accumulated before a forced fsync.",
        long(1),
        "9223372036854775807",
    ),
    def(
        "flush.ms",
        "Maximum time between forced fsyncs.",
        long(0),
        "9223372036854775807",
    ),
    def(
        "follower.replication.throttled.replicas",
        "Replicas throttled on the follower side.",
        ConfigKind::ThrottledReplicas,
        "",
    ),
    def(
        "index.interval.bytes",
        "Bytes between offset index entries.",
        int(0),
        "4096",
    ),
    def(
        "leader.replication.throttled.replicas",
        "Replicas throttled on the leader side.",
        ConfigKind::ThrottledReplicas,
        "",
    ),
    def(
        "local.retention.bytes",
        "Local-tier size retention; -2 means retention.bytes.",
        long(-2),
        "-2",
    ),
    def(
        "local.retention.ms",
        "Local-tier time retention; -2 means retention.ms.",
        long(-2),
        "-2",
    ),
    def(
        "max.compaction.lag.ms",
        "Maximum time a message stays ineligible for compaction.",
        long(1),
        "9223372036854775807",
    ),
    def(
        "max.message.bytes",
        "Largest record batch size accepted.",
        int(0),
        "1048588",
    ),
    def(
        "message.timestamp.after.max.ms",
        "Allowed amount a timestamp may be ahead of the broker clock.",
        long(0),
        "3600000",
    ),
    def(
        "message.timestamp.before.max.ms",
        "Allowed amount a timestamp may be behind the broker clock.",
        long(0),
        "9223372036854775807",
    ),
    def(
        "message.timestamp.type",
        "CreateTime or LogAppendTime.",
        ConfigKind::Enum(&["CreateTime", "LogAppendTime"]),
        "CreateTime",
    ),
    def(
        "min.cleanable.dirty.ratio",
        "Dirty ratio above which the log is compacted.",
        ConfigKind::Double { min: 0.0, max: 1.0 },
        "0.5",
    ),
    def(
        "min.compaction.lag.ms",
        "Minimum time a message stays uncompacted.",
        long(0),
        "0",
    ),
    def(
        "min.insync.replicas",
        "Minimum in-sync replicas for acks=all.",
        int(1),
        "1",
    ),
    def(
        "preallocate",
        "Preallocate segment files.",
        ConfigKind::Bool,
        "false",
    ),
    def(
        "remote.storage.enable",
        "Enable tiered storage for the topic.",
        ConfigKind::Bool,
        "false",
    ),
    def(
        "remote.log.copy.disable",
        "Stop copying segments to the remote tier.",
        ConfigKind::Bool,
        "false",
    ),
    def(
        "remote.log.delete.on.disable",
        "Delete remote data when tiering is disabled.",
        ConfigKind::Bool,
        "false",
    ),
    def(
        "retention.bytes",
        "Maximum log size before old segments are deleted; -1 = unlimited.",
        ConfigKind::Long {
            min: i64::MIN,
            max: i64::MAX,
        },
        "-1",
    ),
    def(
        "retention.ms",
        "Maximum age of a segment before deletion; -1 = unlimited.",
        long(-1),
        "604800000",
    ),
    def(
        "segment.bytes",
        "Segment file size.",
        int(1_048_576),
        "1073741824",
    ),
    def(
        "segment.index.bytes",
        "Maximum size of a segment's offset index.",
        int(4),
        "10485760",
    ),
    def(
        "segment.jitter.ms",
        "Random jitter subtracted from segment.ms.",
        long(0),
        "0",
    ),
    def(
        "segment.ms",
        "Time after which a segment is rolled.",
        long(1),
        "604800000",
    ),
    def(
        "unclean.leader.election.enable",
        "Allow out-of-sync replicas to become leader.",
        ConfigKind::Bool,
        "false",
    ),
];

fn find_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

fn invalid(name: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn check_value(def: &TopicConfigDef, value: &str) -> Result<(), ConfigError> {
    let name = def.name;
    let v = value.trim();
    match def.kind {
        ConfigKind::Long { min, max } => {
            let n: i64 = v
                .parse()
                .map_err(|_| invalid(name, value, "Not a number of type LONG"))?;
            if n < min || n > max {
                return Err(invalid(
                    name,
                    value,
                    format!("Value must be at least {min}"),
                ));
            }
        }
        ConfigKind::Int { min, max } => {
            let n: i32 = v
                .parse()
                .map_err(|_| invalid(name, value, "Not a number of type INT"))?;
            if n < min || n > max {
                return Err(invalid(
                    name,
                    value,
                    format!("Value must be in [{min},...,{max}]"),
                ));
            }
        }
        ConfigKind::IntOrMinusOne { min, max } => {
            let n: i32 = v
                .parse()
                .map_err(|_| invalid(name, value, "Not a number of type INT"))?;
            if n != -1 && (n < min || n > max) {
                return Err(invalid(
                    name,
                    value,
                    format!("Value must be in [{min},...,{max}] or -1"),
                ));
            }
        }
        ConfigKind::Bool => {
            if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                return Err(invalid(
                    name,
                    value,
                    "Expected value to be either true or false",
                ));
            }
        }
        ConfigKind::Double { min, max } => {
            let n: f64 = v
                .parse()
                .map_err(|_| invalid(name, value, "Not a number of type DOUBLE"))?;
            if !(min..=max).contains(&n) {
                return Err(invalid(
                    name,
                    value,
                    format!("Value must be in [{min},...,{max}]"),
                ));
            }
        }
        ConfigKind::Enum(allowed) => {
            if !allowed.contains(&v) {
                return Err(invalid(
                    name,
                    value,
                    format!("String must be one of: {}", allowed.join(", ")),
                ));
            }
        }
        ConfigKind::List(allowed) => {
            for item in v.split(',').map(str::trim) {
                if !allowed.contains(&item) {
                    return Err(invalid(
                        name,
                        value,
                        format!(
                            "Invalid value {item}; items must be in [{}]",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
        }
        ConfigKind::ThrottledReplicas => {
            if !v.is_empty() && v != "*" {
                for item in v.split(',').map(str::trim) {
                    let ok = item
                        .split_once(':')
                        .map(|(p, b)| p.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
                        .unwrap_or(false);
                    if !ok {
                        return Err(invalid(
                            name,
                            value,
                            "must be the literal '*' or a list of replicas in the form [PartitionId]:[BrokerId],...",
                        ));
                    }
                }
            }
        }
        ConfigKind::String => {}
    }
    Ok(())
}

/// Checks one topic config entry. `Err(Unknown)` if `name` is not a topic
/// config, `Err(InvalidValue)` (naming the key and the value) if the value
/// fails the config's type or range.
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), ConfigError> {
    let def = find_def(name).ok_or_else(|| ConfigError::Unknown {
        name: name.to_string(),
    })?;
    check_value(def, value)
}

/// The effective configuration of one partition log.
///
/// Only the fields below drive behaviour; other valid topic configs are kept
/// verbatim in `other_overrides` so that [`LogConfig::describe`] reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when a segment would exceed this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first append is this old.
    pub segment_ms: i64,
    /// `segment.index.bytes`: an index holding this many bytes of entries is full.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes of batches between index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`: -1 = unlimited.
    pub retention_ms: i64,
    /// `retention.bytes`: -1 = unlimited.
    pub retention_bytes: i64,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: i32,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`.
    pub message_timestamp_after_max_ms: i64,
    /// `cleanup.policy`: `delete`, `compact` or both.
    pub cleanup_policy: String,
    /// Valid overrides of topic configs that have no field above.
    pub other_overrides: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1_073_741_824,
            segment_ms: 604_800_000,
            segment_index_bytes: 10_485_760,
            index_interval_bytes: 4096,
            retention_ms: 604_800_000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: 3_600_000,
            cleanup_policy: "delete".to_string(),
            other_overrides: BTreeMap::new(),
        }
    }
}

impl LogConfig {
    /// Applies topic-level overrides (Kafka topic config names) on top of
    /// `self` (the broker defaults). Every entry is validated; all bad entries
    /// are reported at once and `self` is never modified.
    pub fn with_overrides(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<LogConfig, Vec<ConfigError>> {
        let mut out = self.clone();
        let mut errors = Vec::new();
        for (name, value) in overrides {
            if let Err(e) = validate_topic_config(name, value) {
                errors.push(e);
                continue;
            }
            let v = value.trim();
            // Parsing cannot fail after validation; fall back to an error anyway.
            let bad = || invalid(name, value, "unparsable");
            let applied: Result<(), ConfigError> = (|| {
                match name.as_str() {
                    "segment.bytes" => out.segment_bytes = v.parse().map_err(|_| bad())?,
                    "segment.ms" => out.segment_ms = v.parse().map_err(|_| bad())?,
                    "segment.index.bytes" => {
                        out.segment_index_bytes = v.parse().map_err(|_| bad())?
                    }
                    "index.interval.bytes" => {
                        out.index_interval_bytes = v.parse().map_err(|_| bad())?
                    }
                    "retention.ms" => out.retention_ms = v.parse().map_err(|_| bad())?,
                    "retention.bytes" => out.retention_bytes = v.parse().map_err(|_| bad())?,
                    "max.message.bytes" => out.max_message_bytes = v.parse().map_err(|_| bad())?,
                    "message.timestamp.type" => {
                        out.message_timestamp_type = if v == "LogAppendTime" {
                            TimestampType::LogAppendTime
                        } else {
                            TimestampType::CreateTime
                        }
                    }
                    "message.timestamp.before.max.ms" => {
                        out.message_timestamp_before_max_ms = v.parse().map_err(|_| bad())?
                    }
                    "message.timestamp.after.max.ms" => {
                        out.message_timestamp_after_max_ms = v.parse().map_err(|_| bad())?
                    }
                    "cleanup.policy" => out.cleanup_policy = v.to_string(),
                    _ => {
                        out.other_overrides.insert(name.clone(), v.to_string());
                    }
                }
                Ok(())
            })();
            if let Err(e) = applied {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// `cleanup.policy` includes `compact`.
    pub fn is_compact(&self) -> bool {
        self.cleanup_policy
            .split(',')
            .any(|p| p.trim() == "compact")
    }

    /// `cleanup.policy` includes `delete` (time and size retention apply).
    pub fn is_delete(&self) -> bool {
        self.cleanup_policy.split(',').any(|p| p.trim() == "delete")
    }

    fn other<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        self.other_overrides
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// `delete.retention.ms`: how long tombstones survive compaction.
    pub fn delete_retention_ms(&self) -> i64 {
        self.other("delete.retention.ms", 86_400_000)
    }

    /// `min.cleanable.dirty.ratio`
    pub fn min_cleanable_dirty_ratio(&self) -> f64 {
        self.other("min.cleanable.dirty.ratio", 0.5)
    }

    /// `min.compaction.lag.ms`: records younger than this are not compacted.
    pub fn min_compaction_lag_ms(&self) -> i64 {
        self.other("min.compaction.lag.ms", 0)
    }

    /// `max.compaction.lag.ms`: dirty records older than this force a clean.
    pub fn max_compaction_lag_ms(&self) -> i64 {
        self.other("max.compaction.lag.ms", i64::MAX)
    }

    /// `remote.storage.enable`: whether sealed segments are tiered to object storage.
    pub fn remote_storage_enable(&self) -> bool {
        self.other_overrides
            .get("remote.storage.enable")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `remote.log.copy.disable`: stop uploading (reads of what is remote go on).
    pub fn remote_copy_disable(&self) -> bool {
        self.other_overrides
            .get("remote.log.copy.disable")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `local.retention.ms` resolved: Kafka's -2 means "as `retention.ms`".
    pub fn local_retention_ms(&self) -> i64 {
        match self.other("local.retention.ms", -2i64) {
            -2 => self.retention_ms,
            v => v,
        }
    }

    /// `local.retention.bytes` resolved: Kafka's -2 means "as `retention.bytes`".
    pub fn local_retention_bytes(&self) -> i64 {
        match self.other("local.retention.bytes", -2i64) {
            -2 => self.retention_bytes,
            v => v,
        }
    }

    /// The effective value of every topic config in [`TOPIC_CONFIGS`] order.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        TOPIC_CONFIGS
            .iter()
            .map(|d| {
                let v = match d.name {
                    "segment.bytes" => self.segment_bytes.to_string(),
                    "segment.ms" => self.segment_ms.to_string(),
                    "segment.index.bytes" => self.segment_index_bytes.to_string(),
                    "index.interval.bytes" => self.index_interval_bytes.to_string(),
                    "retention.ms" => self.retention_ms.to_string(),
                    "retention.bytes" => self.retention_bytes.to_string(),
                    "max.message.bytes" => self.max_message_bytes.to_string(),
                    "message.timestamp.type" => self.message_timestamp_type.name().to_string(),
                    "message.timestamp.before.max.ms" => {
                        self.message_timestamp_before_max_ms.to_string()
                    }
                    "message.timestamp.after.max.ms" => {
                        self.message_timestamp_after_max_ms.to_string()
                    }
                    "cleanup.policy" => self.cleanup_policy.clone(),
                    other => self
                        .other_overrides
                        .get(other)
                        .cloned()
                        .unwrap_or_else(|| d.default.to_string()),
                };
                (d.name, v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kafka_and_describe() {
        let c = LogConfig::default();
        for (name, value) in c.describe() {
            let d = find_def(name).unwrap();
            assert_eq!(value, d.default, "{name}");
            validate_topic_config(name, d.default).unwrap();
        }
        assert_eq!(c.describe().len(), TOPIC_CONFIGS.len());
    }

    #[test]
    fn validation_names_key_and_value() {
        let e = validate_topic_config("segment.bytes", "1000").unwrap_err();
        assert!(e
            .to_string()
            .contains("Invalid value 1000 for configuration segment.bytes"));
        assert!(validate_topic_config("segment.ms", "0").is_err());
        assert!(validate_topic_config("no.such", "1").is_err());
        assert!(validate_topic_config("compression.type", "brotli").is_err());
        assert!(validate_topic_config("cleanup.policy", "compact,delete").is_ok());
        assert!(validate_topic_config("compression.gzip.level", "0").is_err());
        assert!(validate_topic_config("compression.gzip.level", "-1").is_ok());
        assert!(validate_topic_config("leader.replication.throttled.replicas", "0:1,1:2").is_ok());
        assert!(validate_topic_config("leader.replication.throttled.replicas", "x").is_err());
        assert!(validate_topic_config("preallocate", "TRUE").is_ok());
        assert!(validate_topic_config("min.cleanable.dirty.ratio", "1.5").is_err());
    }

    #[test]
    fn overrides_apply_and_report_all_errors() {
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "1000".to_string());
        o.insert(
            "message.timestamp.type".to_string(),
            "LogAppendTime".to_string(),
        );
        o.insert("min.insync.replicas".to_string(), "2".to_string());
        let c = LogConfig::default().with_overrides(&o).unwrap();
        assert_eq!(c.retention_ms, 1000);
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        let d: BTreeMap<_, _> = c.describe().into_iter().collect();
        assert_eq!(d["min.insync.replicas"], "2");
        o.insert("segment.ms".to_string(), "-5".to_string());
        o.insert("bogus".to_string(), "1".to_string());
        let errs = LogConfig::default().with_overrides(&o).unwrap_err();
        assert_eq!(errs.len(), 2);
    }
}
