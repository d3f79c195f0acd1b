//! `strata remote stats`: what the remote tier of a node copied, fetched and deleted.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct RemoteArgs {
    #[command(subcommand)]
    command: RemoteCommand,
}

#[derive(Subcommand)]
enum RemoteCommand {
    /// Print the remote tier's counters: bytes and segments copied, fetched and
    /// deleted, copy lag, cache hit ratio, remote fetch latency. Read from the
    /// snapshot a running node refreshes in its data directory every few seconds.
    Stats {
        /// The node's data directory (`log.dirs`).
        #[arg(long, default_value = "strata-data")]
        data_dir: PathBuf,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: RemoteArgs) -> Result<()> {
    match args.command {
        RemoteCommand::Stats { data_dir, json } => {
            let path = data_dir.join(strata_broker::tiering::STATS_FILE);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "{} (is a node with tiered storage running on this data directory?)",
                    path.display()
                )
            })?;
            if json {
                println!("{text}");
                return Ok(());
            }
            let v: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
            if let Some(map) = v.as_object() {
                for (k, v) in map {
                    println!("{k:<24} {v}");
                }
            }
            Ok(())
        }
    }
}
