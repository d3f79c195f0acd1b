//! Building the object store from `remote.log.storage.url`.

use std::sync::Arc;

use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, RetryConfig};

use crate::error::RemoteStorageError;

/// `memory://`, `file:///absolute/dir` (created if absent), `s3://bucket[/prefix]`,
/// `gs://bucket[/prefix]`, `az://container[/prefix]`. Cloud stores take their
/// credentials and endpoints from the standard environment (`AWS_*`, with
/// `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP=true` for LocalStack/MinIO; `GOOGLE_*`;
/// `AZURE_*`). A `/prefix` after the bucket roots the returned store there (a
/// `PrefixStore`), so callers use keys relative to it. The cloud clients' own retries
/// are off ([`no_client_retries`]): [`crate::retry`] is the one retry layer.
pub fn store_from_url(url: &str) -> Result<Arc<dyn ObjectStore>, RemoteStorageError> {
    let bad = |m: String| RemoteStorageError::Config(m);
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad(format!("{url}: expected scheme://…")))?;
    let (bucket, prefix) = match rest.split_once('/') {
        Some((b, p)) => (b, p.trim_matches('/').to_string()),
        None => (rest, String::new()),
    };
    let store: Arc<dyn ObjectStore> = match scheme {
        "memory" => Arc::new(object_store::memory::InMemory::new()),
        "file" => {
            let dir = format!("/{}", rest.trim_start_matches('/'));
            std::fs::create_dir_all(&dir).map_err(|e| bad(format!("{dir}: {e}")))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                .map_err(|e| bad(e.to_string()))?
                .with_automatic_cleanup(true);
            return Ok(Arc::new(fs));
        }
        "s3" => s3_store(object_store::aws::AmazonS3Builder::from_env(), bucket)?,
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(no_client_retries())
                .build()
                .map_err(|e| bad(e.to_string()))?,
        ),
        "az" => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(bucket)
                .with_retry(no_client_retries())
                .build()
                .map_err(|e| bad(e.to_string()))?,
        ),
        other => return Err(bad(format!("unsupported scheme {other} in {url}"))),
    };
    if prefix.is_empty() {
        Ok(store)
    } else {
        Ok(Arc::new(PrefixStore::new(store, prefix.as_str())))
    }
}

/// An S3 store of `bucket` from `builder` (endpoint and credentials set), with the
/// client's retries off.
pub(crate) fn s3_store(
    builder: object_store::aws::AmazonS3Builder,
    bucket: &str,
) -> Result<Arc<dyn ObjectStore>, RemoteStorageError> {
    let store = builder
        .with_bucket_name(bucket)
        .with_retry(no_client_retries())
        .build()
        .map_err(|e| RemoteStorageError::Config(e.to_string()))?;
    Ok(Arc::new(store))
}

/// The cloud clients' retry settings: none. Retrying inside the client as well as in
/// [`crate::retry`] would multiply attempts (10 × ours by default) and hide a slow
/// outage from the backoff, the cancellation and the counters that see each attempt.
pub(crate) fn no_client_retries() -> RetryConfig {
    RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    }
}
