//! Controller validation: every error case with its message, and the records
//! of successful operations.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::collections::BTreeMap;

use strata_metadata::records::metadata_record::Record;
use strata_metadata::records::MetadataRecord;
use strata_metadata::{
    allocate_producer_ids, alter_broker_configs, alter_topic_configs, create_partitions,
    create_topic, delete_topic, register_broker, BrokerRegistrationRequest, ControllerError,
    CreateTopicSpec, MetadataImage, PartitionCountUpdate,
};

const DEFAULTS: (i32, i16) = (1, 1);

fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
    for r in records {
        image.apply(r).unwrap();
    }
}

fn spec(name: &str) -> CreateTopicSpec {
    CreateTopicSpec {
        name: name.into(),
        num_partitions: -1,
        replication_factor: -1,
        ..Default::default()
    }
}

fn image_with(names: &[&str]) -> MetadataImage {
    let mut image = MetadataImage::default();
    for name in names {
        let (_, records) = create_topic(&image, &spec(name), (3, 1), &[1]).unwrap();
        apply(&mut image, &records);
    }
    image
}

fn create_err(image: &MetadataImage, spec: &CreateTopicSpec, brokers: &[i32]) -> ControllerError {
    create_topic(image, spec, DEFAULTS, brokers).unwrap_err()
}

#[test]
fn topic_name_rules() {
    let image = MetadataImage::default();
    let cases = [
        ("", "Topic name is illegal, it can't be empty".to_string()),
        (".", "Topic name cannot be \".\" or \"..\"".to_string()),
        ("..", "Topic name cannot be \".\" or \"..\"".to_string()),
        (
            &"x".repeat(250),
            format!(
                "Topic name is illegal, it can't be longer than 249 characters, topic name: {}",
                "x".repeat(250)
            ),
        ),
        (
            "a b",
            "Topic name \"a b\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'".to_string(),
        ),
        (
            "ä",
            "Topic name \"ä\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'".to_string(),
        ),
    ];
    for (name, message) in cases {
        assert_eq!(
            create_err(&image, &spec(name), &[1]),
            ControllerError::InvalidTopic(message.clone())
        );
        assert_eq!(create_err(&image, &spec(name), &[1]).to_string(), message);
    }
    assert!(create_topic(&image, &spec(&"x".repeat(249)), DEFAULTS, &[1]).is_ok());
    assert!(create_topic(&image, &spec("a-Z_0.9"), DEFAULTS, &[1]).is_ok());
}

#[test]
fn existing_and_colliding_names() {
    let image = image_with(&["orders", "a.b"]);
    assert_eq!(
        create_err(&image, &spec("orders"), &[1]),
        ControllerError::TopicAlreadyExists("Topic 'orders' already exists.".into())
    );
    assert_eq!(
        create_err(&image, &spec("a_b"), &[1]),
        ControllerError::InvalidTopic("Topic 'a_b' collides with existing topic: a.b".into())
    );
    assert!(create_topic(&image, &spec("a_c"), DEFAULTS, &[1]).is_ok());
}

#[test]
fn partition_count_rules() {
    let image = MetadataImage::default();
    let msg = "Number of partitions was set to an invalid non-positive value.";
    for n in [0, -2] {
        let s = CreateTopicSpec {
            num_partitions: n,
            ..spec("t")
        };
        assert_eq!(
            create_err(&image, &s, &[1]),
            ControllerError::InvalidPartitions(msg.into())
        );
    }
    // A non-positive default is also rejected.
    assert_eq!(
        create_topic(&image, &spec("t"), (0, 1), &[1]).unwrap_err(),
        ControllerError::InvalidPartitions(msg.into())
    );
    let s = CreateTopicSpec {
        num_partitions: 1_000_001,
        ..spec("t")
    };
    assert_eq!(
        create_err(&image, &s, &[1]),
        ControllerError::InvalidPartitions(
            "Number of partitions was set to 1000001, which is more than the maximum of 1000000."
                .into()
        )
    );
}

