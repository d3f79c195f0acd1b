//! Kafka's DescribeConfigs view of topic configs: type codes and documentation.

use strata_log::{ConfigKind, TOPIC_CONFIGS};

/// Kafka's `ConfigType` codes in DescribeConfigs v3+.
const BOOLEAN: i8 = 1;
const STRING: i8 = 2;
const INT: i8 = 3;
const LONG: i8 = 5;
const DOUBLE: i8 = 6;
const LIST: i8 = 7;

fn kind(name: &str) -> Option<&'static ConfigKind> {
    TOPIC_CONFIGS
        .iter()
        .find(|d| d.name == name)
        .map(|d| &d.kind)
}

/// The Kafka config type code of a topic config (0 = unknown).
pub fn type_code(name: &str) -> i8 {
    match kind(name) {
        Some(ConfigKind::Long { .. }) => LONG,
        Some(ConfigKind::Int { .. } | ConfigKind::IntOrMinusOne { .. }) => INT,
        Some(ConfigKind::Bool) => BOOLEAN,
        Some(ConfigKind::Double { .. }) => DOUBLE,
        Some(ConfigKind::List(_) | ConfigKind::ThrottledReplicas) => LIST,
        Some(_) => STRING,
        None => 0,
    }
}

/// Whether APPEND/SUBTRACT apply (Kafka allows them on list configs only).
pub fn is_list(name: &str) -> bool {
    type_code(name) == LIST
}

/// The documentation of a topic config.
pub fn doc(name: &str) -> Option<&'static str> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name).map(|d| d.doc)
}
