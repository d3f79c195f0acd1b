//! `strata serve`: one node until SIGTERM or Ctrl-C, then a clean shutdown.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use strata_broker::{Broker, BrokerConfig, ControllerNode};
use tokio_util::sync::CancellationToken;

use crate::node_config;

/// Run a Strata node. With no arguments: a broker on 127.0.0.1:9092 with its data in
/// ./strata-data.
#[derive(Args)]
#[command(after_help = "\
CONFIG FILE
  TOML with Apache Kafka's broker property names, e.g.

    \"num.partitions\" = 3
    \"auto.create.topics.enable\" = false
    \"log.segment.bytes\" = 1048576
    \"log.retention.hours\" = 24
    \"socket.request.max.bytes\" = 104857600

  Unknown keys and bad values are rejected with a message naming them.

ENVIRONMENT
  STRATA_CONFIG     same as --config
  STRATA_DATA_DIR   same as --data-dir (Kafka's log.dirs)
  STRATA_LISTEN     same as --listen (Kafka's listeners)
  STRATA_NODE_ID    same as --node-id (Kafka's node.id)
  STRATA_LOG        log filter (e.g. info, debug, strata_broker=debug)

Flags and environment variables override the config file.")]
pub struct ServeArgs {
    /// TOML config file using Kafka's property names.
    #[arg(long, env = "STRATA_CONFIG")]
    config: Option<PathBuf>,
    /// Directory for the logs and the metadata log (Kafka's `log.dirs`).
    #[arg(long, env = "STRATA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on, host:port (Kafka's `listeners`).
    #[arg(long, env = "STRATA_LISTEN")]
    listen: Option<String>,
    /// This node's id (Kafka's `node.id`).
    #[arg(long, env = "STRATA_NODE_ID")]
    node_id: Option<i32>,
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            node_config::parse(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => BrokerConfig::default(),
    };
    if let Some(d) = args.data_dir {
        config.log_dirs = d;
    }
    if let Some(l) = args.listen {
        config.listeners = l;
    }
    if let Some(n) = args.node_id {
        config.node_id = n;
    }
    node_config::validate(&config)?;
    let data_dir = config.log_dirs.clone();
    // The handler is in place before start-up (recovery, joining the cluster), so a
    // SIGTERM that arrives meanwhile still ends in a clean shutdown.
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        signal.cancel();
    });
    if !config.roles().0 {
        let node = ControllerNode::start(config).await?;
        tracing::info!(
            controller_listen = %node.local_addr(),
            data_dir = %data_dir.display(),
            cluster_id = node.cluster_id(),
            "strata is ready (controller only)"
        );
        node.run(shutdown).await;
        return Ok(());
    }
    let broker = Broker::start(config).await?;
    let addr = broker
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(
        listen = %addr,
        data_dir = %data_dir.display(),
        cluster_id = broker.cluster_id(),
        "strata is ready"
    );
    broker.run(shutdown).await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
