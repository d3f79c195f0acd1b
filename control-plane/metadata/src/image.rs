//! The in-memory cluster state that metadata records are applied to.

use std::collections::{BTreeMap, HashMap};

use strata_proto::TopicId;

use crate::error::MetadataError;
use crate::records::metadata_record::Record;
use crate::records::{
    BrokerRegistrationChangeRecord, ConfigRecord, MetadataRecord, PartitionRecord,
    ProducerIdsRecord, RegisterBrokerRecord, RemoveTopicRecord, TopicRecord, RESOURCE_TYPE_BROKER,
    RESOURCE_TYPE_TOPIC,
};

/// State of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    /// Partition index.
    pub partition: i32,
    /// Assigned replicas in preference order.
    pub replicas: Vec<i32>,
    /// In-sync replicas, a subset of `replicas`.
    pub isr: Vec<i32>,
    /// Leader broker id, or -1 for none.
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Partition epoch.
    pub partition_epoch: i32,
}

/// State of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    /// Topic name.
    pub name: String,
    /// Topic id, never reused.
    pub id: TopicId,
    /// Partitions by index.
    pub partitions: BTreeMap<i32, PartitionImage>,
    /// Config overrides only (defaults are not stored).
    pub configs: BTreeMap<String, String>,
}

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    /// Broker (node) id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, if any.
    pub rack: Option<String>,
    /// The process start this registration belongs to (zeros before incarnations).
    pub incarnation_id: [u8; 16],
    /// Leads nothing and is not shown to clients.
    pub fenced: bool,
    /// Controlled shutdown began: its leaderships are moving away.
    pub in_controlled_shutdown: bool,
}

/// The cluster state: what applying every committed record in order to an
/// empty image gives.
///
/// Invariants: topic names and ids are unique; every partition belongs to a
/// live topic; `next_producer_id` never decreases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    topics: BTreeMap<String, TopicImage>,
    names_by_id: HashMap<TopicId, String>,
    brokers: BTreeMap<i32, BrokerRegistration>,
    cluster_broker_configs: BTreeMap<String, String>,
    per_broker_configs: BTreeMap<i32, BTreeMap<String, String>>,
    next_producer_id: i64,
}

