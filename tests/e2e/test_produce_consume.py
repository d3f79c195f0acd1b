"""Produce and consume with real clients: confluent-kafka (librdkafka) and kafka-python.

Consumer groups are not implemented yet: consumers use assign() with explicit
offsets and never commit.
"""

from __future__ import annotations

import collections

import pytest

from helpers import (
    Msg, ck_consume_range, ck_produce_all, ck_producer, create_topic, kp_consume_all, kp_producer,
    recent_base_timestamp,
)

N = 3000
PARTITIONS = 6
BASE_TS = recent_base_timestamp()  # explicit, and safe from the default retention


def make_records(n: int, tag: str):
    """n keyed records with headers and increasing explicit timestamps."""
    for i in range(n):
        key = f"key-{i % 97}".encode()
        value = f"{tag}-value-{i}-".encode() + bytes((i * 7 + j) % 256 for j in range(i % 200))
        headers = [("idx", str(i).encode()), ("src", tag.encode()), ("empty", b"")]
        yield key, value, headers, BASE_TS + i, None


def expected_by_idx(n: int, tag: str) -> dict[int, tuple]:
    return {i: (k, v, ts) for i, (k, v, _h, ts, _p) in enumerate(make_records(n, tag))}


def check_roundtrip(msgs: list[Msg], n: int, tag: str) -> None:
    """Every record exactly once and intact; per-partition order = send order;
    a key always lands on the same partition."""
    assert len(msgs) == n, f"expected {n} records, got {len(msgs)}"
    exp = expected_by_idx(n, tag)
    seen = set()
    key_part: dict[bytes, int] = {}
    by_part: dict[int, list[Msg]] = collections.defaultdict(list)
    for m in msgs:
        hdrs = dict(m.headers)
        idx = int(hdrs["idx"])
        assert idx not in seen, f"duplicate record idx={idx}"
        seen.add(idx)
        key, value, ts = exp[idx]
        assert m.key == key, f"idx {idx}: key {m.key!r} != {key!r}"
        assert m.value == value, f"idx {idx}: value differs"
        assert m.timestamp == ts, f"idx {idx}: timestamp {m.timestamp} != {ts}"
        assert hdrs["src"] == tag.encode()
        assert hdrs["empty"] in (b"", None)
        assert key_part.setdefault(m.key, m.partition) == m.partition, f"key {key!r} on two partitions"
        by_part[m.partition].append(m)
    assert seen == set(range(n))
    for p, ms in by_part.items():
        offsets = [m.offset for m in ms]
        assert offsets == sorted(offsets)
        assert len(set(offsets)) == len(offsets), f"partition {p}: repeated offsets"
        idxs = [int(dict(m.headers)["idx"]) for m in sorted(ms, key=lambda m: m.offset)]
        assert idxs == sorted(idxs), f"partition {p}: order differs from send order"


def sort_by_offset(msgs):
    return sorted(msgs, key=lambda m: (m.partition, m.offset))


@pytest.mark.parametrize("acks", ["all", "1", "0"])
def test_confluent_keyed_roundtrip(broker, topic, acks):
    """confluent-kafka producer (acks=all/1/0) sends 3,000 keyed records with headers and
    timestamps to 6 partitions; a confluent-kafka consumer reads back every one intact."""
    create_topic(broker.bootstrap, topic, PARTITIONS)
    p = ck_producer(broker.bootstrap, acks=acks, **{"enable.idempotence": False})
    ck_produce_all(p, make_records(N, "ck"), topic)
    msgs = ck_consume_range(broker.bootstrap, topic, list(range(PARTITIONS)), expected=N)
    check_roundtrip(msgs, N, "ck")


@pytest.mark.parametrize("acks", ["all", 1, 0])
def test_kafka_python_keyed_roundtrip(broker, topic, acks):
    """kafka-python producer (acks=all/1/0) and kafka-python consumer (group_id=None,
    assign + seek_to_beginning) round-trip 3,000 keyed records with headers and timestamps."""
    create_topic(broker.bootstrap, topic, PARTITIONS)
    p = kp_producer(broker.bootstrap, acks=acks, enable_idempotence=(acks == "all"))
    futures = [p.send(topic, key=k, value=v, headers=h, timestamp_ms=ts)
               for k, v, h, ts, _ in make_records(N, "kp")]
    p.flush(timeout=120)
    if acks != 0:
        for f in futures:
            f.get(timeout=60)
    p.close(timeout=30)
    msgs = kp_consume_all(broker.bootstrap, topic, list(range(PARTITIONS)), N)
    check_roundtrip(msgs, N, "kp")


