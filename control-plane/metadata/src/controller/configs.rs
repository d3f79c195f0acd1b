//! Changes to topic and broker config overrides.

use std::collections::{BTreeMap, BTreeSet};

use super::error::ControllerError;
use crate::image::MetadataImage;
use crate::records::metadata_record::Record;
use crate::records::{ConfigRecord, MetadataRecord, RESOURCE_TYPE_BROKER, RESOURCE_TYPE_TOPIC};

/// Checks one topic config entry with `strata_log`'s definitions; the error
/// message names the key.
pub(super) fn validate_topic_config(name: &str, value: &str) -> Result<(), ControllerError> {
    strata_log::validate_topic_config(name, value).map_err(|e| match e {
        strata_log::ConfigError::Unknown { name } => {
            ControllerError::InvalidConfig(format!("Unknown topic config name: {name}"))
        }
        other => ControllerError::InvalidConfig(other.to_string()),
    })
}

/// The records that change topic `name`'s overrides: set every entry of
/// `set`, remove every key of `delete`, and with `replace_all` (legacy
/// AlterConfigs semantics) also remove every override not in `set`.
///
/// Each key and value is validated; a key in both `set` and `delete` is
/// InvalidRequest. Only actual changes produce records, so the result may be
/// empty.
pub fn alter_topic_configs(
    image: &MetadataImage,
    name: &str,
    set: BTreeMap<String, String>,
    delete: Vec<String>,
    replace_all: bool,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let topic = image.topic(name).ok_or_else(|| {
        ControllerError::UnknownTopic(format!("The topic '{name}' does not exist."))
    })?;
    check_duplicates(&set, &delete)?;
    for (key, value) in &set {
        validate_topic_config(key, value)?;
    }
    for key in &delete {
        if let Err(strata_log::ConfigError::Unknown { name }) =
            strata_log::validate_topic_config(key, "")
        {
            return Err(ControllerError::InvalidConfig(format!(
                "Unknown topic config name: {name}"
            )));
        }
    }
    Ok(diff(
        RESOURCE_TYPE_TOPIC,
        name,
        &topic.configs,
        set,
        delete,
        replace_all,
    ))
}

/// Broker configs that may be changed dynamically, with their value kinds.
pub const DYNAMIC_BROKER_CONFIGS: &[(&str, BrokerConfigKind)] = &[
    ("log.retention.ms", BrokerConfigKind::Long),
    ("log.retention.bytes", BrokerConfigKind::Long),
    ("log.segment.bytes", BrokerConfigKind::Int),
    ("log.roll.ms", BrokerConfigKind::Long),
    ("log.cleanup.policy", BrokerConfigKind::String),
    ("message.max.bytes", BrokerConfigKind::Int),
    ("compression.type", BrokerConfigKind::String),
    ("max.connections", BrokerConfigKind::Int),
    ("max.connections.per.ip", BrokerConfigKind::Int),
    ("num.io.threads", BrokerConfigKind::Int),
    ("num.network.threads", BrokerConfigKind::Int),
    ("num.replica.fetchers", BrokerConfigKind::Int),
    ("unclean.leader.election.enable", BrokerConfigKind::Boolean),
];

/// Value type of a dynamic broker config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerConfigKind {
    /// A 64-bit integer.
    Long,
    /// A 32-bit integer.
    Int,
    /// "true" or "false".
    Boolean,
    /// Any string.
    String,
}

/// The records that change dynamic broker config overrides of
/// `resource_name` ("" = cluster-wide default, else a broker id), with the
/// same `set`/`delete`/`replace_all` semantics as [`alter_topic_configs`].
/// Only [`DYNAMIC_BROKER_CONFIGS`] are accepted.
pub fn alter_broker_configs(
    image: &MetadataImage,
    resource_name: &str,
    set: BTreeMap<String, String>,
    delete: Vec<String>,
    replace_all: bool,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let empty = BTreeMap::new();
    let current = if resource_name.is_empty() {
        image.broker_configs()
    } else {
        let id: i32 = resource_name.parse().map_err(|_| {
            ControllerError::InvalidRequest(format!(
                "Failed to parse broker name as an integer: {resource_name}"
            ))
        })?;
        image.broker_configs_for(id).unwrap_or(&empty)
    };
    check_duplicates(&set, &delete)?;
    let not_dynamic: Vec<&str> = set
        .keys()
        .chain(delete.iter())
        .map(String::as_str)
        .filter(|k| broker_config_kind(k).is_none())
        .collect();
    if !not_dynamic.is_empty() {
        return Err(ControllerError::InvalidConfig(format!(
            "Cannot update these configs dynamically: {}",
            not_dynamic.join(", ")
        )));
    }
    for (key, value) in &set {
        check_broker_value(key, value)?;
    }
    Ok(diff(
        RESOURCE_TYPE_BROKER,
        resource_name,
        current,
        set,
        delete,
        replace_all,
    ))
}

fn broker_config_kind(name: &str) -> Option<BrokerConfigKind> {
    DYNAMIC_BROKER_CONFIGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
}

fn check_broker_value(key: &str, value: &str) -> Result<(), ControllerError> {
    let ok = match broker_config_kind(key) {
        Some(BrokerConfigKind::Long) => value.trim().parse::<i64>().is_ok(),
        Some(BrokerConfigKind::Int) => value.trim().parse::<i32>().is_ok(),
        Some(BrokerConfigKind::Boolean) => {
            value.trim().eq_ignore_ascii_case("true") || value.trim().eq_ignore_ascii_case("false")
        }
        Some(BrokerConfigKind::String) => true,
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ControllerError::InvalidConfig(format!(
            "Invalid value {value} for configuration {key}"
        )))
    }
}

fn check_duplicates(
    set: &BTreeMap<String, String>,
    delete: &[String],
) -> Result<(), ControllerError> {
    let mut seen = BTreeSet::new();
    if delete
        .iter()
        .any(|k| set.contains_key(k) || !seen.insert(k.as_str()))
    {
        return Err(ControllerError::InvalidRequest(
            "Error due to duplicate config keys".into(),
        ));
    }
    Ok(())
}

/// ConfigRecords turning `current` into the requested overrides.
fn diff(
    resource_type: i32,
    resource_name: &str,
    current: &BTreeMap<String, String>,
    set: BTreeMap<String, String>,
    delete: Vec<String>,
    replace_all: bool,
) -> Vec<MetadataRecord> {
    let record = |name: String, value: Option<String>| -> MetadataRecord {
        Record::Config(ConfigRecord {
            resource_type,
            resource_name: resource_name.to_string(),
            name,
            value,
        })
        .into()
    };
    let mut removed: BTreeSet<String> = delete
        .into_iter()
        .filter(|k| current.contains_key(k))
        .collect();
    if replace_all {
        removed.extend(current.keys().filter(|k| !set.contains_key(*k)).cloned());
    }
    let mut out: Vec<MetadataRecord> = removed.into_iter().map(|k| record(k, None)).collect();
    out.extend(
        set.into_iter()
            .filter(|(k, v)| current.get(k) != Some(v))
            .map(|(k, v)| record(k, Some(v))),
    );
    out
}
