//! Records of `__consumer_offsets`, in Apache Kafka's own layouts (OffsetCommitKey v1 /
//! OffsetCommitValue v3, GroupMetadataKey v2 / GroupMetadataValue v3), so the topic is
//! compacted per key exactly as Kafka's is. Older value versions (0..=2) decode too;
//! the flexible versions Kafka 3.x+ may write (v4+, compact strings and tagged fields)
//! are refused with a [`DecodeError`] rather than misread.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::DecodeError;

/// One member as stored in a group's metadata record (GroupMetadataValue v3 member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A record of `__consumer_offsets`: the coordinator emits them in [`crate::Output`]
/// and rebuilds its state from them with [`crate::GroupCoordinator::replay`]. Offsets
/// and group metadata have different keys, so compaction keeps the latest of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        offset: i64,
        leader_epoch: i32,
        metadata: String,
        commit_timestamp: i64,
    },
    OffsetTombstone {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
        protocol_type: String,
        generation: i32,
        protocol: Option<String>,
        leader: Option<String>,
        state_timestamp: i64,
        members: Vec<MemberRecord>,
    },
    GroupTombstone {
        group: String,
    },
}

const OFFSET_KEY: i16 = 1;
const GROUP_KEY: i16 = 2;
const OFFSET_VALUE: i16 = 3;
const GROUP_VALUE: i16 = 3;

/// A Kafka STRING (i16 length). Callers keep strings within [`MAX_STRING_BYTES`]
/// (group ids are validated, member ids built to fit); anything longer is cut at the
/// last whole character that fits, never inside one, so the record always decodes.
fn put_str(b: &mut BytesMut, s: &str) {
    let s = truncate_on_char_boundary(s, MAX_STRING_BYTES);
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

/// The most bytes a Kafka STRING holds.
pub const MAX_STRING_BYTES: usize = i16::MAX as usize;

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate_on_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn put_nullable_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.0.remaining() < n {
            return Err(DecodeError(format!(
                "need {n} bytes, {} left",
                self.0.remaining()
            )));
        }
        Ok(())
    }
    fn i16(&mut self) -> Result<i16, DecodeError> {
        self.need(2)?;
        Ok(self.0.get_i16())
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.0.get_i32())
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        self.need(8)?;
        Ok(self.0.get_i64())
    }
    fn nullable_str(&mut self) -> Result<Option<String>, DecodeError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let len = len as usize;
        self.need(len)?;
        let s = std::str::from_utf8(&self.0[..len])
            .map_err(|e| DecodeError(e.to_string()))?
            .to_string();
        self.0.advance(len);
        Ok(Some(s))
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        self.nullable_str()?
            .ok_or_else(|| DecodeError("null string".into()))
    }
    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(Bytes::new());
        }
        let len = len as usize;
        self.need(len)?;
        let b = Bytes::copy_from_slice(&self.0[..len]);
        self.0.advance(len);
        Ok(b)
    }
}

impl GroupRecord {
    /// The group the record belongs to (which decides its partition).
    pub fn group(&self) -> &str {
        match self {
            GroupRecord::Offset { group, .. }
            | GroupRecord::OffsetTombstone { group, .. }
            | GroupRecord::Group { group, .. }
            | GroupRecord::GroupTombstone { group } => group,
        }
    }

