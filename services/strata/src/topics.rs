//! `strata topics`: topic administration over the Kafka protocol.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::client::{Bootstrap, Client};

#[derive(Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[command(subcommand)]
    command: TopicsCommand,
}

#[derive(Subcommand)]
enum TopicsCommand {
    /// Create a topic.
    Create {
        name: String,
        /// Number of partitions (default: the broker's num.partitions).
        #[arg(long, default_value_t = -1)]
        partitions: i32,
        /// Replication factor (default: the broker's default.replication.factor).
        #[arg(long, default_value_t = -1)]
        replication_factor: i16,
        /// A topic config override, key=value (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Only check that the topic could be created.
        #[arg(long)]
        validate_only: bool,
    },
    /// List topics.
    List,
    /// Show partitions, leaders, offsets and config overrides of a topic.
    Describe { name: String },
    /// Delete a topic and its data (in both tiers).
    Delete { name: String },
    /// Re-create a tiered topic from what the remote tier holds (after the local data
    /// directory was lost): every uploaded offset becomes readable again.
    Recover {
        name: String,
        /// Number of partitions (default: as many as the remote tier holds).
        #[arg(long, default_value_t = -1)]
        partitions: i32,
        /// A topic config override, key=value (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// Set or remove topic config overrides.
    AlterConfig {
        name: String,
        /// key=value to set (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// key to remove, falling back to the broker default (repeatable).
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
    },
}

fn check(code: i16, message: Option<&StrBytes>, what: &str) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    let name = ResponseError::try_from_code(code)
        .map(|e| format!("{e:?}"))
        .unwrap_or_default();
    let msg = message.map(|m| m.to_string()).unwrap_or_default();
    bail!("{what} failed: {name} ({code}) {msg}")
}

fn parse_kv(items: &[String]) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("expected KEY=VALUE, got {kv:?}"))
        })
        .collect()
}

pub async fn run(args: TopicsArgs) -> Result<()> {
    let mut c = Client::connect(&args.bootstrap.server).await?;
    match args.command {
        TopicsCommand::Recover {
            name,
            partitions,
            configs,
        } => {
            let mut configs = parse_kv(&configs)?;
            configs.insert("strata.recover.from.remote".into(), "true".into());
            configs.insert("remote.storage.enable".into(), "true".into());
            let configs = configs
                .into_iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k))
                        .with_value(Some(StrBytes::from_string(v)))
                })
                .collect();
            let req = CreateTopicsRequest::default()
                .with_topics(vec![CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name.clone())))
                    .with_num_partitions(partitions)
                    .with_replication_factor(-1)
                    .with_configs(configs)])
                .with_timeout_ms(30_000);
            let v = c.version(ApiKey::CreateTopics, 7)?;
            let resp = c.call(&req, v).await?;
            for t in &resp.topics {
                check(t.error_code, t.error_message.as_ref(), "recover")?;
                println!(
                    "Recovered topic {} ({} partitions) from the remote tier",
                    t.name.as_str(),
                    t.num_partitions
                );
            }
        }
        TopicsCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
            validate_only,
        } => {
            let configs = parse_kv(&configs)?
                .into_iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k))
                        .with_value(Some(StrBytes::from_string(v)))
                })
                .collect();
            let req = CreateTopicsRequest::default()
                .with_topics(vec![CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name.clone())))
                    .with_num_partitions(partitions)
                    .with_replication_factor(replication_factor)
                    .with_configs(configs)])
                .with_timeout_ms(30_000)
                .with_validate_only(validate_only);
            let v = c.version(ApiKey::CreateTopics, 7)?;
            let resp = c.call(&req, v).await?;
            for t in &resp.topics {
                check(t.error_code, t.error_message.as_ref(), "create")?;
                let verb = if validate_only { "Valid" } else { "Created" };
                println!(
                    "{verb} topic {} ({} partitions, replication factor {})",
                    t.name.as_str(),
                    t.num_partitions,
                    t.replication_factor
                );
            }
        }
        TopicsCommand::List => {
            let v = c.version(ApiKey::Metadata, 12)?;
            let resp = c
                .call(&MetadataRequest::default().with_topics(None), v)
                .await?;
            let mut names: Vec<String> = resp
                .topics
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
                .collect();
            names.sort();
            for n in names {
                println!("{n}");
            }
        }
        TopicsCommand::Describe { name } => describe(&mut c, &name).await?,
        TopicsCommand::Delete { name } => {
            let v = c.version(ApiKey::DeleteTopics, 5)?;
            let req = DeleteTopicsRequest::default()
                .with_topic_names(vec![TopicName(StrBytes::from_string(name.clone()))])
                .with_timeout_ms(30_000);
            let resp = c.call(&req, v).await?;
            for r in &resp.responses {
                check(r.error_code, r.error_message.as_ref(), "delete")?;
            }
            println!("Deleted topic {name}");
        }
        TopicsCommand::AlterConfig { name, set, delete } => {
            let mut configs: Vec<AlterableConfig> = parse_kv(&set)?
                .into_iter()
                .map(|(k, v)| {
                    AlterableConfig::default()
                        .with_name(StrBytes::from_string(k))
                        .with_config_operation(0)
                        .with_value(Some(StrBytes::from_string(v)))
                })
                .collect();
            configs.extend(delete.into_iter().map(|k| {
                AlterableConfig::default()
                    .with_name(StrBytes::from_string(k))
                    .with_config_operation(1)
            }));
            if configs.is_empty() {
                bail!("nothing to change: give --set KEY=VALUE or --delete KEY");
            }
            let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_string(name.clone()))
                    .with_configs(configs),
            ]);
            let v = c.version(ApiKey::IncrementalAlterConfigs, 1)?;
            let resp = c.call(&req, v).await?;
            for r in &resp.responses {
                check(r.error_code, r.error_message.as_ref(), "alter-config")?;
            }
            println!("Updated configs of topic {name}");
        }
    }
    Ok(())
}

