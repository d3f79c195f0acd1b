//! `ObjectStore` decorators for tests and benchmarks: they sit under the one
//! implementation ([`crate::ObjectStoreRsm`], [`crate::RemoteLogMetadataStore`]), so
//! what they prove holds for the real code path.
//!
//! - [`UnreliableStore`] fails the first N calls of chosen kinds with a retryable
//!   error (an HTTP 503 "slow down"), then passes everything through.
//! - [`CountingStore`] counts requests by billing class (PUT, GET, LIST).
//! - [`LatencyStore`] delays every call by a fixed time.
//!
//! All three are one generic wrapper, [`Decorated`], with a different [`Hook`].

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};

/// One kind of object-store request, as a decorator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOp {
    Put,
    /// Creating a multipart upload.
    CreateMultipart,
    PutPart,
    CompleteMultipart,
    AbortMultipart,
    Get,
    Head,
    /// One object of a delete (S3 may batch several in one request; counted apart).
    Delete,
    List,
    Copy,
    Rename,
}

/// How object stores bill a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// PUT, POST, COPY, LIST on S3's price list; DELETE is free on S3 but counted here
    /// as a write. LIST is counted apart ([`RequestClass::List`]).
    Put,
    /// GET, HEAD.
    Get,
    List,
}

impl StoreOp {
    pub fn class(self) -> RequestClass {
        match self {
            StoreOp::Get | StoreOp::Head => RequestClass::Get,
            StoreOp::List => RequestClass::List,
            _ => RequestClass::Put,
        }
    }
}

/// What a decorator does before each request: fail it, delay it, or let it through.
pub trait Hook: Send + Sync + fmt::Debug + 'static {
    /// Called once per request before it reaches the inner store. `Err` fails the
    /// request without sending it; `Ok(Some(d))` sends it after `d`.
    fn before(&self, op: StoreOp) -> object_store::Result<Option<Duration>>;
}

/// An `ObjectStore` that runs `hook` before every request of `inner`.
#[derive(Debug)]
pub struct Decorated<H: Hook> {
    inner: Arc<dyn ObjectStore>,
    hook: Arc<H>,
}

impl<H: Hook> Decorated<H> {
    pub fn with_hook(inner: Arc<dyn ObjectStore>, hook: H) -> Self {
        Self {
            inner,
            hook: Arc::new(hook),
        }
    }

    pub fn hook(&self) -> &H {
        &self.hook
    }

    /// The same hook (its counters, its fault schedule) in front of another store.
    pub fn sharing_hook(&self, inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            hook: self.hook.clone(),
        }
    }

    async fn before(&self, op: StoreOp) -> object_store::Result<()> {
        run_hook(&*self.hook, op).await
    }
}

async fn run_hook<H: Hook + ?Sized>(hook: &H, op: StoreOp) -> object_store::Result<()> {
    if let Some(delay) = hook.before(op)? {
        tokio::time::sleep(delay).await;
    }
    Ok(())
}

impl<H: Hook> fmt::Display for Decorated<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decorated({:?}, {})", self.hook, self.inner)
    }
}