    /// The record key: compaction keeps the latest record per key.
    pub fn key(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            GroupRecord::Offset {
                group,
                topic,
                partition,
                ..
            }
            | GroupRecord::OffsetTombstone {
                group,
                topic,
                partition,
            } => {
                b.put_i16(OFFSET_KEY);
                put_str(&mut b, group);
                put_str(&mut b, topic);
                b.put_i32(*partition);
            }
            GroupRecord::Group { group, .. } | GroupRecord::GroupTombstone { group } => {
                b.put_i16(GROUP_KEY);
                put_str(&mut b, group);
            }
        }
        b.freeze()
    }

    /// The record value; `None` for tombstones.
    pub fn value(&self) -> Option<Bytes> {
        let mut b = BytesMut::new();
        match self {
            GroupRecord::Offset {
                offset,
                leader_epoch,
                metadata,
                commit_timestamp,
                ..
            } => {
                b.put_i16(OFFSET_VALUE);
                b.put_i64(*offset);
                b.put_i32(*leader_epoch);
                put_str(&mut b, metadata);
                b.put_i64(*commit_timestamp);
            }
            GroupRecord::Group {
                protocol_type,
                generation,
                protocol,
                leader,
                state_timestamp,
                members,
                ..
            } => {
                b.put_i16(GROUP_VALUE);
                put_str(&mut b, protocol_type);
                b.put_i32(*generation);
                put_nullable_str(&mut b, protocol.as_deref());
                put_nullable_str(&mut b, leader.as_deref());
                b.put_i64(*state_timestamp);
                b.put_i32(members.len() as i32);
                for m in members {
                    put_str(&mut b, &m.member_id);
                    put_nullable_str(&mut b, m.group_instance_id.as_deref());
                    put_str(&mut b, &m.client_id);
                    put_str(&mut b, &m.client_host);
                    b.put_i32(m.rebalance_timeout_ms);
                    b.put_i32(m.session_timeout_ms);
                    put_bytes(&mut b, &m.subscription);
                    put_bytes(&mut b, &m.assignment);
                }
            }
            GroupRecord::OffsetTombstone { .. } | GroupRecord::GroupTombstone { .. } => {
                return None
            }
        }
        Some(b.freeze())
    }

    /// Decodes a key and value written by [`GroupRecord::key`]/[`GroupRecord::value`]
    /// (or by Kafka). Never panics on garbage.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<GroupRecord, DecodeError> {
        let mut k = Reader(key);
        let kv = k.i16()?;
        match kv {
            0 | 1 => {
                let group = k.str()?;
                let topic = k.str()?;
                let partition = k.i32()?;
                let Some(value) = value else {
                    return Ok(GroupRecord::OffsetTombstone {
                        group,
                        topic,
                        partition,
                    });
                };
                let mut v = Reader(value);
                let vv = v.i16()?;
                if !(0..=OFFSET_VALUE).contains(&vv) {
                    return Err(DecodeError(format!(
                        "unsupported offset value version {vv}"
                    )));
                }
                let offset = v.i64()?;
                let leader_epoch = if vv >= 3 { v.i32()? } else { -1 };
                let metadata = v.str()?;
                let commit_timestamp = v.i64()?;
                Ok(GroupRecord::Offset {
                    group,
                    topic,
                    partition,
                    offset,
                    leader_epoch,
                    metadata,
                    commit_timestamp,
                })
            }
            2 => {
                let group = k.str()?;
                let Some(value) = value else {
                    return Ok(GroupRecord::GroupTombstone { group });
                };
                let mut v = Reader(value);
                let vv = v.i16()?;
                if !(0..=GROUP_VALUE).contains(&vv) {
                    return Err(DecodeError(format!("unsupported group value version {vv}")));
                }
                let protocol_type = v.str()?;
                let generation = v.i32()?;
                let protocol = v.nullable_str()?;
                let leader = v.nullable_str()?;
                let state_timestamp = if vv >= 2 { v.i64()? } else { -1 };
                let n = v.i32()?;
                if n < 0 {
                    return Err(DecodeError("negative member count".into()));
                }
                let mut members = Vec::new();
                for _ in 0..n {
                    let member_id = v.str()?;
                    let group_instance_id = if vv >= 3 { v.nullable_str()? } else { None };
                    let client_id = v.str()?;
                    let client_host = v.str()?;
                    let rebalance_timeout_ms = if vv >= 1 { v.i32()? } else { -1 };
                    let session_timeout_ms = v.i32()?;
                    let subscription = v.bytes()?;
                    let assignment = v.bytes()?;
                    members.push(MemberRecord {
                        member_id,
                        group_instance_id,
                        client_id,
                        client_host,
                        rebalance_timeout_ms,
                        session_timeout_ms,
                        subscription,
                        assignment,
                    });
                }
                Ok(GroupRecord::Group {
                    group,
                    protocol_type,
                    generation,
                    protocol,
                    leader,
                    state_timestamp,
                    members,
                })
            }
            other => Err(DecodeError(format!("unknown key version {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(r: GroupRecord) {
        let back = GroupRecord::decode(&r.key(), r.value().as_deref()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn every_kind_round_trips() {
        roundtrip(GroupRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            offset: 42,
            leader_epoch: 1,
            metadata: "m".into(),
            commit_timestamp: 7,
        });
        roundtrip(GroupRecord::OffsetTombstone {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        });
        roundtrip(GroupRecord::Group {
            group: "g".into(),
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp: 9,
            members: vec![MemberRecord {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300000,
                session_timeout_ms: 45000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        });
        roundtrip(GroupRecord::GroupTombstone { group: "g".into() });
    }

    /// Regression: a string longer than a Kafka STRING holds was cut at a byte count,
    /// possibly inside a multi-byte character, and the record then failed to decode.
    #[test]
    fn an_over_long_multibyte_string_is_cut_on_a_character_boundary() {
        // 3-byte characters: 32767 is not a multiple of 3, so a byte cut splits one.
        let long = "€".repeat(MAX_STRING_BYTES / 3 + 10);
        let r = GroupRecord::Group {
            group: "g".into(),
            protocol_type: "consumer".into(),
            generation: 1,
            protocol: Some(long.clone()),
            leader: Some(long.clone()),
            state_timestamp: 0,
            members: vec![MemberRecord {
                member_id: long.clone(),
                group_instance_id: None,
                client_id: long.clone(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 1,
                session_timeout_ms: 1,
                subscription: Bytes::new(),
                assignment: Bytes::new(),
            }],
        };
        let back = GroupRecord::decode(&r.key(), r.value().as_deref()).expect("decodes");
        let cut = truncate_on_char_boundary(&long, MAX_STRING_BYTES);
        assert_eq!(cut.len(), MAX_STRING_BYTES - MAX_STRING_BYTES % 3);
        let GroupRecord::Group {
            members, leader, ..
        } = back
        else {
            panic!("not a group record")
        };
        assert_eq!(leader.as_deref(), Some(cut));
        assert_eq!(members[0].member_id, cut);
        assert_eq!(members[0].client_id, cut);
    }

    proptest! {
        #[test]
        fn garbage_never_panics(key in proptest::collection::vec(any::<u8>(), 0..64),
                                value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..128))) {
            let _ = GroupRecord::decode(&key, value.as_deref());
        }

        #[test]
        fn group_records_round_trip(group in "[a-z]{1,12}", pt in "[a-z]{0,8}", generation in any::<i32>(),
                                    protocol in proptest::option::of("[a-z]{1,8}"), leader in proptest::option::of("[a-z0-9-]{1,8}"),
                                    ts in any::<i64>(),
                                    members in proptest::collection::vec(("[a-z0-9-]{1,10}", proptest::option::of("[a-z]{1,5}"), any::<i32>(), any::<i32>(),
                                                                          proptest::collection::vec(any::<u8>(), 0..16), proptest::collection::vec(any::<u8>(), 0..16)), 0..4),
                                    tombstone in any::<bool>()) {
            let r = if tombstone {
                GroupRecord::GroupTombstone { group }
            } else {
                GroupRecord::Group {
                    group, protocol_type: pt, generation, protocol, leader, state_timestamp: ts,
                    members: members.into_iter().map(|(id, inst, rt, st, sub, asg)| MemberRecord {
                        member_id: id, group_instance_id: inst, client_id: "c".into(), client_host: "/h".into(),
                        rebalance_timeout_ms: rt, session_timeout_ms: st, subscription: sub.into(), assignment: asg.into(),
                    }).collect(),
                }
            };
            prop_assert_eq!(GroupRecord::decode(&r.key(), r.value().as_deref()).unwrap(), r);
        }

        /// Valid prefixes with the rest garbled still never panic.
        #[test]
        fn garbled_valid_records_never_panic(cut in 0usize..200, flip in any::<u8>(), at in 0usize..200) {
            let r = GroupRecord::Group {
                group: "g".into(), protocol_type: "consumer".into(), generation: 3, protocol: Some("range".into()),
                leader: Some("m".into()), state_timestamp: 1,
                members: vec![MemberRecord { member_id: "m".into(), group_instance_id: None, client_id: "c".into(),
                    client_host: "h".into(), rebalance_timeout_ms: 1, session_timeout_ms: 2,
                    subscription: Bytes::from_static(b"s"), assignment: Bytes::from_static(b"a") }],
            };
            let mut v = r.value().unwrap().to_vec();
            if at < v.len() { v[at] ^= flip; }
            v.truncate(cut);
            let _ = GroupRecord::decode(&r.key(), Some(&v));
        }

        #[test]
        fn offsets_round_trip(group in "[a-z]{1,12}", topic in "[a-z.]{1,12}", p in 0i32..1000,
                              offset in 0i64..i64::MAX, epoch in -1i32..100, md in "[ -~]{0,20}", ts in 0i64..i64::MAX) {
            let r = GroupRecord::Offset { group, topic, partition: p, offset, leader_epoch: epoch, metadata: md, commit_timestamp: ts };
            prop_assert_eq!(GroupRecord::decode(&r.key(), r.value().as_deref()).unwrap(), r);
        }
    }
}
