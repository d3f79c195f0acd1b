//! The group coordinator as a state machine of the coordinator runtime: one
//! [`GroupCoordinator`] per partition of `__consumer_offsets`, holding the groups that
//! hash to it.

use strata_coordinator::{
    Output as ShardOutput, RequestId, StateMachine, WriteError, WriteFailure,
};

use crate::coordinator::{GroupCoordinator, Output};
use crate::error::GroupError;
use crate::record::GroupRecord;
use crate::request::{Reply, Request};

fn shard_output(out: Output) -> ShardOutput<GroupRecord, Reply> {
    ShardOutput {
        records: out.records,
        replies: out.replies,
    }
}

impl StateMachine for GroupCoordinator {
    type Request = Request;
    type Reply = Reply;
    type Record = GroupRecord;

    fn handle(
        &mut self,
        id: RequestId,
        request: Request,
        now: i64,
    ) -> ShardOutput<GroupRecord, Reply> {
        shard_output(GroupCoordinator::handle(self, id, request, now))
    }

    fn tick(&mut self, now: i64) -> ShardOutput<GroupRecord, Reply> {
        shard_output(GroupCoordinator::tick(self, now))
    }

    fn next_deadline(&self) -> Option<i64> {
        GroupCoordinator::next_deadline(self)
    }

    fn replay(&mut self, record: GroupRecord, now: i64) {
        GroupCoordinator::replay(self, record, now)
    }

    fn reset(&mut self) {
        GroupCoordinator::reset(self)
    }

    /// Kafka's mapping of a failed group write: leadership lost is NOT_COORDINATOR,
    /// trouble that may pass is COORDINATOR_NOT_AVAILABLE, records the log refuses for
    /// good are INVALID_COMMIT_OFFSET_SIZE on a commit and UNKNOWN_SERVER_ERROR
    /// elsewhere.
    fn failed(reply: Reply, why: &WriteError) -> Reply {
        let error = match why.failure {
            WriteFailure::NotLeader => GroupError::NotCoordinator,
            WriteFailure::Unavailable => GroupError::CoordinatorNotAvailable,
            WriteFailure::Rejected if matches!(reply, Reply::OffsetCommit(_)) => {
                GroupError::InvalidCommitOffsetSize
            }
            WriteFailure::Rejected => GroupError::UnknownServerError,
        };
        reply.failed_write(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(reply: Reply, failure: WriteFailure) -> Reply {
        <GroupCoordinator as StateMachine>::failed(reply, &WriteError::new(failure, "log"))
    }

    #[test]
    fn a_failed_write_answers_as_kafka_does() {
        let commit = || Reply::OffsetCommit(vec![(("t".into(), 0), None)]);
        let commit_error = |r: Reply| match r {
            Reply::OffsetCommit(parts) => parts[0].1,
            _ => None,
        };
        assert_eq!(
            commit_error(failed(commit(), WriteFailure::Unavailable)),
            Some(GroupError::CoordinatorNotAvailable)
        );
        assert_eq!(
            commit_error(failed(commit(), WriteFailure::NotLeader)),
            Some(GroupError::NotCoordinator)
        );
        assert_eq!(
            commit_error(failed(commit(), WriteFailure::Rejected)),
            Some(GroupError::InvalidCommitOffsetSize)
        );
        assert!(matches!(
            failed(Reply::Heartbeat(None), WriteFailure::Rejected),
            Reply::Heartbeat(Some(GroupError::UnknownServerError))
        ));
    }
}