impl MetadataImage {
    /// The live topic named `name`.
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }

    /// The live topic with id `id`.
    pub fn topic_by_id(&self, id: &TopicId) -> Option<&TopicImage> {
        self.names_by_id.get(id).and_then(|n| self.topics.get(n))
    }

    /// All live topics, sorted by name.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }

    /// Number of live topics.
    pub fn topic_count(&self) -> usize {
        self.topics.len()
    }

    /// Cluster-wide dynamic broker config overrides (resource name "").
    pub fn broker_configs(&self) -> &BTreeMap<String, String> {
        &self.cluster_broker_configs
    }

    /// Dynamic config overrides of one broker (resource name = its id);
    /// `None` if it has none.
    pub fn broker_configs_for(&self, broker_id: i32) -> Option<&BTreeMap<String, String>> {
        self.per_broker_configs.get(&broker_id)
    }

    /// First producer id not yet handed out.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    /// Registered brokers, sorted by id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values()
    }

    /// The registered broker `id`.
    pub fn broker(&self, id: i32) -> Option<&BrokerRegistration> {
        self.brokers.get(&id)
    }

    /// Ids of the registered brokers, sorted.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.brokers.keys().copied().collect()
    }

    /// Applies one record; errors on records that do not fit the image
    /// (partition of an unknown topic, duplicate topic name or id, empty
    /// record, ...). On error the image is unchanged.
    pub fn apply(&mut self, record: &MetadataRecord) -> Result<(), MetadataError> {
        match &record.record {
            None => Err(MetadataError::invalid("empty metadata record")),
            Some(Record::Topic(r)) => self.apply_topic(r),
            Some(Record::Partition(r)) => self.apply_partition(r),
            Some(Record::Config(r)) => self.apply_config(r),
            Some(Record::RemoveTopic(r)) => self.apply_remove_topic(r),
            Some(Record::RegisterBroker(r)) => self.apply_register_broker(r),
            Some(Record::ProducerIds(r)) => self.apply_producer_ids(r),
            Some(Record::BrokerChange(r)) => self.apply_broker_change(r),
        }
    }

    /// The records that rebuild this image from empty (for snapshots).
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        for b in self.brokers.values() {
            out.push(
                Record::RegisterBroker(RegisterBrokerRecord {
                    broker_id: b.id,
                    host: b.host.clone(),
                    port: b.port,
                    rack: b.rack.clone(),
                    incarnation_id: b.incarnation_id.to_vec(),
                    fenced: b.fenced,
                })
                .into(),
            );
            if b.in_controlled_shutdown {
                out.push(
                    Record::BrokerChange(BrokerRegistrationChangeRecord {
                        broker_id: b.id,
                        fenced: None,
                        in_controlled_shutdown: Some(true),
                    })
                    .into(),
                );
            }
        }
        for (name, value) in &self.cluster_broker_configs {
            out.push(config_record(RESOURCE_TYPE_BROKER, "", name, value));
        }
        for (id, configs) in &self.per_broker_configs {
            for (name, value) in configs {
                out.push(config_record(
                    RESOURCE_TYPE_BROKER,
                    &id.to_string(),
                    name,
                    value,
                ));
            }
        }
        if self.next_producer_id != 0 {
            out.push(
                Record::ProducerIds(ProducerIdsRecord {
                    broker_id: -1,
                    next_producer_id: self.next_producer_id,
                })
                .into(),
            );
        }
        for t in self.topics.values() {
            let topic_id = t.id.as_bytes().to_vec();
            out.push(
                Record::Topic(TopicRecord {
                    name: t.name.clone(),
                    topic_id: topic_id.clone(),
                })
                .into(),
            );
            for p in t.partitions.values() {
                out.push(
                    Record::Partition(PartitionRecord {
                        topic_id: topic_id.clone(),
                        partition_id: p.partition,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                        partition_epoch: p.partition_epoch,
                    })
                    .into(),
                );
            }
            for (name, value) in &t.configs {
                out.push(config_record(RESOURCE_TYPE_TOPIC, &t.name, name, value));
            }
        }
        out
    }

    fn apply_topic(&mut self, r: &TopicRecord) -> Result<(), MetadataError> {
        let id = parse_topic_id(&r.topic_id)?;
        if r.name.is_empty() {
            return Err(MetadataError::invalid("topic record with an empty name"));
        }
        if id.is_zero() {
            return Err(MetadataError::invalid("topic id must not be the zero uuid"));
        }
        if self.topics.contains_key(&r.name) {
            return Err(MetadataError::invalid(format!(
                "topic {} already exists",
                r.name
            )));
        }
        if self.names_by_id.contains_key(&id) {
            return Err(MetadataError::invalid(format!(
                "topic id {id} already in use"
            )));
        }
        self.names_by_id.insert(id, r.name.clone());
        self.topics.insert(
            r.name.clone(),
            TopicImage {
                name: r.name.clone(),
                id,
                partitions: BTreeMap::new(),
                configs: BTreeMap::new(),
            },
        );
        Ok(())
    }

    fn apply_partition(&mut self, r: &PartitionRecord) -> Result<(), MetadataError> {
        let id = parse_topic_id(&r.topic_id)?;
        if r.partition_id < 0 {
            return Err(MetadataError::invalid(format!(
                "negative partition id {}",
                r.partition_id
            )));
        }
        if r.replicas.is_empty() {
            return Err(MetadataError::invalid(format!(
                "partition {} of topic {id} has no replicas",
                r.partition_id
            )));
        }
        if let Some(b) = r.isr.iter().find(|b| !r.replicas.contains(b)) {
            return Err(MetadataError::invalid(format!(
                "isr member {b} of partition {} of topic {id} is not a replica",
                r.partition_id
            )));
        }
        if r.leader != -1 && !r.replicas.contains(&r.leader) {
            return Err(MetadataError::invalid(format!(
                "leader {} of partition {} of topic {id} is not a replica",
                r.leader, r.partition_id
            )));
        }
        let topic = self
            .names_by_id
            .get(&id)
            .and_then(|n| self.topics.get_mut(n))
            .ok_or_else(|| {
                MetadataError::invalid(format!(
                    "partition {} of unknown topic id {id}",
                    r.partition_id
                ))
            })?;
        topic.partitions.insert(
            r.partition_id,
            PartitionImage {
                partition: r.partition_id,
                replicas: r.replicas.clone(),
                isr: r.isr.clone(),
                leader: r.leader,
                leader_epoch: r.leader_epoch,
                partition_epoch: r.partition_epoch,
            },
        );
        Ok(())
    }

    fn apply_config(&mut self, r: &ConfigRecord) -> Result<(), MetadataError> {
        if r.name.is_empty() {
            return Err(MetadataError::invalid("config record with an empty name"));
        }
        let configs = match r.resource_type {
            RESOURCE_TYPE_TOPIC => {
                &mut self
                    .topics
                    .get_mut(&r.resource_name)
                    .ok_or_else(|| {
                        MetadataError::invalid(format!(
                            "config of unknown topic {}",
                            r.resource_name
                        ))
                    })?
                    .configs
            }
            RESOURCE_TYPE_BROKER if r.resource_name.is_empty() => &mut self.cluster_broker_configs,
            RESOURCE_TYPE_BROKER => {
                let id: i32 = r.resource_name.parse().map_err(|_| {
                    MetadataError::invalid(format!(
                        "broker config resource name {:?} is not a broker id",
                        r.resource_name
                    ))
                })?;
                if r.value.is_none() {
                    // Deleting from a broker without overrides: nothing to do,
                    // and no empty map is left behind.
                    if let Some(m) = self.per_broker_configs.get_mut(&id) {
                        m.remove(&r.name);
                        if m.is_empty() {
                            self.per_broker_configs.remove(&id);
                        }
                    }
                    return Ok(());
                }
                self.per_broker_configs.entry(id).or_default()
            }
            other => {
                return Err(MetadataError::invalid(format!(
                    "unsupported config resource type {other}"
                )))
            }
        };
        match &r.value {
            Some(v) => {
                configs.insert(r.name.clone(), v.clone());
            }
            None => {
                configs.remove(&r.name);
            }
        }
        Ok(())
    }

    fn apply_remove_topic(&mut self, r: &RemoveTopicRecord) -> Result<(), MetadataError> {
        let id = parse_topic_id(&r.topic_id)?;
        let name = self
            .names_by_id
            .remove(&id)
            .ok_or_else(|| MetadataError::invalid(format!("removal of unknown topic id {id}")))?;
        self.topics.remove(&name);
        Ok(())
    }

    fn apply_register_broker(&mut self, r: &RegisterBrokerRecord) -> Result<(), MetadataError> {
        if r.broker_id < 0 {
            return Err(MetadataError::invalid(format!(
                "negative broker id {}",
                r.broker_id
            )));
        }
        if !(0..=65535).contains(&r.port) {
            return Err(MetadataError::invalid(format!(
                "broker {} has invalid port {}",
                r.broker_id, r.port
            )));
        }
        let incarnation_id = match r.incarnation_id.len() {
            0 => [0; 16],
            _ => r.incarnation_id.as_slice().try_into().map_err(|_| {
                MetadataError::invalid(format!(
                    "broker {} has an incarnation id of {} bytes, not 16",
                    r.broker_id,
                    r.incarnation_id.len()
                ))
            })?,
        };
        self.brokers.insert(
            r.broker_id,
            BrokerRegistration {
                id: r.broker_id,
                host: r.host.clone(),
                port: r.port,
                rack: r.rack.clone(),
                incarnation_id,
                fenced: r.fenced,
                in_controlled_shutdown: false,
            },
        );
        Ok(())
    }

    fn apply_broker_change(
        &mut self,
        r: &BrokerRegistrationChangeRecord,
    ) -> Result<(), MetadataError> {
        let b = self.brokers.get_mut(&r.broker_id).ok_or_else(|| {
            MetadataError::invalid(format!(
                "registration change of unregistered broker {}",
                r.broker_id
            ))
        })?;
        if let Some(f) = r.fenced {
            b.fenced = f;
        }
        if let Some(c) = r.in_controlled_shutdown {
            b.in_controlled_shutdown = c;
        }
        Ok(())
    }

    fn apply_producer_ids(&mut self, r: &ProducerIdsRecord) -> Result<(), MetadataError> {
        if r.next_producer_id < self.next_producer_id {
            return Err(MetadataError::invalid(format!(
                "next producer id {} is below the current {}",
                r.next_producer_id, self.next_producer_id
            )));
        }
        self.next_producer_id = r.next_producer_id;
        Ok(())
    }
}

fn config_record(
    resource_type: i32,
    resource_name: &str,
    name: &str,
    value: &str,
) -> MetadataRecord {
    Record::Config(ConfigRecord {
        resource_type,
        resource_name: resource_name.to_string(),
        name: name.to_string(),
        value: Some(value.to_string()),
    })
    .into()
}

fn parse_topic_id(bytes: &[u8]) -> Result<TopicId, MetadataError> {
    TopicId::from_slice(bytes).ok_or_else(|| {
        MetadataError::invalid(format!("topic id must be 16 bytes, got {}", bytes.len()))
    })
}
