//! The shape of a coordinator the runtime can run.

/// Names a request inside one shard, so a reply produced later (a JoinGroup answered
/// when the rebalance completes) finds its caller.
pub type RequestId = u64;

/// What one step of a state machine produced: records to append, then replies to send.
#[derive(Debug)]
pub struct Output<Record, Reply> {
    pub records: Vec<Record>,
    pub replies: Vec<(RequestId, Reply)>,
}

impl<Record, Reply> Default for Output<Record, Reply> {
    fn default() -> Self {
        Self {
            records: Vec::new(),
            replies: Vec::new(),
        }
    }
}

/// A coordinator as a pure state machine: no I/O, no clock of its own.
pub trait StateMachine: Send + 'static {
    type Request: Send + 'static;
    type Reply: Send + 'static;
    type Record: Send + 'static;

    /// Handles one request at `now`; its reply is in the output or in a later one.
    fn handle(
        &mut self,
        id: RequestId,
        request: Self::Request,
        now: i64,
    ) -> Output<Self::Record, Self::Reply>;
    /// Fires the timers due at `now`.
    fn tick(&mut self, now: i64) -> Output<Self::Record, Self::Reply>;
    /// When `tick` next has something to do.
    fn next_deadline(&self) -> Option<i64>;
    /// Applies one record read back from the log (loading).
    fn replay(&mut self, record: Self::Record, now: i64);
    /// Forgets all state (before a replay rebuilds it).
    fn reset(&mut self);
    /// The reply a caller gets in place of `reply` when the records behind it could not
    /// be made durable, for the reason `why` gives.
    fn failed(reply: Self::Reply, why: &crate::WriteError) -> Self::Reply;
}
