//! `strata perf object-store`: the raw `object_store` PUT and GET throughput of a bucket,
//! the ceiling that historical (remote) consumes are measured against.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

#[derive(Args)]
pub struct ObjectStoreArgs {
    /// The store, as `remote.log.storage.url` (s3://bucket/prefix uses the AWS_* env).
    #[arg(long)]
    url: String,
    /// Bytes per object.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    object_bytes: usize,
    /// Objects to write and then read.
    #[arg(long, default_value_t = 64)]
    objects: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Also read every object again in ranged GETs of this many bytes (as remote
    /// segment chunks are read); 0 to skip.
    #[arg(long, default_value_t = 0)]
    range_bytes: usize,
}

pub async fn run(args: ObjectStoreArgs) -> Result<()> {
    let store: Arc<dyn ObjectStore> =
        strata_remote::store_from_url(&args.url).with_context(|| args.url.clone())?;
    let prefix = format!("strata-perf-{}", std::process::id());
    let body = Bytes::from(
        (0..args.object_bytes)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let keys: Vec<Path> = (0..args.objects)
        .map(|i| Path::from(format!("{prefix}/{i:06}")))
        .collect();
    let total = (args.object_bytes * args.objects) as f64;
    let mb = |secs: f64| total / secs / 1e6;

    let started = Instant::now();
    futures::stream::iter(keys.iter().cloned())
        .map(|k| {
            let store = store.clone();
            let body = body.clone();
            async move { store.put(&k, PutPayload::from(body)).await.map(|_| ()) }
        })
        .buffer_unordered(args.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await
        .context("put")?;
    let put_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let read: usize = futures::stream::iter(keys.iter().cloned())
        .map(|k| {
            let store = store.clone();
            async move {
                let r = store.get(&k).await?;
                r.bytes().await.map(|b| b.len())
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .try_fold(0usize, |a, n| async move { Ok(a + n) })
        .await
        .context("get")?;
    let get_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(read == total as usize, "read {read} bytes, wrote {total}");

    let mut ranged = String::new();
    if args.range_bytes > 0 {
        let ranges: Vec<(Path, std::ops::Range<u64>)> = keys
            .iter()
            .flat_map(|k| {
                (0..args.object_bytes)
                    .step_by(args.range_bytes)
                    .map(move |at| {
                        let end = (at + args.range_bytes).min(args.object_bytes);
                        (k.clone(), at as u64..end as u64)
                    })
            })
            .collect();
        let started = Instant::now();
        futures::stream::iter(ranges)
            .map(|(k, r)| {
                let store = store.clone();
                async move { store.get_range(&k, r).await.map(|b| b.len()) }
            })
            .buffer_unordered(args.concurrency.max(1))
            .try_fold(0usize, |a, n| async move { Ok(a + n) })
            .await
            .context("ranged get")?;
        ranged = format!(
            ", ranged GET ({} B) {:.1} MB/s",
            args.range_bytes,
            mb(started.elapsed().as_secs_f64())
        );
    }
    for k in &keys {
        let _ = store.delete(k).await;
    }
    println!(
        "{} objects of {} bytes, concurrency {}: PUT {:.1} MB/s, GET {:.1} MB/s{ranged}",
        args.objects,
        args.object_bytes,
        args.concurrency,
        mb(put_s),
        mb(get_s)
    );
    Ok(())
}
