//! Snapshot and load of a large metadata image, as the quorum does them (KIP-630's
//! role): builds an image of TOPICS × PARTITIONS partitions (RF 3 over 3 brokers) by
//! applying committed entries to the quorum's state machine in a fresh sled store, then
//! times (1) building and persisting a snapshot (encode + sled write + flush), (2)
//! opening the store again (a restart loads the image from the snapshot), and (3)
//! installing the snapshot on another node's store (a far-behind follower).
//!
//!     cargo run --release -p strata-metadata --example snapshot_bench [TOPICS PARTITIONS]

use std::time::Instant;

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, EntryPayload};
use strata_metadata::quorum::{Command, Entry, StateMachine};
use strata_metadata::{create_topic, CreateTopicSpec, MetadataImage};

fn open(dir: &std::path::Path) -> anyhow::Result<(sled::Db, StateMachine)> {
    let db = sled::Config::new().path(dir).flush_every_ms(None).open()?;
    let sm = StateMachine::open(&db).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((db, sm))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let topics = args.first().copied().unwrap_or(100);
    let per_topic = args.get(1).copied().unwrap_or(1000) as i32;
    let root = tempfile::tempdir()?;
    let (_db, mut sm) = open(&root.path().join("a"))?;

    let mut image = MetadataImage::default();
    let mut entries = Vec::new();
    for t in 0..topics {
        let spec = CreateTopicSpec {
            name: format!("topic-{t}"),
            num_partitions: per_topic,
            replication_factor: 3,
            assignments: Default::default(),
            configs: Default::default(),
        };
        let (_, records) = create_topic(&image, &spec, (1, 1), &[1, 2, 3])?;
        for r in &records {
            image.apply(r)?;
        }
        entries.push(Entry {
            log_id: openraft::LogId::new(CommittedLeaderId::new(1, 1), t + 1),
            payload: EntryPayload::Normal(Command { records }),
        });
    }
    let t0 = Instant::now();
    sm.apply(entries)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let partitions: usize = sm.image().topics().map(|t| t.partitions.len()).sum();
    println!(
        "image: {topics} topics, {partitions} partitions (applied in {:.0} ms)",
        t0.elapsed().as_secs_f64() * 1e3
    );

    let t0 = Instant::now();
    let snap = sm
        .build_snapshot()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let built = t0.elapsed();
    let bytes = snap.snapshot.get_ref().len();
    println!(
        "snapshot built and persisted: {:.0} ms, {:.1} MiB",
        built.as_secs_f64() * 1e3,
        bytes as f64 / (1 << 20) as f64
    );
    drop(sm);
    drop(_db);

    let t0 = Instant::now();
    let (_db, again) = open(&root.path().join("a"))?;
    let loaded: usize = again.image().topics().map(|t| t.partitions.len()).sum();
    println!(
        "restart, image loaded from the snapshot: {:.0} ms ({loaded} partitions)",
        t0.elapsed().as_secs_f64() * 1e3
    );

    let (_db2, mut follower) = open(&root.path().join("b"))?;
    let t0 = Instant::now();
    follower
        .install_snapshot(&snap.meta, snap.snapshot)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let installed: usize = follower.image().topics().map(|t| t.partitions.len()).sum();
    println!(
        "snapshot installed on a follower: {:.0} ms ({installed} partitions)",
        t0.elapsed().as_secs_f64() * 1e3
    );
    anyhow::ensure!(loaded == partitions && installed == partitions);
    Ok(())
}