#[async_trait]
impl<H: Hook> ObjectStore for Decorated<H> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.before(StoreOp::Put).await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.before(StoreOp::CreateMultipart).await?;
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(DecoratedUpload {
            inner,
            hook: self.hook.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let op = if options.head {
            StoreOp::Head
        } else {
            StoreOp::Get
        };
        self.before(op).await?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        for _ in ranges {
            self.before(StoreOp::Get).await?;
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let hook = self.hook.clone();
        let checked = locations
            .then(move |location| {
                let hook = hook.clone();
                async move {
                    let location = location?;
                    run_hook(&*hook, StoreOp::Delete).await?;
                    Ok(location)
                }
            })
            .boxed();
        self.inner.delete_stream(checked)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match self.hook.before(StoreOp::List) {
            // A listing is lazy; the delay is not worth a wrapper stream here.
            Ok(_) => self.inner.list(prefix),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match self.hook.before(StoreOp::List) {
            Ok(_) => self.inner.list_with_offset(prefix, offset),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.before(StoreOp::List).await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.before(StoreOp::Copy).await?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.before(StoreOp::Rename).await?;
        self.inner.rename_opts(from, to, options).await
    }
}

#[derive(Debug)]
struct DecoratedUpload<H: Hook> {
    inner: Box<dyn MultipartUpload>,
    hook: Arc<H>,
}

#[async_trait]
impl<H: Hook> MultipartUpload for DecoratedUpload<H> {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        // Decided before the inner upload sees the part, so a failed part consumes
        // no part number there.
        match self.hook.before(StoreOp::PutPart) {
            Err(e) => Box::pin(async move { Err(e) }),
            Ok(None) => self.inner.put_part(data),
            Ok(Some(delay)) => {
                let part = self.inner.put_part(data);
                Box::pin(async move {
                    tokio::time::sleep(delay).await;
                    part.await
                })
            }
        }
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        run_hook(&*self.hook, StoreOp::CompleteMultipart).await?;
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        run_hook(&*self.hook, StoreOp::AbortMultipart).await?;
        self.inner.abort().await
    }
}

// --- Unreliable -------------------------------------------------------------------

/// Fails the first `failures` requests whose kind is in `ops` with a retryable error
/// (a 503), then lets everything through. Requests of other kinds always pass.
#[derive(Debug)]
pub struct Unreliable {
    ops: Vec<StoreOp>,
    remaining: AtomicU64,
    injected: AtomicU64,
}

impl Unreliable {
    /// How many failures were injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }
}

impl Hook for Unreliable {
    fn before(&self, op: StoreOp) -> object_store::Result<Option<Duration>> {
        if !self.ops.contains(&op) {
            return Ok(None);
        }
        let took = self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !took {
            return Ok(None);
        }
        let n = self.injected.fetch_add(1, Ordering::SeqCst) + 1;
        Err(object_store::Error::Generic {
            store: "UnreliableStore",
            source: format!("injected failure {n} of {op:?}: HTTP 503 Slow Down").into(),
        })
    }
}

/// See [`Unreliable`].
pub type UnreliableStore = Decorated<Unreliable>;

impl UnreliableStore {
    /// Fails the first `failures` requests of the kinds in `ops`.
    pub fn new(
        inner: Arc<dyn ObjectStore>,
        failures: u64,
        ops: impl IntoIterator<Item = StoreOp>,
    ) -> Self {
        Self::with_hook(
            inner,
            Unreliable {
                ops: ops.into_iter().collect(),
                remaining: AtomicU64::new(failures),
                injected: AtomicU64::new(0),
            },
        )
    }

    /// Every kind of request.
    pub const ALL_OPS: [StoreOp; 11] = [
        StoreOp::Put,
        StoreOp::CreateMultipart,
        StoreOp::PutPart,
        StoreOp::CompleteMultipart,
        StoreOp::AbortMultipart,
        StoreOp::Get,
        StoreOp::Head,
        StoreOp::Delete,
        StoreOp::List,
        StoreOp::Copy,
        StoreOp::Rename,
    ];
}

// --- Flaky ------------------------------------------------------------------------

/// Fails every `every`-th request with a retryable error, alternating between a 503
/// and a throttling answer (S3's `SlowDown`), for as long as it is installed: the
/// steady drizzle of errors a real bucket under load gives.
#[derive(Debug)]
pub struct Flaky {
    every: u64,
    seen: AtomicU64,
    injected: AtomicU64,
}

impl Flaky {
    /// How many failures were injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }
}

impl Hook for Flaky {
    fn before(&self, op: StoreOp) -> object_store::Result<Option<Duration>> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if self.every == 0 || !n.is_multiple_of(self.every) {
            return Ok(None);
        }
        let k = self.injected.fetch_add(1, Ordering::SeqCst) + 1;
        let what = if k.is_multiple_of(2) {
            "HTTP 503 Service Unavailable"
        } else {
            "HTTP 503 SlowDown: please reduce your request rate"
        };
        Err(object_store::Error::Generic {
            store: "FlakyStore",
            source: format!("injected failure {k} of {op:?}: {what}").into(),
        })
    }
}

/// See [`Flaky`].
pub type FlakyStore = Decorated<Flaky>;

impl FlakyStore {
    /// Fails every `every`-th request (0: never).
    pub fn new(inner: Arc<dyn ObjectStore>, every: u64) -> Self {
        Self::with_hook(
            inner,
            Flaky {
                every,
                seen: AtomicU64::new(0),
                injected: AtomicU64::new(0),
            },
        )
    }
}

// --- Counting ---------------------------------------------------------------------

/// Counts requests by kind.
#[derive(Debug, Default)]
pub struct Counting {
    counts: [AtomicU64; 11],
}

/// A snapshot of a [`CountingStore`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub put: u64,
    pub create_multipart: u64,
    pub put_part: u64,
    pub complete_multipart: u64,
    pub abort_multipart: u64,
    pub get: u64,
    pub head: u64,
    pub delete: u64,
    pub list: u64,
    pub copy: u64,
    pub rename: u64,
}

