//! `strata cluster`: the brokers and the metadata quorum of a cluster, and voter
//! changes (Kafka's `kafka-cluster.sh` and `kafka-metadata-quorum.sh` roles), over the
//! Kafka protocol through any broker.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::client::{Bootstrap, Client};

#[derive(Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Brokers (state, rack, endpoint), the active controller, and the quorum's voters
    /// and observers with their lag behind the leader.
    Describe,
    /// Promote an observer of the metadata quorum (a controller started with
    /// controller.quorum.bootstrap.servers) to voter.
    AddVoter {
        /// The node.id to promote.
        #[arg(long)]
        id: i32,
    },
    /// Demote a voter to observer (it keeps following the metadata log).
    RemoveVoter {
        /// The node.id to demote.
        #[arg(long)]
        id: i32,
    },
}

pub async fn run(args: ClusterArgs) -> Result<()> {
    let mut client = Client::connect(&args.bootstrap.server).await?;
    match args.command {
        ClusterCommand::Describe => describe(&mut client).await,
        ClusterCommand::AddVoter { id } => {
            let v = client.version(ApiKey::AddRaftVoter, 0)?;
            let r = client
                .call(
                    &AddRaftVoterRequest::default()
                        .with_voter_id(id)
                        .with_timeout_ms(30_000),
                    v,
                )
                .await?;
            answer(
                r.error_code,
                r.error_message,
                &format!("node {id} is a voter"),
            )
        }
        ClusterCommand::RemoveVoter { id } => {
            let v = client.version(ApiKey::RemoveRaftVoter, 0)?;
            let r = client
                .call(&RemoveRaftVoterRequest::default().with_voter_id(id), v)
                .await?;
            answer(
                r.error_code,
                r.error_message,
                &format!("node {id} is no longer a voter"),
            )
        }
    }
}

fn answer(code: i16, message: Option<StrBytes>, ok: &str) -> Result<()> {
    if code == 0 {
        println!("{ok}");
        return Ok(());
    }
    let name = ResponseError::try_from_code(code)
        .map(|e| e.to_string())
        .unwrap_or_default();
    bail!(
        "{name} ({code}): {}",
        message.map(|m| m.to_string()).unwrap_or_default()
    )
}

async fn describe(client: &mut Client) -> Result<()> {
    let v = client.version(ApiKey::DescribeCluster, 2)?;
    let cluster = client
        .call(
            &DescribeClusterRequest::default()
                .with_endpoint_type(1)
                .with_include_fenced_brokers(true),
            v,
        )
        .await?;
    if cluster.error_code != 0 {
        answer(cluster.error_code, cluster.error_message, "")?;
    }
    let v = client.version(ApiKey::DescribeQuorum, 2)?;
    let quorum = client
        .call(
            &DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
                .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
                .with_partitions(vec![PartitionData::default().with_partition_index(0)])]),
            v,
        )
        .await?;
    if quorum.error_code != 0 {
        answer(quorum.error_code, quorum.error_message, "")?;
    }
    println!("cluster.id: {}", cluster.cluster_id);
    let p = quorum
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .cloned()
        .unwrap_or_default();
    println!("active controller: {}", p.leader_id.0);
    println!("brokers:");
    println!("  {:<8} {:<8} {:<12} endpoint", "id", "state", "rack");
    for b in &cluster.brokers {
        let state = if b.is_fenced { "fenced" } else { "online" };
        let rack = b.rack.as_ref().map(|r| r.to_string()).unwrap_or("-".into());
        println!(
            "  {:<8} {:<8} {:<12} {}:{}",
            b.broker_id.0, state, rack, b.host, b.port
        );
    }
    println!(
        "quorum: leader {} epoch {} high watermark {}",
        p.leader_id.0, p.leader_epoch, p.high_watermark
    );
    println!("  {:<8} {:<10} {:<10} lag", "id", "role", "log end");
    let lag = |end: i64| {
        if end < 0 || p.high_watermark < 0 {
            "-".to_string()
        } else {
            (p.high_watermark - end).max(0).to_string()
        }
    };
    for (role, replicas) in [("voter", &p.current_voters), ("observer", &p.observers)] {
        for r in replicas {
            println!(
                "  {:<8} {:<10} {:<10} {}",
                r.replica_id.0,
                role,
                r.log_end_offset,
                lag(r.log_end_offset)
            );
        }
    }
    Ok(())
}
