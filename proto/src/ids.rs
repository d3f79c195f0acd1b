//! Names of topics, partitions, brokers and leader generations.

use std::fmt;

use uuid::Uuid;

/// A topic incarnation's id: a UUID never reused, so a topic deleted and created again
/// under the same name is a different topic (its old logs and objects are never
/// mistaken for the new one's).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TopicId(Uuid);

impl TopicId {
    /// The all-zero id Kafka uses for "no id".
    pub const ZERO: TopicId = TopicId(Uuid::nil());

    /// Whether this is [`TopicId::ZERO`].
    pub fn is_zero(&self) -> bool {
        self.0.is_nil()
    }

    /// A fresh random id.
    pub fn random() -> Self {
        TopicId(Uuid::new_v4())
    }

    /// The id as a UUID.
    pub fn uuid(&self) -> Uuid {
        self.0
    }

    /// The id's 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The id from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        TopicId(Uuid::from_bytes(bytes))
    }

    /// The id from a byte slice; `None` unless it is exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Uuid::from_slice(bytes).ok().map(TopicId)
    }

    /// The id as 32 lowercase hex digits (the form stored in `partition.metadata`).
    pub fn to_hex(&self) -> String {
        self.0.simple().to_string()
    }
}

impl From<Uuid> for TopicId {
    fn from(u: Uuid) -> Self {
        TopicId(u)
    }
}

impl From<TopicId> for Uuid {
    fn from(id: TopicId) -> Self {
        id.0
    }
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl fmt::Debug for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicId({})", self.0.hyphenated())
    }
}

/// A topic name and partition index: Kafka's `TopicPartition`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    /// `<topic>-<partition>`, also the name of the partition's directory.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A partition of one topic incarnation: Kafka's `TopicIdPartition`. What the remote
/// tier files objects under (the name alone would mix incarnations).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicIdPartition {
    pub topic_id: TopicId,
    pub topic_partition: TopicPartition,
}

impl TopicIdPartition {
    pub fn new(topic_id: TopicId, topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic_id,
            topic_partition: TopicPartition::new(topic, partition),
        }
    }

    /// The topic name.
    pub fn topic(&self) -> &str {
        &self.topic_partition.topic
    }

    /// The partition index.
    pub fn partition(&self) -> i32 {
        self.topic_partition.partition
    }
}

impl fmt::Display for TopicIdPartition {
    /// Kafka's form: `<topic id>:<topic>-<partition>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.topic_id, self.topic_partition)
    }
}

/// A node id (`node.id`); -1 means none (a partition without a leader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BrokerId(pub i32);

impl BrokerId {
    /// No broker (Kafka's -1 leader).
    pub const NONE: BrokerId = BrokerId(-1);

    /// Whether this names a broker.
    pub fn is_some(self) -> bool {
        self.0 >= 0
    }
}

impl fmt::Display for BrokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A partition's leader generation, bumped by the controller at every leader change.
/// Every batch carries the epoch it was written in, which is what lets a follower
/// find where its log diverged from a new leader's (KIP-101).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LeaderEpoch(pub i32);

impl LeaderEpoch {
    /// Kafka's "no epoch known" (-1), e.g. batches written before epochs existed.
    pub const UNKNOWN: LeaderEpoch = LeaderEpoch(-1);

    /// The epoch after this one.
    pub fn next(self) -> LeaderEpoch {
        LeaderEpoch(self.0.saturating_add(1))
    }
}

impl fmt::Display for LeaderEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_print_as_kafka_does() {
        let id = TopicId::from(Uuid::from_u128(1));
        let tip = TopicIdPartition::new(id, "orders", 3);
        assert_eq!(tip.topic_partition.to_string(), "orders-3");
        assert_eq!(
            tip.to_string(),
            "00000000-0000-0000-0000-000000000001:orders-3"
        );
        assert_eq!(id.to_hex(), "00000000000000000000000000000001");
        assert_eq!(LeaderEpoch(4).next(), LeaderEpoch(5));
        assert!(!BrokerId::NONE.is_some());
    }

    proptest! {
        #[test]
        fn topic_id_bytes_round_trip(bytes in proptest::array::uniform16(any::<u8>())) {
            let id = TopicId::from_bytes(bytes);
            prop_assert_eq!(TopicId::from_slice(id.as_bytes()), Some(id));
            prop_assert_eq!(TopicId::from(id.uuid()), id);
        }
    }
}
