//! ListGroups, DescribeGroups, DeleteGroups.

use bytes::Bytes;

use crate::coordinator::{GroupCoordinator, Output};
use crate::error::GroupError;
use crate::group::{GroupState, Member};
use crate::record::GroupRecord;
use crate::request::*;

impl GroupCoordinator {
    // ---- admin ----

    pub(crate) fn list(&self, states: &[String], types: &[String]) -> Vec<GroupListing> {
        if !types.is_empty() && !types.iter().any(|t| t.eq_ignore_ascii_case("classic")) {
            return Vec::new();
        }
        self.groups
            .values()
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(&g.state.to_string()))
            })
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect()
    }

    pub(crate) fn describe(&self, group_id: &str) -> GroupDescription {
        let Some(g) = self.groups.get(group_id) else {
            return GroupDescription {
                group_id: group_id.to_string(),
                error: None,
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol.clone().unwrap_or_default();
        let mut ms: Vec<&Member> = g.members.values().collect();
        ms.sort_by_key(|m| m.join_seq);
        GroupDescription {
            group_id: g.id.clone(),
            error: None,
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: ms
                .into_iter()
                .map(|m| DescribedMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }

    pub(crate) fn delete_group(&mut self, group_id: &str, out: &mut Output) -> Option<GroupError> {
        if group_id.is_empty() {
            return Some(GroupError::InvalidGroupId);
        }
        let Some(g) = self.groups.get(group_id) else {
            return Some(GroupError::GroupIdNotFound);
        };
        if !g.members.is_empty() || g.state != GroupState::Empty {
            return Some(GroupError::NonEmptyGroup);
        }
        for (t, p) in g.offsets.keys() {
            out.records.push(GroupRecord::OffsetTombstone {
                group: group_id.to_string(),
                topic: t.clone(),
                partition: *p,
            });
        }
        out.records.push(GroupRecord::GroupTombstone {
            group: group_id.to_string(),
        });
        self.groups.remove(group_id);
        None
    }
}