async fn describe(c: &mut Client, name: &str) -> Result<()> {
    let v = c.version(ApiKey::Metadata, 12)?;
    let req = MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))]));
    let resp = c.call(&req, v).await?;
    let Some(t) = resp.topics.first() else {
        bail!("no metadata returned for {name}");
    };
    check(t.error_code, None, "describe")?;
    let offsets = |ts: i64| {
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.to_string())))
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(p.partition_index)
                                .with_timestamp(ts)
                        })
                        .collect(),
                )])
    };
    let lv = c.version(ApiKey::ListOffsets, 9)?;
    let earliest = c.call(&offsets(-2), lv).await?;
    let latest = c.call(&offsets(-1), lv).await?;
    let (local_start, tiered) = if lv >= 9 {
        (
            Some(c.call(&offsets(-4), lv).await?),
            Some(c.call(&offsets(-5), lv).await?),
        )
    } else {
        (None, None)
    };
    let sizes = log_dir_sizes(c, name).await?;
    let find = |r: &ListOffsetsResponse, p: i32| {
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|x| x.partition_index == p)
            .map(|x| x.offset)
            .unwrap_or(-1)
    };
    println!(
        "Topic: {name}\tTopicId: {}\tPartitionCount: {}",
        t.topic_id,
        t.partitions.len()
    );
    let cv = c.version(ApiKey::DescribeConfigs, 4)?;
    let creq =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(name.to_string()))]);
    let cresp = c.call(&creq, cv).await?;
    let overrides: Vec<String> = cresp
        .results
        .iter()
        .flat_map(|r| r.configs.iter())
        .filter(|c| c.config_source == 1)
        .map(|c| {
            format!(
                "{}={}",
                c.name.as_str(),
                c.value.as_ref().map(|v| v.as_str()).unwrap_or("")
            )
        })
        .collect();
    println!("\tConfigs: {}", overrides.join(","));
    let mut parts: Vec<_> = t.partitions.iter().collect();
    parts.sort_by_key(|p| p.partition_index);
    for p in parts {
        let ids = |v: &Vec<BrokerId>| {
            v.iter()
                .map(|b| b.0.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let i = p.partition_index;
        let opt = |r: &Option<ListOffsetsResponse>| r.as_ref().map_or(-1, |r| find(r, i));
        let (local_bytes, remote_bytes) = sizes.get(&i).copied().unwrap_or((-1, -1));
        println!(
            "\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tLogStartOffset: {}\tLocalLogStartOffset: {}\tLatestTieredOffset: {}\tLogEndOffset: {}\tLocalBytes: {}\tRemoteBytes: {}",
            i,
            p.leader_id.0,
            ids(&p.replica_nodes),
            ids(&p.isr_nodes),
            find(&earliest, i),
            opt(&local_start),
            opt(&tiered),
            find(&latest, i),
            local_bytes,
            remote_bytes,
        );
    }
    Ok(())
}

/// Per partition of `name`: bytes in the local data directory and in the remote tier
/// (the broker reports the remote tier as a second log dir named by its URL).
async fn log_dir_sizes(c: &mut Client, name: &str) -> Result<BTreeMap<i32, (i64, i64)>> {
    let mut out: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
    let Ok(v) = c.version(ApiKey::DescribeLogDirs, 4) else {
        return Ok(out);
    };
    let resp = c
        .call(&DescribeLogDirsRequest::default().with_topics(None), v)
        .await?;
    for r in &resp.results {
        let remote = r.log_dir.as_str().contains("://");
        for t in r.topics.iter().filter(|t| t.name.as_str() == name) {
            for p in &t.partitions {
                let e = out.entry(p.partition_index).or_insert((0, 0));
                if remote {
                    e.1 += p.partition_size;
                } else {
                    e.0 += p.partition_size;
                }
            }
        }
    }
    Ok(out)
}