impl RequestCounts {
    /// PUT-class as S3 bills it: put, multipart create/parts/complete/abort, copy,
    /// rename (DELETE is free and LIST is counted on its own).
    pub fn put_class(&self) -> u64 {
        self.put
            + self.create_multipart
            + self.put_part
            + self.complete_multipart
            + self.abort_multipart
            + self.copy
            + self.rename
    }

    /// GET-class: get (whole or ranged) and head.
    pub fn get_class(&self) -> u64 {
        self.get + self.head
    }

    pub fn list_class(&self) -> u64 {
        self.list
    }
}

fn op_index(op: StoreOp) -> usize {
    op as usize
}

impl Hook for Counting {
    fn before(&self, op: StoreOp) -> object_store::Result<Option<Duration>> {
        self.counts[op_index(op)].fetch_add(1, Ordering::Relaxed);
        Ok(None)
    }
}

/// See [`Counting`].
pub type CountingStore = Decorated<Counting>;

impl CountingStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self::with_hook(inner, Counting::default())
    }

    /// The counts so far.
    pub fn counts(&self) -> RequestCounts {
        let c = |op: StoreOp| self.hook().counts[op_index(op)].load(Ordering::Relaxed);
        RequestCounts {
            put: c(StoreOp::Put),
            create_multipart: c(StoreOp::CreateMultipart),
            put_part: c(StoreOp::PutPart),
            complete_multipart: c(StoreOp::CompleteMultipart),
            abort_multipart: c(StoreOp::AbortMultipart),
            get: c(StoreOp::Get),
            head: c(StoreOp::Head),
            delete: c(StoreOp::Delete),
            list: c(StoreOp::List),
            copy: c(StoreOp::Copy),
            rename: c(StoreOp::Rename),
        }
    }

    /// Sets every counter back to zero.
    pub fn reset(&self) {
        for c in &self.hook().counts {
            c.store(0, Ordering::Relaxed);
        }
    }
}

// --- Latency ----------------------------------------------------------------------

/// Delays every request (but not the items of a listing) by a fixed time.
#[derive(Debug)]
pub struct Latency {
    delay: Duration,
}

impl Hook for Latency {
    fn before(&self, _op: StoreOp) -> object_store::Result<Option<Duration>> {
        Ok(Some(self.delay))
    }
}

/// See [`Latency`].
pub type LatencyStore = Decorated<Latency>;

impl LatencyStore {
    pub fn new(inner: Arc<dyn ObjectStore>, delay: Duration) -> Self {
        Self::with_hook(inner, Latency { delay })
    }
}
