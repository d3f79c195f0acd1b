//! Topic creation, deletion and partition-count changes.

use std::collections::BTreeMap;

use strata_proto::TopicId;

use super::configs::validate_topic_config;
use super::error::ControllerError;
use super::placement::{check_replication_factor, placement_order, round_robin, validate_manual};
use super::topic_name::{check_collision, validate_topic_name};
use crate::image::{MetadataImage, TopicImage};
use crate::records::metadata_record::Record;
use crate::records::{
    ConfigRecord, MetadataRecord, PartitionRecord, RemoveTopicRecord, TopicRecord,
    RESOURCE_TYPE_TOPIC,
};

/// Most partitions a topic may have.
pub const MAX_PARTITIONS: i32 = 1_000_000;

/// Kafka's default message for UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_MESSAGE: &str = "This server does not host this topic-partition.";

/// One topic of a CreateTopics request, in domain terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateTopicSpec {
    /// Topic name.
    pub name: String,
    /// Partition count; -1 = the default.
    pub num_partitions: i32,
    /// Replicas per partition; -1 = the default.
    pub replication_factor: i16,
    /// Manual replica assignment by partition (ids 0..n); empty = automatic.
    /// When set, `num_partitions` and `replication_factor` must both be -1.
    pub assignments: BTreeMap<i32, Vec<i32>>,
    /// Topic config overrides.
    pub configs: BTreeMap<String, String>,
}

/// One topic of a CreatePartitions request, in domain terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionCountUpdate {
    /// Topic name.
    pub topic: String,
    /// Partition count wanted after the change.
    pub new_total: i32,
    /// Manual assignment of the new partitions by partition id (the ids
    /// current..new_total); empty = automatic.
    pub assignments: BTreeMap<i32, Vec<i32>>,
}

impl PartitionCountUpdate {
    /// [`create_partitions`] for this update.
    pub fn to_records(
        &self,
        image: &MetadataImage,
        brokers: &[i32],
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        create_partitions(
            image,
            &self.topic,
            self.new_total,
            &self.assignments,
            brokers,
        )
    }
}

/// Validates a new topic with Kafka's rules and returns its new id and the
/// records that create it: a TopicRecord, one PartitionRecord per partition
/// (leader = first replica, leader epoch 0, ISR = replicas) and a
/// ConfigRecord per override.
///
/// `defaults` is `(num.partitions, default.replication.factor)`, used for
/// -1; `brokers` are the registered broker ids replicas may go to (placed
/// round-robin). The image is not changed: to check several topics of one
/// request against each other, apply each result to a scratch clone of the
/// image before the next call.
pub fn create_topic(
    image: &MetadataImage,
    spec: &CreateTopicSpec,
    defaults: (i32, i16),
    brokers: &[i32],
) -> Result<(TopicId, Vec<MetadataRecord>), ControllerError> {
    create_topic_with_id(image, spec, defaults, brokers, None)
}

/// [`create_topic`] re-using a given topic id (a topic re-created from what the
/// remote tier holds keeps the incarnation its objects are filed under).
pub fn create_topic_with_id(
    image: &MetadataImage,
    spec: &CreateTopicSpec,
    defaults: (i32, i16),
    brokers: &[i32],
    id: Option<TopicId>,
) -> Result<(TopicId, Vec<MetadataRecord>), ControllerError> {
    validate_topic_name(&spec.name)?;
    if let Some(id) = id {
        if id.is_zero() || image.topic_by_id(&id).is_some() {
            return Err(ControllerError::InvalidRequest(format!(
                "topic id {id} is nil or in use"
            )));
        }
    }
    if image.topic(&spec.name).is_some() {
        return Err(ControllerError::TopicAlreadyExists(format!(
            "Topic '{}' already exists.",
            spec.name
        )));
    }
    check_collision(image, &spec.name)?;
    for (key, value) in &spec.configs {
        validate_topic_config(key, value)?;
    }

    let assignments = if spec.assignments.is_empty() {
        let num_partitions = if spec.num_partitions == -1 {
            defaults.0
        } else {
            spec.num_partitions
        };
        check_partition_count(num_partitions)?;
        let rf = if spec.replication_factor == -1 {
            defaults.1
        } else {
            spec.replication_factor
        };
        check_replication_factor(i32::from(rf), brokers)?;
        let start = spread_start(image.topic_count(), brokers);
        round_robin(
            0,
            num_partitions,
            rf as usize,
            brokers,
            start,
            &racks_of(image),
        )
    } else {
        if spec.num_partitions != -1 || spec.replication_factor != -1 {
            return Err(ControllerError::InvalidRequest(
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
            ));
        }
        check_partition_count(i32::try_from(spec.assignments.len()).unwrap_or(i32::MAX))?;
        validate_manual(&spec.assignments, 0, brokers, None)?;
        spec.assignments.clone()
    };

    let id = id.unwrap_or_else(|| new_topic_id(image));
    let topic_id = id.as_bytes().to_vec();
    let mut records: Vec<MetadataRecord> = vec![Record::Topic(TopicRecord {
        name: spec.name.clone(),
        topic_id: topic_id.clone(),
    })
    .into()];
    records.extend(partition_records(&topic_id, assignments));
    records.extend(spec.configs.iter().map(|(name, value)| {
        MetadataRecord::from(Record::Config(ConfigRecord {
            resource_type: RESOURCE_TYPE_TOPIC,
            resource_name: spec.name.clone(),
            name: name.clone(),
            value: Some(value.clone()),
        }))
    }));
    Ok((id, records))
}

