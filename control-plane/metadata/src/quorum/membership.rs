//! Who is in the quorum: voters, and observers that follow the log without voting
//! (broker-only nodes, and controllers of a dynamic quorum before they are promoted).
//!
//! Observers are openraft learners: the leader sends them the committed log, or a
//! snapshot when they are far behind, so a broker's metadata arrives the way a voter's
//! does (KRaft's observers fetch instead; the effect is the same). Voter changes are
//! one at a time (KIP-853): a voter is promoted only from an observer that already
//! follows the log.

use std::collections::{BTreeMap, BTreeSet};

use openraft::{BasicNode, ChangeMembers};

use super::{NodeId, Quorum, QuorumError};

/// One replica of the metadata log as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    pub node_id: NodeId,
    /// Its control-plane address.
    pub address: String,
    /// Index of the last entry the leader knows it has.
    pub log_end: Option<u64>,
}

/// The quorum as its leader sees it (Kafka's DescribeQuorum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDescription {
    pub leader_id: Option<NodeId>,
    pub term: u64,
    /// Index of the last entry applied on the leader (committed), if any.
    pub high_watermark: Option<u64>,
    pub voters: Vec<QuorumReplica>,
    pub observers: Vec<QuorumReplica>,
}

impl Quorum {
    /// On the leader: makes `id` at `address` an observer (it starts receiving the log).
    /// A node already in the membership at that address is left as it is.
    pub async fn join_observer(&self, id: NodeId, address: &str) -> Result<(), QuorumError> {
        self.check_leader()?;
        match self.address_of(id) {
            Some(a) if a == address => return Ok(()),
            Some(_) => {
                let nodes = BTreeMap::from([(id, BasicNode::new(address))]);
                self.raft
                    .change_membership(ChangeMembers::SetNodes(nodes), true)
                    .await
                    .map_err(|e| self.write_error(e))?;
            }
            None => {
                self.raft
                    .add_learner(id, BasicNode::new(address), false)
                    .await
                    .map_err(|e| self.write_error(e))?;
            }
        }
        Ok(())
    }

    /// On the leader: promotes observer `id` to voter.
    pub async fn promote(&self, id: NodeId) -> Result<(), QuorumError> {
        self.check_leader()?;
        if self.voters().contains(&id) {
            return Err(QuorumError::DuplicateVoter(format!(
                "node {id} is already a voter"
            )));
        }
        if self.address_of(id).is_none() {
            return Err(QuorumError::VoterNotFound(format!(
                "node {id} is not an observer of the quorum: start it with \
                 controller.quorum.bootstrap.servers first"
            )));
        }
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), true)
            .await
            .map_err(|e| self.write_error(e))?;
        Ok(())
    }

    /// On the leader: demotes voter `id` to observer (it keeps following the log).
    pub async fn demote(&self, id: NodeId) -> Result<(), QuorumError> {
        self.check_leader()?;
        let voters = self.voters();
        if !voters.contains(&id) {
            return Err(QuorumError::VoterNotFound(format!(
                "node {id} is not a voter"
            )));
        }
        if voters.len() == 1 {
            return Err(QuorumError::Membership(format!(
                "node {id} is the only voter; a quorum needs one"
            )));
        }
        self.raft
            .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), true)
            .await
            .map_err(|e| self.write_error(e))?;
        Ok(())
    }

    /// The quorum as this node sees it; replication progress is known on the leader only.
    pub fn describe(&self) -> QuorumDescription {
        let m = self.metrics();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let progress = m.replication.clone().unwrap_or_default();
        let replica = |id: NodeId, node: &BasicNode| QuorumReplica {
            node_id: id,
            address: node.addr.clone(),
            log_end: if id == m.id {
                m.last_log_index
            } else {
                progress.get(&id).copied().flatten().map(|l| l.index)
            },
        };
        let mut out = QuorumDescription {
            leader_id: m.current_leader,
            term: m.current_term,
            high_watermark: m.last_applied.map(|l| l.index),
            voters: Vec::new(),
            observers: Vec::new(),
        };
        for (id, node) in membership.nodes() {
            let r = replica(*id, node);
            if voters.contains(id) {
                out.voters.push(r);
            } else {
                out.observers.push(r);
            }
        }
        out
    }

    fn check_leader(&self) -> Result<(), QuorumError> {
        if self.is_leader() {
            return Ok(());
        }
        Err(QuorumError::NotLeader {
            leader: self
                .leader()
                .and_then(|id| self.address_of(id).map(|a| (id, a))),
        })
    }
}
