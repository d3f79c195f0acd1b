"""Topic administration with confluent_kafka.admin.AdminClient."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic, OffsetSpec,
    ResourceType,
)

from helpers import admin, ck_produce_all, ck_producer, ck_watermarks, create_topic, wait_for_topic

T = 30


def create_error(bootstrap: str, new_topic: NewTopic, **kw) -> int:
    """Create a topic that must fail; return the Kafka error code."""
    fs = admin(bootstrap).create_topics([new_topic], operation_timeout=10, **kw)
    with pytest.raises(KafkaException) as ei:
        fs[new_topic.topic].result(timeout=T)
    return ei.value.args[0].code()


def topic_configs(bootstrap: str, name: str) -> dict:
    res = ConfigResource(ResourceType.TOPIC, name)
    return admin(bootstrap).describe_configs([res])[res].result(timeout=T)


def test_create_list_describe(broker, topic):
    """A created topic appears in the topic list and describes with its partition count
    and a leader on the single node."""
    create_topic(broker.bootstrap, topic, 4, {"retention.ms": "3600000"})
    a = admin(broker.bootstrap)
    md = a.list_topics(timeout=T)
    assert topic in md.topics
    t = md.topics[topic]
    assert len(t.partitions) == 4
    node_ids = set(md.brokers)
    assert len(node_ids) == 1
    for p in t.partitions.values():
        assert p.leader in node_ids
        assert p.replicas == [p.leader]
        assert p.isrs == [p.leader]
    from confluent_kafka import TopicCollection
    desc = a.describe_topics(TopicCollection([topic]))[topic].result(timeout=T)
    assert desc.name == topic
    assert [p.id for p in desc.partitions] == [0, 1, 2, 3]
    assert all(p.leader is not None and p.leader.id in node_ids for p in desc.partitions)


def test_describe_configs_shows_override_and_defaults(broker, topic):
    """describe_configs lists the topic override (non-default) and Kafka defaults for the rest."""
    create_topic(broker.bootstrap, topic, 1, {"retention.ms": "3600000", "cleanup.policy": "delete"})
    cfg = topic_configs(broker.bootstrap, topic)
    assert cfg["retention.ms"].value == "3600000"
    assert not cfg["retention.ms"].is_default
    assert "max.message.bytes" in cfg
    assert cfg["max.message.bytes"].is_default
    assert cfg["max.message.bytes"].value == "1048588"
    assert "segment.bytes" in cfg


def test_incremental_alter_configs(broker, topic):
    """incremental_alter_configs SET changes a topic config; DELETE restores the default."""
    create_topic(broker.bootstrap, topic, 1)
    a = admin(broker.bootstrap)
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "120000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("max.message.bytes", "20000", incremental_operation=AlterConfigOpType.SET),
    ])
    for f in a.incremental_alter_configs([res]).values():
        f.result(timeout=T)
    cfg = topic_configs(broker.bootstrap, topic)
    assert cfg["retention.ms"].value == "120000"
    assert cfg["max.message.bytes"].value == "20000"
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    for f in a.incremental_alter_configs([res]).values():
        f.result(timeout=T)
    cfg = topic_configs(broker.bootstrap, topic)
    assert cfg["retention.ms"].is_default
    assert cfg["max.message.bytes"].value == "20000"


def test_create_partitions_grows_count(broker, topic):
    """create_partitions raises the partition count and new partitions accept writes."""
    create_topic(broker.bootstrap, topic, 2)
    a = admin(broker.bootstrap)
    a.create_partitions([NewPartitions(topic, 5)])[topic].result(timeout=T)
    wait_for_topic(broker.bootstrap, topic, 5)
    ck_produce_all(ck_producer(broker.bootstrap), [(b"k", b"v", None, None, 4)], topic)
    assert ck_watermarks(broker.bootstrap, topic, 4) == (0, 1)


def test_create_partitions_cannot_shrink(broker, topic):
    """Asking for fewer partitions than exist fails with INVALID_PARTITIONS."""
    create_topic(broker.bootstrap, topic, 3)
    with pytest.raises(KafkaException) as ei:
        admin(broker.bootstrap).create_partitions([NewPartitions(topic, 2)])[topic].result(timeout=T)
    assert ei.value.args[0].code() == KafkaError.INVALID_PARTITIONS


def test_delete_topic(broker, topic):
    """A deleted topic disappears from the topic list."""
    create_topic(broker.bootstrap, topic, 2)
    a = admin(broker.bootstrap)
    a.delete_topics([topic], operation_timeout=20)[topic].result(timeout=T)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and topic in a.list_topics(timeout=T).topics:
        time.sleep(0.2)
    assert topic not in a.list_topics(timeout=T).topics


def test_delete_unknown_topic(broker, topic):
    """Deleting a topic that does not exist fails with UNKNOWN_TOPIC_OR_PART."""
    fs = admin(broker.bootstrap).delete_topics([topic], operation_timeout=10)
    with pytest.raises(KafkaException) as ei:
        fs[topic].result(timeout=T)
    assert ei.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_validate_only_creates_nothing(broker, topic):
    """create_topics(validate_only=True) succeeds but the topic does not exist afterwards."""
    a = admin(broker.bootstrap)
    a.create_topics([NewTopic(topic, 3, 1)], validate_only=True)[topic].result(timeout=T)
    time.sleep(0.5)
    assert topic not in a.list_topics(timeout=T).topics


def test_create_existing_topic(broker, topic):
    """Creating a topic twice fails with TOPIC_ALREADY_EXISTS."""
    create_topic(broker.bootstrap, topic, 1)
    assert create_error(broker.bootstrap, NewTopic(topic, 1, 1)) == KafkaError.TOPIC_ALREADY_EXISTS


@pytest.mark.parametrize("name", ["bad name!", "x" * 250, "..", "."], ids=["space", "250chars", "dotdot", "dot"])
def test_invalid_topic_names(broker, name):
    """Illegal topic names are rejected with INVALID_TOPIC_EXCEPTION (17)."""
    assert create_error(broker.bootstrap, NewTopic(name, 1, 1)) == KafkaError.TOPIC_EXCEPTION


def test_zero_partitions(broker, topic):
    """num_partitions=0 fails with INVALID_PARTITIONS."""
    # The pinned confluent-kafka (tests/requirements.txt) accepts 0 and sends it as is (-1
    # would mean 'use the broker default'), so the broker's answer is what is checked; a
    # client that refused 0 before sending would fail this test, not skip it.
    code = create_error(broker.bootstrap, NewTopic(topic, 0, 1))
    assert code == KafkaError.INVALID_PARTITIONS


def test_partition_count_per_request_is_bounded(broker, topic):
    """Regression: one CreateTopics could ask for a million partitions and the broker
    opened them all. Above strata.max.partitions.per.request (10000 by default) the topic
    fails with INVALID_PARTITIONS, nothing is created, and the broker keeps answering."""
    code = create_error(broker.bootstrap, NewTopic(topic, 50_000, 1))
    assert code == KafkaError.INVALID_PARTITIONS
    assert topic not in admin(broker.bootstrap).list_topics(timeout=T).topics
    create_topic(broker.bootstrap, f"{topic}-after", 1)


def test_partition_limits_count_the_whole_request_and_the_broker(broker_factory, topic):
    """The per-request bound sums every topic of one CreateTopics; the per-broker bound
    (strata.max.partitions.per.broker) counts what the broker already hosts, the internal
    offsets topic included, and also holds for CreatePartitions. Refused topics are not
    created; the others are."""
    b = broker_factory(config={"strata.max.partitions.per.request": 8,
                               "strata.max.partitions.per.broker": 20,
                               "offsets.topic.num.partitions": 3})
    fs = admin(b.bootstrap).create_topics(
        [NewTopic(f"{topic}-a", 5, 1), NewTopic(f"{topic}-b", 5, 1)], operation_timeout=30)
    fs[f"{topic}-a"].result(timeout=T)
    with pytest.raises(KafkaException) as ei:
        fs[f"{topic}-b"].result(timeout=T)
    assert ei.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    # Hosted: 3 offsets + 5 = 8. Another 8 fit (16), then 5 more do not (21 > 20).
    create_topic(b.bootstrap, f"{topic}-c", 8)
    assert create_error(b.bootstrap, NewTopic(f"{topic}-d", 5, 1)) == KafkaError.INVALID_PARTITIONS
    create_topic(b.bootstrap, f"{topic}-d", 4)
    grow = admin(b.bootstrap).create_partitions([NewPartitions(f"{topic}-c", 9)])
    with pytest.raises(KafkaException) as ei:
        grow[f"{topic}-c"].result(timeout=T)
    assert ei.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    topics = admin(b.bootstrap).list_topics(timeout=T).topics
    assert f"{topic}-b" not in topics
    assert len(topics[f"{topic}-c"].partitions) == 8


@pytest.mark.parametrize("config", [{"no.such.config": "1"}, {"retention.ms": "abc"},
                                    {"cleanup.policy": "sometimes"}])
def test_invalid_configs(broker, topic, config):
    """An unknown config or a bad value fails with INVALID_CONFIG and creates nothing."""
    assert create_error(broker.bootstrap, NewTopic(topic, 1, 1, config=config)) == KafkaError.INVALID_CONFIG
    assert topic not in admin(broker.bootstrap).list_topics(timeout=T).topics


def test_replication_factor_too_large(broker, topic):
    """Replication factor 3 on a one-node cluster fails with INVALID_REPLICATION_FACTOR."""
    assert create_error(broker.bootstrap, NewTopic(topic, 1, 3)) == KafkaError.INVALID_REPLICATION_FACTOR


def test_describe_cluster(broker):
    """describe_cluster reports exactly one node, on our port, and a cluster id."""
    d = admin(broker.bootstrap).describe_cluster().result(timeout=T)
    assert d.cluster_id
    assert len(d.nodes) == 1
    assert d.nodes[0].port == broker.port
    assert d.controller is not None


def test_delete_records_moves_low_watermark(broker, topic):
    """delete_records before offset 40 makes 40 the new earliest offset."""
    create_topic(broker.bootstrap, topic, 1)
    ck_produce_all(ck_producer(broker.bootstrap, acks="all"),
                   [(b"k", str(i).encode(), None, None, 0) for i in range(100)], topic)
    a = admin(broker.bootstrap)
    res = a.delete_records([TopicPartition(topic, 0, 40)])
    for tp, f in res.items():
        dr = f.result(timeout=T)
        assert dr.low_watermark == 40
    assert ck_watermarks(broker.bootstrap, topic, 0) == (40, 100)
    earliest = a.list_offsets({TopicPartition(topic, 0): OffsetSpec.earliest()})
    for f in earliest.values():
        assert f.result(timeout=T).offset == 40
