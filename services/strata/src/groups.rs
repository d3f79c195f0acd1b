//! `strata groups`: consumer groups, their committed offsets and lag.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use bytes::{Buf, Bytes};
use clap::{Args, Subcommand};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::ResponseError;

use crate::client::{Bootstrap, Client};

#[derive(Args)]
pub struct GroupsArgs {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[command(subcommand)]
    command: GroupsCommand,
}

#[derive(Subcommand)]
enum GroupsCommand {
    /// List consumer groups with their state.
    List,
    /// Per-partition committed offset, log end offset and lag, with the member that owns
    /// each partition, then the total lag.
    Describe { group: String },
    /// Delete an empty group and its committed offsets.
    Delete { group: String },
    /// Move an empty group's committed offsets of a topic.
    ResetOffsets {
        group: String,
        #[arg(long)]
        topic: String,
        /// To each partition's log start offset.
        #[arg(long, conflicts_with_all = ["to_latest", "to_offset"])]
        to_earliest: bool,
        /// To each partition's log end offset.
        #[arg(long, conflicts_with_all = ["to_earliest", "to_offset"])]
        to_latest: bool,
        /// To this offset on every partition.
        #[arg(long, conflicts_with_all = ["to_earliest", "to_latest"])]
        to_offset: Option<i64>,
    },
}

fn code_name(code: i16) -> String {
    ResponseError::try_from_code(code)
        .map(|e| format!("{e:?} ({code})"))
        .unwrap_or_else(|| "NONE".into())
}

fn group_id(s: &str) -> GroupId {
    GroupId(StrBytes::from_string(s.to_string()))
}

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

pub async fn run(args: GroupsArgs) -> Result<()> {
    let mut c = Client::connect(&args.bootstrap.server).await?;
    match args.command {
        GroupsCommand::List => {
            let v = c.version(ApiKey::ListGroups, 4)?;
            let resp = c.call(&ListGroupsRequest::default(), v).await?;
            if resp.error_code != 0 {
                bail!("list failed: {}", code_name(resp.error_code));
            }
            let mut groups: Vec<_> = resp.groups.iter().collect();
            groups.sort_by(|a, b| a.group_id.as_str().cmp(b.group_id.as_str()));
            println!("{:<40} {:<20}", "GROUP", "STATE");
            for g in groups {
                println!("{:<40} {:<20}", g.group_id.as_str(), g.group_state.as_str());
            }
        }
        GroupsCommand::Describe { group } => describe(&mut c, &group).await?,
        GroupsCommand::Delete { group } => {
            let v = c.version(ApiKey::DeleteGroups, 2)?;
            let req = DeleteGroupsRequest::default().with_groups_names(vec![group_id(&group)]);
            let resp = c.call(&req, v).await?;
            for r in &resp.results {
                if r.error_code != 0 {
                    bail!("delete of {group} failed: {}", code_name(r.error_code));
                }
            }
            println!("Deleted group {group}");
        }
        GroupsCommand::ResetOffsets {
            group,
            topic,
            to_earliest,
            to_latest,
            to_offset,
        } => {
            let partitions = partitions_of(&mut c, &topic).await?;
            let targets: Vec<(i32, i64)> = if let Some(o) = to_offset {
                partitions.iter().map(|p| (*p, o)).collect()
            } else if to_earliest || to_latest {
                let ts = if to_earliest { -2 } else { -1 };
                let offs = list_offsets(&mut c, &topic, &partitions, ts).await?;
                partitions
                    .iter()
                    .map(|p| (*p, offs.get(p).copied().unwrap_or(0)))
                    .collect()
            } else {
                bail!("give one of --to-earliest, --to-latest, --to-offset N");
            };
            let v = c.version(ApiKey::OffsetCommit, 8)?;
            let req = OffsetCommitRequest::default()
                .with_group_id(group_id(&group))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(topic_name(&topic))
                    .with_partitions(
                        targets
                            .iter()
                            .map(|(p, o)| {
                                OffsetCommitRequestPartition::default()
                                    .with_partition_index(*p)
                                    .with_committed_offset(*o)
                            })
                            .collect(),
                    )]);
            let resp = c.call(&req, v).await?;
            for t in &resp.topics {
                for p in &t.partitions {
                    if p.error_code != 0 {
                        bail!(
                            "reset of {}-{} failed: {} (is the group empty?)",
                            t.name.as_str(),
                            p.partition_index,
                            code_name(p.error_code)
                        );
                    }
                }
            }
            println!(
                "{:<40} {:<30} {:>9} {:>15}",
                "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"
            );
            for (p, o) in targets {
                println!("{group:<40} {topic:<30} {p:>9} {o:>15}");
            }
        }
    }
    Ok(())
}

