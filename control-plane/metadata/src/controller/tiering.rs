//! Kafka's tiered-storage rules for a topic's configs, checked by the controller so
//! every broker (and every controller of a quorum) applies the same ones.

use std::collections::BTreeMap;

use strata_log::LogConfig;

use super::error::ControllerError;

/// Checks `overrides` (a topic's configs after a create or an alter; `current`: its
/// effective config before an alter) against the tiering rules: remote storage needs
/// the cluster's tiered storage (`tiered_storage`), is refused on compacted topics as
/// Kafka does (KAFKA-19273: the remote tier holds immutable segments, compaction
/// rewrites them), local retention may not exceed total retention, and
/// `remote.storage.enable` cannot be turned off again. Bad values themselves are left
/// to the config validation.
pub fn validate_tiering(
    defaults: &LogConfig,
    tiered_storage: bool,
    overrides: &BTreeMap<String, String>,
    current: Option<&LogConfig>,
) -> Result<(), ControllerError> {
    let Ok(cfg) = defaults.with_overrides(overrides) else {
        return Ok(());
    };
    let invalid = |m: String| Err(ControllerError::InvalidConfig(m));
    if cfg.remote_storage_enable() {
        if !tiered_storage {
            return invalid(
                "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
                    .into(),
            );
        }
        if cfg.is_compact() {
            return invalid(format!(
                "Remote log storage is not supported for compacted topics: cleanup.policy={} with remote.storage.enable=true (Strata, like Kafka, tiers only delete-policy topics)",
                cfg.cleanup_policy
            ));
        }
        let local_ms = overrides
            .get("local.retention.ms")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(-2);
        if local_ms != -2
            && cfg.retention_ms != -1
            && (local_ms == -1 || local_ms > cfg.retention_ms)
        {
            return invalid(format!(
                "Invalid value {local_ms} for configuration local.retention.ms: must not be more than retention.ms ({})",
                cfg.retention_ms
            ));
        }
        let local_bytes = overrides
            .get("local.retention.bytes")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(-2);
        if local_bytes != -2
            && cfg.retention_bytes != -1
            && (local_bytes == -1 || local_bytes > cfg.retention_bytes)
        {
            return invalid(format!(
                "Invalid value {local_bytes} for configuration local.retention.bytes: must not be more than retention.bytes ({})",
                cfg.retention_bytes
            ));
        }
    }
    if let Some(cur) = current {
        if cur.remote_storage_enable() && !cfg.remote_storage_enable() {
            return invalid(
                "remote.storage.enable cannot be turned off once enabled (Strata keeps the remote tier of a topic until the topic is deleted)"
                    .into(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_tiering_rules() {
        let d = LogConfig::default();
        let on = o(&[("remote.storage.enable", "true")]);
        assert!(validate_tiering(&d, true, &on, None).is_ok());
        assert!(validate_tiering(&d, false, &on, None).is_err());
        let compact = o(&[
            ("remote.storage.enable", "true"),
            ("cleanup.policy", "compact"),
        ]);
        assert!(validate_tiering(&d, true, &compact, None).is_err());
        let local = o(&[
            ("remote.storage.enable", "true"),
            ("retention.ms", "1000"),
            ("local.retention.ms", "2000"),
        ]);
        assert!(validate_tiering(&d, true, &local, None).is_err());
        let was_on = d.with_overrides(&on).unwrap();
        assert!(validate_tiering(&d, true, &o(&[]), Some(&was_on)).is_err());
        assert!(validate_tiering(&d, true, &o(&[]), None).is_ok());
    }
}
