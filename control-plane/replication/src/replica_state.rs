//! What this node is for one partition: leader or follower, in which leader epoch, and
//! (as leader) how far its in-sync followers have replicated, which is what the high
//! watermark follows.

use std::collections::BTreeMap;

/// This node's role for a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower {
        /// The broker it replicates from.
        leader: i32,
    },
}

/// The replica state behind a [`crate::Partition`].
#[derive(Debug, Clone)]
pub(crate) struct ReplicaState {
    pub(crate) role: Role,
    pub(crate) leader_epoch: i32,
    /// As leader: the other in-sync replicas and the log end each last reported
    /// (none reported yet: 0). This node is always in its own ISR.
    pub(crate) followers: BTreeMap<i32, i64>,
    /// As follower: the high watermark the leader last sent. As leader: the high
    /// watermark already reached, below which it never falls (a new leader starts
    /// from the one it had, whatever its followers have reported so far).
    pub(crate) leader_high_watermark: i64,
}

impl ReplicaState {
    /// A partition this node leads alone (a single node; what every partition starts as
    /// until the metadata publisher says otherwise).
    pub(crate) fn sole_leader() -> Self {
        Self {
            role: Role::Leader,
            leader_epoch: 0,
            followers: BTreeMap::new(),
            leader_high_watermark: 0,
        }
    }

    /// Kafka's high watermark: as leader the smallest log end among the ISR (so a
    /// record is visible once every in-sync replica has it); as follower what the
    /// leader said, never past the local log end.
    pub(crate) fn high_watermark(&self, local_leo: i64) -> i64 {
        match self.role {
            Role::Leader => self
                .followers
                .values()
                .fold(local_leo, |hw, &leo| hw.min(leo))
                .max(self.leader_high_watermark.min(local_leo)),
            Role::Follower { .. } => self.leader_high_watermark.min(local_leo),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_high_watermark_follows_the_slowest_in_sync_replica() {
        let mut s = ReplicaState::sole_leader();
        assert_eq!(s.high_watermark(10), 10, "alone, the HW is the log end");
        s.followers = BTreeMap::from([(2, 7), (3, 9)]);
        assert_eq!(s.high_watermark(10), 7);
        s.leader_high_watermark = 8;
        assert_eq!(s.high_watermark(10), 8, "a leader's HW never falls back");
        s.leader_high_watermark = 0;
        s.followers.insert(2, 12);
        assert_eq!(s.high_watermark(10), 9);
        s.role = Role::Follower { leader: 2 };
        s.leader_high_watermark = 15;
        assert_eq!(s.high_watermark(10), 10, "never past the local log end");
        s.leader_high_watermark = 4;
        assert_eq!(s.high_watermark(10), 4);
    }
}
