"""ListOffsets: offsets by timestamp, earliest and latest, with both clients."""

from __future__ import annotations

from confluent_kafka import TopicPartition

from helpers import (ck_consumer, ck_produce_all, ck_producer, create_topic, kp_consumer,
                     recent_base_timestamp)

T0 = recent_base_timestamp()  # recent: the default 7-day retention must not delete the records
N = 50
STEP = 1000  # ms between record timestamps


def fill(broker, topic):
    """Partition 0 gets N records with timestamps T0, T0+STEP, ... in separate batches."""
    create_topic(broker.bootstrap, topic, 1)
    p = ck_producer(broker.bootstrap, acks="all", **{"linger.ms": 0})
    for i in range(N):
        ck_produce_all(p, [(b"k", f"v{i}".encode(), None, T0 + i * STEP, 0)], topic)


def test_offsets_for_times_confluent(broker, topic):
    """confluent-kafka offsets_for_times returns the first offset whose timestamp is >= the
    query, exactly; a timestamp past the end gives -1; watermarks are (0, N)."""
    fill(broker, topic)
    c = ck_consumer(broker.bootstrap)
    try:
        for query, want in [(T0 - 5000, 0), (T0, 0), (T0 + 1, 1), (T0 + 10 * STEP, 10),
                            (T0 + 10 * STEP + 999, 11), (T0 + (N - 1) * STEP, N - 1),
                            (T0 + N * STEP, -1)]:
            [res] = c.offsets_for_times([TopicPartition(topic, 0, query)], timeout=15)
            assert res.error is None
            assert res.offset == want, f"timestamp {query}: offset {res.offset}, want {want}"
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=15, cached=False) == (0, N)
    finally:
        c.close()


def test_offsets_for_times_kafka_python(broker, topic):
    """kafka-python offsets_for_times / beginning_offsets / end_offsets agree; past the end
    gives None."""
    from kafka import TopicPartition as KTP

    fill(broker, topic)
    c = kp_consumer(broker.bootstrap)
    tp = KTP(topic, 0)
    try:
        for query, want in [(T0 - 5000, 0), (T0, 0), (T0 + 1, 1), (T0 + 25 * STEP, 25),
                            (T0 + (N - 1) * STEP, N - 1)]:
            got = c.offsets_for_times({tp: query})[tp]
            assert got is not None and got.offset == want, f"timestamp {query}: {got}, want {want}"
            assert got.timestamp == T0 + want * STEP
        assert c.offsets_for_times({tp: T0 + N * STEP})[tp] is None
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: N}
    finally:
        c.close()


def test_empty_partition_offsets(broker, topic):
    """On an empty partition earliest == latest == 0 and any timestamp gives -1."""
    create_topic(broker.bootstrap, topic, 2)
    c = ck_consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 1), timeout=15, cached=False) == (0, 0)
        [res] = c.offsets_for_times([TopicPartition(topic, 1, T0)], timeout=15)
        assert res.offset == -1
    finally:
        c.close()
