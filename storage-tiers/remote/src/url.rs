//! Building the object store from `remote.log.storage.url`.

use std::sync::Arc;

use object_store::prefix::PrefixStore;
use object_store::ObjectStore;

use crate::error::RemoteStorageError;

/// `memory://`, `file:///absolute/dir` (created if absent), `s3://bucket[/prefix]`,
/// `gs://bucket[/prefix]`, `az://container[/prefix]`. Cloud stores take their
/// credentials and endpoints from the standard environment (`AWS_*`, with
/// `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP=true` for LocalStack/MinIO; `GOOGLE_*`;
/// `AZURE_*`). A `/prefix` after the bucket roots the returned store there (a
/// `PrefixStore`), so callers use keys relative to it.
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
        "s3" => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| bad(e.to_string()))?,
        ),
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| bad(e.to_string()))?,
        ),
        "az" => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(bucket)
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