async fn partitions_of(c: &mut Client, topic: &str) -> Result<Vec<i32>> {
    let v = c.version(ApiKey::Metadata, 12)?;
    let req = MetadataRequest::default().with_topics(Some(vec![
        kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
            .with_name(Some(topic_name(topic))),
    ]));
    let resp = c.call(&req, v).await?;
    let Some(t) = resp.topics.first() else {
        bail!("no metadata for {topic}");
    };
    if t.error_code != 0 {
        bail!("topic {topic}: {}", code_name(t.error_code));
    }
    let mut ps: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
    ps.sort();
    Ok(ps)
}

async fn list_offsets(
    c: &mut Client,
    topic: &str,
    partitions: &[i32],
    ts: i64,
) -> Result<BTreeMap<i32, i64>> {
    let v = c.version(ApiKey::ListOffsets, 7)?;
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(*p)
                            .with_timestamp(ts)
                    })
                    .collect(),
            )]);
    let resp = c.call(&req, v).await?;
    Ok(resp
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, p.offset))
        .collect())
}

/// The partitions in a member's assignment (consumer protocol), if it decodes.
fn assigned(assignment: &Bytes) -> Vec<(String, i32)> {
    let mut buf = assignment.clone();
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16();
    match ConsumerProtocolAssignment::decode(&mut buf, version.clamp(0, 3)) {
        Ok(a) => a
            .assigned_partitions
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.to_string(), *p)))
            .collect(),
        Err(_) => Vec::new(),
    }
}

async fn describe(c: &mut Client, group: &str) -> Result<()> {
    let dv = c.version(ApiKey::DescribeGroups, 5)?;
    let dresp = c
        .call(
            &DescribeGroupsRequest::default().with_groups(vec![group_id(group)]),
            dv,
        )
        .await?;
    let Some(g) = dresp.groups.first() else {
        bail!("no description returned for {group}");
    };
    if g.error_code != 0 {
        bail!("describe of {group} failed: {}", code_name(g.error_code));
    }
    // partition -> (member, host, client)
    let mut owners: BTreeMap<(String, i32), (String, String, String)> = BTreeMap::new();
    for m in &g.members {
        for tp in assigned(&m.member_assignment) {
            owners.insert(
                tp,
                (
                    m.member_id.to_string(),
                    m.client_host.to_string(),
                    m.client_id.to_string(),
                ),
            );
        }
    }
    let fv = c.version(ApiKey::OffsetFetch, 7)?;
    let fresp = c
        .call(
            &OffsetFetchRequest::default()
                .with_group_id(group_id(group))
                .with_topics(None),
            fv,
        )
        .await?;
    if fresp.error_code != 0 {
        bail!(
            "offset fetch of {group} failed: {}",
            code_name(fresp.error_code)
        );
    }
    let mut committed: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for t in &fresp.topics {
        for p in &t.partitions {
            if p.committed_offset >= 0 {
                committed.insert((t.name.to_string(), p.partition_index), p.committed_offset);
            }
        }
    }
    let mut rows: BTreeMap<(String, i32), Option<i64>> = BTreeMap::new();
    for tp in committed.keys().chain(owners.keys()) {
        rows.insert(tp.clone(), committed.get(tp).copied());
    }
    let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in rows.keys() {
        topics.entry(t.clone()).or_default().push(*p);
    }
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for (t, ps) in &topics {
        for (p, o) in list_offsets(c, t, ps, -1).await? {
            ends.insert((t.clone(), p), o);
        }
    }
    println!(
        "Consumer group '{group}': state {}, protocol {}",
        g.group_state.as_str(),
        g.protocol_data.as_str()
    );
    println!(
        "{:<30} {:<30} {:>9} {:>15} {:>15} {:>10} {:<45} {:<16} CLIENT-ID",
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
    );
    let mut total: i64 = 0;
    for ((t, p), cur) in &rows {
        let end = ends.get(&(t.clone(), *p)).copied().unwrap_or(-1);
        let lag = match cur {
            Some(cur) if end >= 0 => (end - cur).max(0),
            None if end >= 0 => end,
            _ => 0,
        };
        total += lag;
        let (member, host, client) = owners
            .get(&(t.clone(), *p))
            .cloned()
            .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
        println!(
            "{:<30} {:<30} {:>9} {:>15} {:>15} {:>10} {:<45} {:<16} {}",
            group,
            t,
            p,
            cur.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            end,
            lag,
            member,
            host,
            client
        );
    }
    println!("TOTAL-LAG: {total}");
    Ok(())
}
