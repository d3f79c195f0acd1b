//! `strata format`: a node's identity before its first start (Kafka's
//! `kafka-storage.sh format`), so nodes of different clusters never mix.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::node_config;

#[derive(Args)]
pub struct FormatArgs {
    /// The node's TOML config (the one `strata serve --config` will use).
    #[arg(long)]
    config: PathBuf,
    /// The cluster id to format for (default: the config's cluster.id, else a new
    /// random one, printed). Every node of a cluster gets the same.
    #[arg(long)]
    cluster_id: Option<String>,
    /// Make this controller the only voter of a new dynamic quorum
    /// (controller.quorum.bootstrap.servers); others join and are promoted with
    /// `strata cluster add-voter`.
    #[arg(long)]
    standalone: bool,
}

pub async fn run(args: FormatArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("cannot read config file {}", args.config.display()))?;
    let mut config =
        node_config::parse(&text).with_context(|| format!("in {}", args.config.display()))?;
    if let Some(id) = args.cluster_id {
        config.cluster_id = Some(id);
    }
    if config.cluster_id.is_none() {
        config.cluster_id = Some(strata_metadata::random_cluster_id());
    }
    node_config::validate(&config)?;
    let id = strata_broker::format(&config, args.standalone).await?;
    println!(
        "formatted {} for cluster.id {id} (node.id {}){}",
        config.log_dirs.display(),
        config.node_id,
        if args.standalone {
            ", the only voter of a new quorum"
        } else {
            ""
        }
    );
    Ok(())
}