/// The record that deletes topic `name` with its partitions and configs.
pub fn delete_topic(
    image: &MetadataImage,
    name: &str,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let topic = existing(image, name)?;
    Ok(vec![Record::RemoveTopic(RemoveTopicRecord {
        topic_id: topic.id.as_bytes().to_vec(),
    })
    .into()])
}

/// The records that grow topic `name` to `new_total` partitions.
///
/// New partitions get as many replicas as the existing ones, from
/// `assignments` (keyed by the new partition ids) or round-robin over
/// `brokers` continuing the topic's placement. Partitions can never be
/// removed: `new_total` at or below the current count is InvalidPartitions
/// with Kafka's message.
pub fn create_partitions(
    image: &MetadataImage,
    name: &str,
    new_total: i32,
    assignments: &BTreeMap<i32, Vec<i32>>,
    brokers: &[i32],
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let topic = existing(image, name)?;
    let current = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
    if new_total < current {
        return Err(ControllerError::InvalidPartitions(format!(
            "Topic currently has {current} partitions, which is higher than the requested {new_total}."
        )));
    }
    if new_total == current {
        return Err(ControllerError::InvalidPartitions(format!(
            "Topic already has {current} partitions."
        )));
    }
    check_partition_count(new_total)?;
    let additional = new_total - current;
    let rf = topic
        .partitions
        .values()
        .next()
        .map_or(1, |p| p.replicas.len());

    let new_assignments = if assignments.is_empty() {
        check_replication_factor(i32::try_from(rf).unwrap_or(i32::MAX), brokers)?;
        let racks = racks_of(image);
        round_robin(
            current,
            additional,
            rf,
            brokers,
            topic_start(topic, brokers, &racks),
            &racks,
        )
    } else {
        let given = assignments.len();
        if i32::try_from(given).ok() != Some(additional) {
            let only = if (given as u64) < additional as u64 {
                "only "
            } else {
                ""
            };
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "Attempted to add {additional} additional partition(s), but {only}{given} assignment(s) were specified."
            )));
        }
        validate_manual(assignments, current, brokers, Some(rf))?;
        assignments.clone()
    };
    Ok(partition_records(topic.id.as_bytes(), new_assignments).collect())
}

fn existing<'a>(image: &'a MetadataImage, name: &str) -> Result<&'a TopicImage, ControllerError> {
    image
        .topic(name)
        .ok_or_else(|| ControllerError::UnknownTopic(UNKNOWN_TOPIC_MESSAGE.into()))
}

fn check_partition_count(n: i32) -> Result<(), ControllerError> {
    if n <= 0 {
        return Err(ControllerError::InvalidPartitions(
            "Number of partitions was set to an invalid non-positive value.".into(),
        ));
    }
    if n > MAX_PARTITIONS {
        return Err(ControllerError::InvalidPartitions(format!(
            "Number of partitions was set to {n}, which is more than the maximum of {MAX_PARTITIONS}."
        )));
    }
    Ok(())
}

fn partition_records(
    topic_id: &[u8],
    assignments: BTreeMap<i32, Vec<i32>>,
) -> impl Iterator<Item = MetadataRecord> + '_ {
    assignments.into_iter().map(move |(partition, replicas)| {
        Record::Partition(PartitionRecord {
            topic_id: topic_id.to_vec(),
            partition_id: partition,
            isr: replicas.clone(),
            leader: replicas.first().copied().unwrap_or(-1),
            replicas,
            leader_epoch: 0,
            partition_epoch: 0,
        })
        .into()
    })
}

/// Start offset of round-robin placement for a new topic, so that leaders
/// of successive topics do not all start on the same broker.
fn spread_start(topic_count: usize, brokers: &[i32]) -> usize {
    topic_count % brokers.len().max(1)
}

/// `broker.rack` of each registered broker that has one.
fn racks_of(image: &MetadataImage) -> BTreeMap<i32, String> {
    image
        .brokers()
        .filter_map(|b| b.rack.clone().map(|r| (b.id, r)))
        .collect()
}

/// Start offset that continues a topic's placement: the position, in placement
/// order, of partition 0's preferred leader.
fn topic_start(topic: &TopicImage, brokers: &[i32], racks: &BTreeMap<i32, String>) -> usize {
    let sorted = placement_order(brokers, racks);
    topic
        .partitions
        .get(&0)
        .and_then(|p| p.replicas.first())
        .and_then(|leader| sorted.iter().position(|b| b == leader))
        .unwrap_or(0)
}

/// A random topic id that is not the zero UUID and not in use.
fn new_topic_id(image: &MetadataImage) -> TopicId {
    loop {
        let id = TopicId::random();
        if !id.is_zero() && image.topic_by_id(&id).is_none() {
            return id;
        }
    }
}
