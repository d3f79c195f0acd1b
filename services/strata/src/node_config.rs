//! Reading the node's TOML config: Kafka property names, as dotted keys or nested tables.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use strata_broker::BrokerConfig;

/// Parses TOML text into a [`BrokerConfig`]. `log.dirs = "x"` and `[log] dirs = "x"` both
/// mean Kafka's `log.dirs`. Unknown keys and bad values are errors naming the key; every
/// problem is reported at once.
pub fn parse(text: &str) -> Result<BrokerConfig> {
    let table: toml::Table = toml::from_str(text).context("config is not valid TOML")?;
    let mut flat = toml::Table::new();
    flatten("", table, &mut flat);
    let config = BrokerConfig::deserialize(toml::Value::Table(flat))
        .map_err(|e| anyhow!("invalid config: {e}"))?;
    Ok(config)
}

fn flatten(prefix: &str, table: toml::Table, out: &mut toml::Table) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            other => {
                out.insert(key, other);
            }
        }
    }
}

/// Reports every validation problem of `config` in one error.
pub fn validate(config: &BrokerConfig) -> Result<()> {
    if let Err(problems) = config.validate() {
        let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        bail!("invalid config:\n{}", lines.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_and_nested_keys() {
        let c = parse("\"num.partitions\" = 3\n[log]\ndirs = \"/tmp/x\"\n").unwrap();
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.log_dirs, std::path::PathBuf::from("/tmp/x"));
        let c = parse("log.retention.hours = 1\n").unwrap();
        assert_eq!(c.log_retention_hours, 1);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("\"no.such.key\" = 1\n").unwrap_err().to_string();
        assert!(e.contains("no.such.key"), "{e}");
    }

    #[test]
    fn bad_value_is_named() {
        let c = parse("\"num.partitions\" = -3\n").unwrap();
        let e = validate(&c).unwrap_err().to_string();
        assert!(e.contains("num.partitions"), "{e}");
        let e = parse("\"num.partitions\" = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("num.partitions") || e.contains("invalid type"),
            "{e}"
        );
    }
}
