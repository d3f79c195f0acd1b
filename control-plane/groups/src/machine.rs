//! The group coordinator as a state machine of the coordinator runtime: one
//! [`GroupCoordinator`] per partition of `__consumer_offsets`, holding the groups that
//! hash to it.

use strata_coordinator::{Output as ShardOutput, RequestId, StateMachine};

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

    fn failed(reply: Reply) -> Reply {
        reply.failed_write(GroupError::CoordinatorNotAvailable)
    }
}
