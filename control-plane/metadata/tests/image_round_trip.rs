//! Applying `to_records` of an image to an empty image gives the same image.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use proptest::prelude::*;
use strata_metadata::records::metadata_record::Record;
use strata_metadata::records::*;
use strata_metadata::MetadataImage;

#[derive(Debug, Clone)]
enum Op {
    Create {
        name: u8,
        partitions: u8,
    },
    Delete {
        name: u8,
    },
    SetConfig {
        name: u8,
        key: u8,
        value: u16,
    },
    DeleteConfig {
        name: u8,
        key: u8,
    },
    BrokerConfig {
        key: u8,
        value: Option<u16>,
        broker: Option<u8>,
    },
    Register {
        id: u8,
        port: u16,
    },
    ProducerIds {
        add: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, 1u8..4).prop_map(|(name, partitions)| Op::Create { name, partitions }),
        (0u8..6).prop_map(|name| Op::Delete { name }),
        (0u8..6, 0u8..3, any::<u16>()).prop_map(|(name, key, value)| Op::SetConfig {
            name,
            key,
            value
        }),
        (0u8..6, 0u8..3).prop_map(|(name, key)| Op::DeleteConfig { name, key }),
        (
            0u8..3,
            proptest::option::of(any::<u16>()),
            proptest::option::of(0u8..3)
        )
            .prop_map(|(key, value, broker)| Op::BrokerConfig { key, value, broker }),
        (0u8..3, any::<u16>()).prop_map(|(id, port)| Op::Register { id, port }),
        any::<u16>().prop_map(|add| Op::ProducerIds { add }),
    ]
}

fn config(
    resource_type: i32,
    resource_name: String,
    key: u8,
    value: Option<u16>,
) -> MetadataRecord {
    Record::Config(ConfigRecord {
        resource_type,
        resource_name,
        name: format!("key.{key}"),
        value: value.map(|v| v.to_string()),
    })
    .into()
}

/// Records for `op` against `image`; invalid ones are produced too, and the
/// test checks that applying them fails without changing the image.
fn records_for(image: &MetadataImage, op: &Op) -> Vec<MetadataRecord> {
    match op {
        Op::Create { name, partitions } => {
            let id = uuid::Uuid::new_v4().as_bytes().to_vec();
            let mut out: Vec<MetadataRecord> = vec![Record::Topic(TopicRecord {
                name: format!("t{name}"),
                topic_id: id.clone(),
            })
            .into()];
            for p in 0..i32::from(*partitions) {
                out.push(
                    Record::Partition(PartitionRecord {
                        topic_id: id.clone(),
                        partition_id: p,
                        replicas: vec![1, 2],
                        isr: vec![1],
                        leader: 1,
                        leader_epoch: p,
                        partition_epoch: 0,
                    })
                    .into(),
                );
            }
            out
        }
        Op::Delete { name } => {
            let id = image
                .topic(&format!("t{name}"))
                .map(|t| t.id.as_bytes().to_vec())
                .unwrap_or_else(|| uuid::Uuid::new_v4().as_bytes().to_vec());
            vec![Record::RemoveTopic(RemoveTopicRecord { topic_id: id }).into()]
        }
        Op::SetConfig { name, key, value } => {
            vec![config(2, format!("t{name}"), *key, Some(*value))]
        }
        Op::DeleteConfig { name, key } => vec![config(2, format!("t{name}"), *key, None)],
        Op::BrokerConfig { key, value, broker } => vec![config(
            4,
            broker.map(|b| b.to_string()).unwrap_or_default(),
            *key,
            *value,
        )],
        Op::Register { id, port } => vec![Record::RegisterBroker(RegisterBrokerRecord {
            broker_id: i32::from(*id),
            host: format!("host{port}"),
            port: i32::from(*port),
            rack: (port % 2 == 0).then(|| "r1".to_string()),
            incarnation_id: vec![*id; 16],
            fenced: port % 3 == 0,
        })
        .into()],
        Op::ProducerIds { add } => vec![Record::ProducerIds(ProducerIdsRecord {
            broker_id: 1,
            next_producer_id: image.next_producer_id() + i64::from(*add),
        })
        .into()],
    }
}

proptest! {
    #[test]
    fn to_records_rebuilds_the_image(ops in proptest::collection::vec(op(), 0..60)) {
        let mut image = MetadataImage::default();
        for op in &ops {
            let mut next = image.clone();
            let ok = records_for(&image, op).iter().all(|r| next.apply(r).is_ok());
            if ok {
                image = next;
            }
        }
        let mut rebuilt = MetadataImage::default();
        for r in image.to_records() {
            rebuilt.apply(&r).unwrap();
        }
        prop_assert_eq!(&rebuilt, &image);
        prop_assert_eq!(rebuilt.to_records(), image.to_records());
    }
}

#[test]
fn invalid_records_leave_the_image_unchanged() {
    let mut image = MetadataImage::default();
    let id = uuid::Uuid::new_v4().as_bytes().to_vec();
    image
        .apply(
            &Record::Topic(TopicRecord {
                name: "a".into(),
                topic_id: id.clone(),
            })
            .into(),
        )
        .unwrap();
    let before = image.clone();
    let bad: Vec<MetadataRecord> = vec![
        MetadataRecord { record: None },
        Record::Topic(TopicRecord {
            name: "a".into(),
            topic_id: uuid::Uuid::new_v4().as_bytes().to_vec(),
        })
        .into(),
        Record::Topic(TopicRecord {
            name: "b".into(),
            topic_id: id.clone(),
        })
        .into(),
        Record::Topic(TopicRecord {
            name: "c".into(),
            topic_id: vec![1, 2, 3],
        })
        .into(),
        Record::Partition(PartitionRecord {
            topic_id: uuid::Uuid::new_v4().as_bytes().to_vec(),
            partition_id: 0,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            ..Default::default()
        })
        .into(),
        Record::Partition(PartitionRecord {
            topic_id: id.clone(),
            partition_id: 0,
            replicas: vec![1],
            isr: vec![2],
            leader: 1,
            ..Default::default()
        })
        .into(),
        config(2, "nope".into(), 0, Some(1)),
        config(7, "a".into(), 0, Some(1)),
        config(4, "x".into(), 0, Some(1)),
        Record::RemoveTopic(RemoveTopicRecord {
            topic_id: uuid::Uuid::new_v4().as_bytes().to_vec(),
        })
        .into(),
    ];
    for r in &bad {
        assert!(image.apply(r).is_err(), "{r:?}");
        assert_eq!(image, before);
    }
    image
        .apply(
            &Record::ProducerIds(ProducerIdsRecord {
                broker_id: 1,
                next_producer_id: 10,
            })
            .into(),
        )
        .unwrap();
    assert!(image
        .apply(
            &Record::ProducerIds(ProducerIdsRecord {
                broker_id: 1,
                next_producer_id: 5
            })
            .into()
        )
        .is_err());
    assert_eq!(image.next_producer_id(), 10);
}
