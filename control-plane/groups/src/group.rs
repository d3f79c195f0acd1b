//! One group's state: members, generation, chosen protocol, committed offsets.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use bytes::Bytes;

use crate::coordinator::RequestId;

/// Group states, with Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        })
    }
}

/// One member of a group.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// Protocols in the member's order of preference, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub session_deadline: i64,
    /// The JoinGroup waiting for the current rebalance to complete.
    pub awaiting_join: Option<RequestId>,
    /// The SyncGroup waiting for the leader's assignment.
    pub awaiting_sync: Option<RequestId>,
    /// Order of joining; the first joined member becomes leader.
    pub join_seq: u64,
}

impl Member {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    pub fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// A group and its offsets.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// group.instance.id -> member id
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with their expiry.
    pub pending: HashMap<String, i64>,
    /// When the join phase of the current rebalance completes at the latest
    /// (PreparingRebalance only).
    pub rebalance_deadline: Option<i64>,
    /// When the rebalance started from Empty, i.e. the join phase is in the initial
    /// delay (`group.initial.rebalance.delay.ms`) that waits for more members.
    pub initial_delay_since: Option<i64>,
    /// When members that have not sent SyncGroup are removed (CompletingRebalance
    /// only; Kafka's pending-sync timeout, the rebalance timeout).
    pub sync_deadline: Option<i64>,
    pub offsets: BTreeMap<(String, i32), Committed>,
    /// When the group last became Empty (offsets expire relative to it).
    pub empty_since: i64,
    pub state_timestamp: i64,
}

impl Group {
    pub fn new(id: &str, now: i64) -> Self {
        Self {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_since: None,
            sync_deadline: None,
            offsets: BTreeMap::new(),
            empty_since: now,
            state_timestamp: now,
        }
    }

    pub fn transition(&mut self, to: GroupState, now: i64) {
        if to == GroupState::Empty && self.state != GroupState::Empty {
            self.empty_since = now;
        }
        self.state = to;
        self.state_timestamp = now;
    }

    /// Whether a member with `protocols` could join: some protocol every member (and
    /// it) supports.
    pub fn supports(&self, protocols: &[(String, Bytes)]) -> bool {
        protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    /// The protocol every member supports with the most first-preference votes; ties go
    /// to the leader's (or first member's) preference order.
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().min_by_key(|m| m.join_seq)?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(x, _)| x == *n))
            })
            .collect();
        let mut votes: Vec<(usize, &String)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n)) {
                if let Some(v) = votes.iter_mut().find(|(_, c)| *c == n) {
                    v.0 += 1;
                }
            }
        }
        let best = votes.iter().map(|(v, _)| *v).max()?;
        votes
            .iter()
            .find(|(v, _)| *v == best)
            .map(|(_, c)| (*c).clone())
    }

    /// The longest rebalance timeout of the members (how long a join phase may last).
    pub fn rebalance_timeout(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms.max(0) as i64)
            .max()
            .unwrap_or(0)
    }

    /// Every member (and every member id handed out with MEMBER_ID_REQUIRED) has sent
    /// its JoinGroup for this rebalance.
    pub fn all_rejoined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// Topics the members subscribe to, read from consumer-protocol metadata; `None`
    /// when some member's metadata is not the consumer protocol.
    pub fn subscribed_topics(&self) -> Option<Vec<String>> {
        let protocol = self.protocol.as_deref()?;
        let mut topics = Vec::new();
        for m in self.members.values() {
            topics.extend(consumer_subscription(&m.metadata_for(protocol))?);
        }
        Some(topics)
    }
}

/// The topics of a ConsumerProtocolSubscription (any version: they start alike).
fn consumer_subscription(b: &[u8]) -> Option<Vec<String>> {
    use bytes::Buf;
    let mut b = b;
    if b.remaining() < 6 {
        return None;
    }
    let _version = b.get_i16();
    let n = b.get_i32();
    if n < 0 {
        return None;
    }
    let mut out = Vec::new();
    for _ in 0..n {
        if b.remaining() < 2 {
            return None;
        }
        let len = b.get_i16();
        if len < 0 || b.remaining() < len as usize {
            return None;
        }
        out.push(String::from_utf8_lossy(&b[..len as usize]).into_owned());
        b.advance(len as usize);
    }
    Some(out)
}