def test_cross_client_confluent_to_kafka_python(broker, topic):
    """Records produced by confluent-kafka are read identically by kafka-python."""
    create_topic(broker.bootstrap, topic, PARTITIONS)
    ck_produce_all(ck_producer(broker.bootstrap, acks="all"), make_records(N, "x1"), topic)
    kp = kp_consume_all(broker.bootstrap, topic, list(range(PARTITIONS)), N)
    check_roundtrip(kp, N, "x1")
    ck = ck_consume_range(broker.bootstrap, topic, list(range(PARTITIONS)), expected=N)
    assert sort_by_offset(kp) == sort_by_offset(ck)


def test_cross_client_kafka_python_to_confluent(broker, topic):
    """Records produced by kafka-python are read identically by confluent-kafka."""
    create_topic(broker.bootstrap, topic, PARTITIONS)
    p = kp_producer(broker.bootstrap, acks="all")
    futs = [p.send(topic, key=k, value=v, headers=h, timestamp_ms=ts)
            for k, v, h, ts, _ in make_records(N, "x2")]
    p.flush(timeout=120)
    for f in futs:
        f.get(timeout=60)
    p.close(timeout=30)
    ck = ck_consume_range(broker.bootstrap, topic, list(range(PARTITIONS)), expected=N)
    check_roundtrip(ck, N, "x2")
    kp = kp_consume_all(broker.bootstrap, topic, list(range(PARTITIONS)), N)
    assert sort_by_offset(kp) == sort_by_offset(ck)


CODECS = ["gzip", "snappy", "lz4", "zstd"]
NC = 600


@pytest.mark.parametrize("codec", CODECS)
def test_confluent_compression(broker, topic, codec):
    """confluent-kafka compressed batches (each codec) are stored as sent and decode in
    both clients."""
    create_topic(broker.bootstrap, topic, 3)
    p = ck_producer(broker.bootstrap, acks="all", **{"compression.codec": codec, "linger.ms": 20})
    ck_produce_all(p, make_records(NC, f"c-{codec}"), topic)
    ck = ck_consume_range(broker.bootstrap, topic, [0, 1, 2], expected=NC)
    check_roundtrip(ck, NC, f"c-{codec}")
    kp = kp_consume_all(broker.bootstrap, topic, [0, 1, 2], NC)
    assert sort_by_offset(kp) == sort_by_offset(ck)


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_compression(broker, topic, codec):
    """kafka-python compressed batches (each codec) round-trip through both clients."""
    create_topic(broker.bootstrap, topic, 3)
    p = kp_producer(broker.bootstrap, acks="all", compression_type=codec, linger_ms=20)
    futs = [p.send(topic, key=k, value=v, headers=h, timestamp_ms=ts)
            for k, v, h, ts, _ in make_records(NC, f"k-{codec}")]
    p.flush(timeout=120)
    for f in futs:
        f.get(timeout=60)
    p.close(timeout=30)
    kp = kp_consume_all(broker.bootstrap, topic, [0, 1, 2], NC)
    check_roundtrip(kp, NC, f"k-{codec}")
    ck = ck_consume_range(broker.bootstrap, topic, [0, 1, 2], expected=NC)
    assert sort_by_offset(kp) == sort_by_offset(ck)


LARGE = 900 * 1024


def test_large_record_with_small_fetch_limits(broker, topic):
    """A 900 KB record is returned even when the consumer's fetch limits are smaller
    (Kafka returns the first batch whole so consumers always make progress)."""
    create_topic(broker.bootstrap, topic, 1)
    big = bytes((i * 31) % 251 for i in range(LARGE))
    p = ck_producer(broker.bootstrap, acks="all", **{"message.max.bytes": 1_000_000})
    ck_produce_all(p, [(b"small-1", b"a", None, None, 0), (b"big", big, None, None, 0),
                       (b"small-2", b"b", None, None, 0)], topic)
    ck = ck_consume_range(broker.bootstrap, topic, [0], expected=3, **{
        "fetch.max.bytes": 64 * 1024,
        "max.partition.fetch.bytes": 64 * 1024,
        "message.max.bytes": 64 * 1024,
    })
    assert [m.key for m in ck] == [b"small-1", b"big", b"small-2"]
    assert ck[1].value == big
    kp = kp_consume_all(broker.bootstrap, topic, [0], 3, fetch_max_bytes=64 * 1024,
                        max_partition_fetch_bytes=64 * 1024)
    assert [m.key for m in kp] == [b"small-1", b"big", b"small-2"]
    assert kp[1].value == big
