//! What the broker asks the coordinator and what it answers, in domain terms.

use bytes::Bytes;

use crate::error::GroupError;
use crate::group::GroupState;

/// One offset to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitEntry {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// A request to the coordinator (the classic group protocol and offset APIs).
#[derive(Debug, Clone)]
pub enum Request {
    JoinGroup {
        group_id: String,
        member_id: String,
        group_instance_id: Option<String>,
        protocol_type: String,
        protocols: Vec<(String, Bytes)>,
        session_timeout_ms: i32,
        rebalance_timeout_ms: i32,
        /// JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED and an id.
        require_known_member_id: bool,
        client_id: String,
        client_host: String,
        reason: Option<String>,
    },
    SyncGroup {
        group_id: String,
        generation_id: i32,
        member_id: String,
        group_instance_id: Option<String>,
        protocol_type: Option<String>,
        protocol_name: Option<String>,
        assignments: Vec<(String, Bytes)>,
    },
    Heartbeat {
        group_id: String,
        generation_id: i32,
        member_id: String,
        group_instance_id: Option<String>,
    },
    LeaveGroup {
        group_id: String,
        /// (member id, group instance id, reason)
        members: Vec<(String, Option<String>, Option<String>)>,
    },
    OffsetCommit {
        group_id: String,
        /// -1 with an empty member id: a commit from outside the group (admin tools,
        /// consumers using assign), allowed only while the group has no members.
        generation_id: i32,
        member_id: String,
        group_instance_id: Option<String>,
        offsets: Vec<OffsetCommitEntry>,
    },
    OffsetFetch {
        group_id: String,
        /// None: every committed partition.
        partitions: Option<Vec<(String, i32)>>,
        require_stable: bool,
    },
    OffsetDelete {
        group_id: String,
        partitions: Vec<(String, i32)>,
    },
    ListGroups {
        states_filter: Vec<String>,
        types_filter: Vec<String>,
    },
    DescribeGroups {
        group_ids: Vec<String>,
    },
    DeleteGroups {
        group_ids: Vec<String>,
    },
}

/// A member as the leader sees it in its JoinGroup reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupReply {
    pub error: Option<GroupError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    pub member_id: String,
    /// Every member with its metadata for the chosen protocol, for the leader only.
    pub members: Vec<JoinedMember>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupReply {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub error: Option<GroupError>,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

impl Reply {
    /// This reply with `error` in place of success wherever it reports a write: what a
    /// client must see when the records of its request did not become durable. Replies
    /// of reads are returned unchanged.
    pub fn failed_write(self, error: GroupError) -> Reply {
        let e = Some(error);
        match self {
            Reply::JoinGroup(r) => Reply::JoinGroup(JoinGroupReply {
                error: e,
                generation_id: -1,
                members: Vec::new(),
                ..r
            }),
            Reply::SyncGroup(r) => Reply::SyncGroup(SyncGroupReply {
                error: e,
                assignment: Bytes::new(),
                ..r
            }),
            Reply::Heartbeat(_) => Reply::Heartbeat(e),
            Reply::LeaveGroup { members, .. } => Reply::LeaveGroup {
                error: e,
                members: members
                    .into_iter()
                    .map(|(m, i, _)| (m, i, Some(error)))
                    .collect(),
            },
            Reply::OffsetCommit(parts) => {
                Reply::OffsetCommit(parts.into_iter().map(|(tp, _)| (tp, Some(error))).collect())
            }
            Reply::OffsetDelete { partitions, .. } => Reply::OffsetDelete {
                error: e,
                partitions: partitions
                    .into_iter()
                    .map(|(tp, _)| (tp, Some(error)))
                    .collect(),
            },
            Reply::DeleteGroups(groups) => {
                Reply::DeleteGroups(groups.into_iter().map(|(g, _)| (g, Some(error))).collect())
            }
            read
            @ (Reply::OffsetFetch { .. } | Reply::ListGroups(_) | Reply::DescribeGroups(_)) => read,
        }
    }
}

/// The coordinator's answer to one [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    JoinGroup(JoinGroupReply),
    SyncGroup(SyncGroupReply),
    Heartbeat(Option<GroupError>),
    LeaveGroup {
        error: Option<GroupError>,
        members: Vec<(String, Option<String>, Option<GroupError>)>,
    },
    OffsetCommit(Vec<((String, i32), Option<GroupError>)>),
    OffsetFetch {
        error: Option<GroupError>,
        /// (topic, partition, offset or -1, leader epoch or -1, metadata)
        offsets: Vec<(String, i32, i64, i32, Option<String>)>,
    },
    OffsetDelete {
        error: Option<GroupError>,
        partitions: Vec<((String, i32), Option<GroupError>)>,
    },
    ListGroups(Vec<GroupListing>),
    DescribeGroups(Vec<GroupDescription>),
    DeleteGroups(Vec<(String, Option<GroupError>)>),
}
