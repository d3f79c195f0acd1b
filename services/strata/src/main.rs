//! `strata`: run a node (`serve`), administer topics, and measure throughput (`perf`).

mod client;
mod cluster;
mod format;
mod groups;
mod node_config;
mod perf;
mod perf_object_store;
mod remote;
mod serve;
mod topics;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Strata: a Kafka-compatible, tiered-storage broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node (broker and controller in one process by default; see process.roles).
    Serve(serve::ServeArgs),
    /// Create, list, describe, delete topics and alter their configs.
    Topics(topics::TopicsArgs),
    /// List, describe (with lag), delete consumer groups and reset their offsets.
    Groups(groups::GroupsArgs),
    /// Measure produce or consume throughput and latency against a running broker.
    Perf(perf::PerfArgs),
    /// Inspect the remote tier (tiered storage) of a node.
    Remote(remote::RemoteArgs),
    /// Describe a cluster's brokers and metadata quorum; add or remove quorum voters.
    Cluster(cluster::ClusterArgs),
    /// Write a node's identity (cluster.id, node.id) before its first start; with
    /// --standalone, make it the only voter of a new dynamic quorum.
    Format(format::FormatArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("strata: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Topics(args) => topics::run(args).await,
            Command::Groups(args) => groups::run(args).await,
            Command::Perf(args) => perf::run(args).await,
            Command::Remote(args) => remote::run(args),
            Command::Cluster(args) => cluster::run(args).await,
            Command::Format(args) => format::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