#[test]
fn replication_factor_rules() {
    let image = MetadataImage::default();
    let s = CreateTopicSpec {
        replication_factor: 0,
        ..spec("t")
    };
    assert_eq!(
        create_err(&image, &s, &[1]),
        ControllerError::InvalidReplicationFactor(
            "Replication factor must be larger than 0, or -1 to use the default value.".into()
        )
    );
    let s = CreateTopicSpec {
        replication_factor: 3,
        ..spec("t")
    };
    assert_eq!(
        create_err(&image, &s, &[1, 2]),
        ControllerError::InvalidReplicationFactor(
            "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 2 broker(s) are registered.".into()
        )
    );
    assert!(matches!(
        create_err(&image, &spec("t"), &[]),
        ControllerError::InvalidReplicationFactor(_)
    ));
}

#[test]
fn config_rules() {
    let image = MetadataImage::default();
    let bad_key = CreateTopicSpec {
        configs: BTreeMap::from([("no.such.config".into(), "1".into())]),
        ..spec("t")
    };
    let e = create_err(&image, &bad_key, &[1]);
    assert_eq!(
        e,
        ControllerError::InvalidConfig("Unknown topic config name: no.such.config".into())
    );
    let bad_value = CreateTopicSpec {
        configs: BTreeMap::from([("retention.ms".into(), "soon".into())]),
        ..spec("t")
    };
    match create_err(&image, &bad_value, &[1]) {
        ControllerError::InvalidConfig(m) => assert!(m.contains("retention.ms"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn manual_assignment_rules() {
    let image = MetadataImage::default();
    let manual = |a: BTreeMap<i32, Vec<i32>>| CreateTopicSpec {
        assignments: a,
        ..spec("t")
    };
    let cases = [
        (
            BTreeMap::from([(0, vec![1, 9])]),
            "The manual partition assignment includes broker 9, but no such broker is registered.",
        ),
        (
            BTreeMap::from([(0, vec![1, 1])]),
            "The manual partition assignment includes the broker 1 more than once.",
        ),
        (
            BTreeMap::from([(0, vec![])]),
            "The manual partition assignment includes an empty replica list.",
        ),
        (
            BTreeMap::from([(0, vec![1]), (2, vec![2])]),
            "Partitions should be a consecutive 0-based integer sequence",
        ),
        (
            BTreeMap::from([(0, vec![1]), (1, vec![1, 2])]),
            "The manual partition assignment includes a partition with 2 replica(s), but this is not consistent with previous partitions, which have 1 replica(s).",
        ),
    ];
    for (a, message) in cases {
        assert_eq!(
            create_err(&image, &manual(a), &[1, 2]),
            ControllerError::InvalidReplicaAssignment(message.into())
        );
    }
    let both = CreateTopicSpec {
        num_partitions: 1,
        ..manual(BTreeMap::from([(0, vec![1])]))
    };
    assert_eq!(
        create_err(&image, &both, &[1]),
        ControllerError::InvalidRequest(
            "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into()
        )
    );
    let (_, records) = create_topic(
        &image,
        &manual(BTreeMap::from([(0, vec![2, 1]), (1, vec![1, 2])])),
        DEFAULTS,
        &[1, 2],
    )
    .unwrap();
    let mut image = image;
    apply(&mut image, &records);
    let t = image.topic("t").unwrap();
    assert_eq!(t.partitions[&0].replicas, vec![2, 1]);
    assert_eq!(t.partitions[&0].leader, 2);
    assert_eq!(t.partitions[&1].leader, 1);
}

#[test]
fn create_builds_partitions_and_configs() {
    let mut image = MetadataImage::default();
    let s = CreateTopicSpec {
        num_partitions: 3,
        replication_factor: 2,
        configs: BTreeMap::from([("cleanup.policy".into(), "compact".into())]),
        ..spec("t")
    };
    let (id, records) = create_topic(&image, &s, DEFAULTS, &[3, 1, 2]).unwrap();
    assert_eq!(records.len(), 1 + 3 + 1);
    apply(&mut image, &records);
    let t = image.topic("t").unwrap();
    assert_eq!(t.id, id);
    assert_eq!(image.topic_by_id(&id).unwrap().name, "t");
    assert_eq!(t.configs["cleanup.policy"], "compact");
    let leaders: Vec<i32> = t.partitions.values().map(|p| p.leader).collect();
    assert_eq!(leaders, vec![1, 2, 3]);
    for p in t.partitions.values() {
        assert_eq!(p.replicas.len(), 2);
        assert_eq!(p.isr, p.replicas);
        assert_eq!(p.leader, p.replicas[0]);
        assert_eq!(p.leader_epoch, 0);
    }
    // Defaults apply to -1.
    let (_, records) = create_topic(&image, &spec("d"), (4, 3), &[1, 2, 3]).unwrap();
    apply(&mut image, &records);
    let d = image.topic("d").unwrap();
    assert_eq!(d.partitions.len(), 4);
    assert!(d.partitions.values().all(|p| p.replicas.len() == 3));
}

#[test]
fn delete_then_recreate_gets_a_new_id() {
    let mut image = image_with(&["t"]);
    let old = image.topic("t").unwrap().id;
    let records = delete_topic(&image, "t").unwrap();
    apply(&mut image, &records);
    assert!(image.topic("t").is_none());
    assert!(image.topic_by_id(&old).is_none());
    assert_eq!(
        delete_topic(&image, "t").unwrap_err(),
        ControllerError::UnknownTopic("This server does not host this topic-partition.".into())
    );
    let (new, records) = create_topic(&image, &spec("t"), DEFAULTS, &[1]).unwrap();
    apply(&mut image, &records);
    assert_ne!(new, old);
    assert_eq!(image.topic("t").unwrap().id, new);
}

#[test]
fn create_partitions_rules() {
    let mut image = image_with(&["t"]); // 3 partitions, rf 1
    let none = BTreeMap::new();
    assert_eq!(
        create_partitions(&image, "t", 2, &none, &[1]).unwrap_err(),
        ControllerError::InvalidPartitions(
            "Topic currently has 3 partitions, which is higher than the requested 2.".into()
        )
    );
    assert_eq!(
        create_partitions(&image, "t", 3, &none, &[1]).unwrap_err(),
        ControllerError::InvalidPartitions("Topic already has 3 partitions.".into())
    );
    assert!(matches!(
        create_partitions(&image, "nope", 5, &none, &[1]).unwrap_err(),
        ControllerError::UnknownTopic(_)
    ));
    assert_eq!(
        create_partitions(&image, "t", 5, &BTreeMap::from([(3, vec![1])]), &[1]).unwrap_err(),
        ControllerError::InvalidReplicaAssignment(
            "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."
                .into()
        )
    );
    assert_eq!(
        create_partitions(&image, "t", 4, &BTreeMap::from([(3, vec![7])]), &[1]).unwrap_err(),
        ControllerError::InvalidReplicaAssignment(
            "The manual partition assignment includes broker 7, but no such broker is registered."
                .into()
        )
    );
    assert!(matches!(
        create_partitions(&image, "t", 4, &BTreeMap::from([(4, vec![1])]), &[1]).unwrap_err(),
        ControllerError::InvalidReplicaAssignment(_)
    ));
    let records = create_partitions(&image, "t", 5, &none, &[1]).unwrap();
    assert_eq!(records.len(), 2);
    apply(&mut image, &records);
    assert_eq!(image.topic("t").unwrap().partitions.len(), 5);
    let update = PartitionCountUpdate {
        topic: "t".into(),
        new_total: 6,
        assignments: BTreeMap::from([(5, vec![1])]),
    };
    let records = update.to_records(&image, &[1]).unwrap();
    apply(&mut image, &records);
    assert_eq!(image.topic("t").unwrap().partitions[&5].replicas, vec![1]);
}

#[test]
fn alter_topic_configs_rules() {
    let mut image = image_with(&["t"]);
    let set = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        alter_topic_configs(&image, "nope", set(&[]), vec![], false).unwrap_err(),
        ControllerError::UnknownTopic("The topic 'nope' does not exist.".into())
    );
    assert_eq!(
        alter_topic_configs(&image, "t", set(&[("bogus", "1")]), vec![], false).unwrap_err(),
        ControllerError::InvalidConfig("Unknown topic config name: bogus".into())
    );
    assert_eq!(
        alter_topic_configs(&image, "t", set(&[]), vec!["bogus".into()], false).unwrap_err(),
        ControllerError::InvalidConfig("Unknown topic config name: bogus".into())
    );
    assert_eq!(
        alter_topic_configs(
            &image,
            "t",
            set(&[("retention.ms", "1")]),
            vec!["retention.ms".into()],
            false
        )
        .unwrap_err(),
        ControllerError::InvalidRequest("Error due to duplicate config keys".into())
    );
    let records = alter_topic_configs(
        &image,
        "t",
        set(&[("retention.ms", "1000"), ("cleanup.policy", "compact")]),
        vec![],
        false,
    )
    .unwrap();
    apply(&mut image, &records);
    // Incremental: delete one, set one, leave the other.
    let records = alter_topic_configs(
        &image,
        "t",
        set(&[("retention.ms", "1000")]),
        vec!["cleanup.policy".into(), "segment.ms".into()],
        false,
    )
    .unwrap();
    assert_eq!(
        records.len(),
        1,
        "unchanged values and absent keys add no records"
    );
    apply(&mut image, &records);
    assert_eq!(
        image.topic("t").unwrap().configs,
        set(&[("retention.ms", "1000")])
    );
    // Legacy replace-all: everything not in `set` goes.
    let records =
        alter_topic_configs(&image, "t", set(&[("segment.ms", "60000")]), vec![], true).unwrap();
    apply(&mut image, &records);
    assert_eq!(
        image.topic("t").unwrap().configs,
        set(&[("segment.ms", "60000")])
    );
}

#[test]
fn broker_configs_and_registration() {
    let mut image = MetadataImage::default();
    let records = register_broker(
        &image,
        &BrokerRegistrationRequest::new(1, "h", 9092, Some("r".into())),
        false,
    )
    .unwrap();
    apply(&mut image, &records);
    assert!(register_broker(
        &image,
        &BrokerRegistrationRequest::new(1, "h", 9092, Some("r".into())),
        false
    )
    .unwrap()
    .is_empty());
    assert!(matches!(
        register_broker(
            &image,
            &BrokerRegistrationRequest::new(2, "h", 70000, None),
            false
        ),
        Err(ControllerError::InvalidRequest(_))
    ));
    assert_eq!(image.broker_ids(), vec![1]);

    let set = BTreeMap::from([("log.retention.ms".to_string(), "100".to_string())]);
    let records = alter_broker_configs(&image, "", set.clone(), vec![], false).unwrap();
    apply(&mut image, &records);
    assert_eq!(image.broker_configs(), &set);
    let records = alter_broker_configs(&image, "1", set.clone(), vec![], false).unwrap();
    apply(&mut image, &records);
    assert_eq!(image.broker_configs_for(1), Some(&set));
    assert_eq!(
        alter_broker_configs(
            &image,
            "",
            BTreeMap::from([("listeners".to_string(), "x".to_string())]),
            vec![],
            false
        )
        .unwrap_err(),
        ControllerError::InvalidConfig("Cannot update these configs dynamically: listeners".into())
    );
    assert!(matches!(
        alter_broker_configs(
            &image,
            "",
            BTreeMap::from([("log.retention.ms".to_string(), "x".to_string())]),
            vec![],
            false
        ),
        Err(ControllerError::InvalidConfig(_))
    ));
}

#[test]
fn producer_id_blocks_do_not_overlap() {
    let mut image = MetadataImage::default();
    let (first, records) = allocate_producer_ids(&image, 1, 1000);
    assert_eq!(first, 0);
    apply(&mut image, &records);
    let (second, records) = allocate_producer_ids(&image, 2, 1000);
    assert_eq!(second, 1000);
    apply(&mut image, &records);
    assert_eq!(image.next_producer_id(), 2000);
    assert!(matches!(
        &records[0].record,
        Some(Record::ProducerIds(r)) if r.broker_id == 2
    ));
}
