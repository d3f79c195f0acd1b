//! One shard: the task that owns a state machine for one partition of its topic.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use strata_proto::SharedClock;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::machine::{Output, RequestId, StateMachine};

/// A boxed error of the log beneath a coordinator (the runtime is generic over it).
pub type SourceError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a failed append means for the callers waiting on it: the state machine turns
/// it into the reply's error code (Kafka maps a failed coordinator write the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFailure {
    /// This node no longer leads the partition: the client must find the coordinator
    /// again (Kafka's NOT_COORDINATOR).
    NotLeader,
    /// Storage trouble, too few replicas, a timeout: trying again may work (Kafka's
    /// COORDINATOR_NOT_AVAILABLE).
    Unavailable,
    /// The records can never be appended as they are (too large, invalid): retrying
    /// the same request cannot help.
    Rejected,
}

/// An append the log did not take, with why (for the reply) and the log's own error.
#[derive(Debug, thiserror::Error)]
#[error("append to the coordinator's partition failed: {source}")]
pub struct WriteError {
    pub failure: WriteFailure,
    #[source]
    pub source: SourceError,
}

impl WriteError {
    pub fn new(failure: WriteFailure, source: impl Into<SourceError>) -> Self {
        Self {
            failure,
            source: source.into(),
        }
    }

    /// Whether the same request may succeed if the client sends it again.
    pub fn is_retryable(&self) -> bool {
        self.failure != WriteFailure::Rejected
    }
}

/// A partition that could not be replayed; the source names the partition and offset.
#[derive(Debug, thiserror::Error)]
#[error("loading the coordinator's partition: {source}")]
pub struct LoadError {
    #[source]
    pub source: SourceError,
}

impl LoadError {
    pub fn new(source: impl Into<SourceError>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// A shard's partition of the internal topic.
pub trait PartitionWriter<Record>: Send + Sync + 'static {
    /// Appends `records` as one batch; returns once they are durable (with
    /// replication: once the high watermark covers them).
    fn append(&self, records: &[Record], now: i64) -> Result<(), WriteError>;
    /// Every record of the partition, oldest first. An unreadable batch is an error
    /// (a shard must not come back older than what it acknowledged).
    fn read_all(&self) -> Result<Vec<Record>, LoadError>;
}

pub(crate) type Envelope<S> = (
    <S as StateMachine>::Request,
    oneshot::Sender<<S as StateMachine>::Reply>,
);

/// Replays `writer`'s partition into `machine`.
pub(crate) fn load<S: StateMachine>(
    machine: &mut S,
    writer: &dyn PartitionWriter<S::Record>,
    now: i64,
) -> Result<usize, LoadError> {
    let records = writer.read_all()?;
    let n = records.len();
    for r in records {
        machine.replay(r, now);
    }
    Ok(n)
}

pub(crate) struct Shard<S: StateMachine> {
    pub(crate) partition: i32,
    pub(crate) machine: S,
    pub(crate) writer: Arc<dyn PartitionWriter<S::Record>>,
    pub(crate) rx: mpsc::Receiver<Envelope<S>>,
    pub(crate) clock: SharedClock,
}

impl<S: StateMachine> Shard<S> {
    /// Until `stop`: each request and each timer is handled to completion (records
    /// appended, then replies sent) before the next.
    pub(crate) async fn run(mut self, stop: CancellationToken) {
        let mut pending: HashMap<RequestId, oneshot::Sender<S::Reply>> = HashMap::new();
        let mut next_id: RequestId = 0;
        loop {
            let wait = match self.machine.next_deadline() {
                Some(at) => Duration::from_millis((at - self.clock.now_ms()).max(0) as u64),
                None => Duration::from_secs(3600),
            };
            let out = tokio::select! {
                msg = self.rx.recv() => {
                    let Some((req, reply)) = msg else { return };
                    next_id += 1;
                    pending.insert(next_id, reply);
                    self.machine.handle(next_id, req, self.clock.now_ms())
                }
                _ = tokio::time::sleep(wait) => self.machine.tick(self.clock.now_ms()),
                _ = stop.cancelled() => return,
            };
            if !self.apply(out, &mut pending) {
                self.reload(&mut pending);
            }
        }
    }

    /// Appends, then replies; on a failed append every reply is failed and `false`
    /// returned (memory is then ahead of the log).
    fn apply(
        &mut self,
        out: Output<S::Record, S::Reply>,
        pending: &mut HashMap<RequestId, oneshot::Sender<S::Reply>>,
    ) -> bool {
        let mut failed = None;
        if !out.records.is_empty() {
            if let Err(e) = self.writer.append(&out.records, self.clock.now_ms()) {
                tracing::error!(partition = self.partition, error = %e, "coordinator write failed; failing its replies");
                failed = Some(e);
            }
        }
        for (id, reply) in out.replies {
            if let Some(tx) = pending.remove(&id) {
                let _ = tx.send(match &failed {
                    None => reply,
                    Some(e) => S::failed(reply, e),
                });
            }
        }
        failed.is_none()
    }

    /// Rebuilds the state from the log; requests still waiting for a later reply are
    /// dropped (their callers see the coordinator as unavailable and retry).
    fn reload(&mut self, pending: &mut HashMap<RequestId, oneshot::Sender<S::Reply>>) {
        pending.clear();
        self.machine.reset();
        match load(&mut self.machine, self.writer.as_ref(), self.clock.now_ms()) {
            Ok(n) => tracing::warn!(
                partition = self.partition,
                records = n,
                "coordinator shard reloaded"
            ),
            Err(e) => {
                tracing::error!(partition = self.partition, error = %e, "coordinator shard reload failed")
            }
        }
    }
}
