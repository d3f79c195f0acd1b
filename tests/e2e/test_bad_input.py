"""Malformed and hostile input over raw sockets (kafka_wire.py).

Every test ends by checking that a normal client on another connection still produces
and consumes, and that data stored before the bad input is unchanged.
"""

from __future__ import annotations

import random

import pytest
from confluent_kafka import TopicPartition

import kafka_wire as w
from helpers import (admin, ck_consume_range, ck_consumer, ck_produce_all, ck_producer, create_topic,
                     recent_base_timestamp)

SENTINEL_N = 300


@pytest.fixture(scope="module")
def b(small_request_broker):
    return small_request_broker


@pytest.fixture(scope="module")
def sentinel(b):
    """A topic written before any bad input, and its contents as first read."""
    name = f"sentinel-{random.Random().getrandbits(40):x}"
    create_topic(b.bootstrap, name, 2)
    ts0 = recent_base_timestamp()  # the default retention must not delete the sentinel
    recs = [(f"k{i}".encode(), f"sentinel-value-{i}".encode() * 3, [("i", str(i).encode())],
             ts0 + i, i % 2) for i in range(SENTINEL_N)]
    ck_produce_all(ck_producer(b.bootstrap, acks="all"), recs, name)
    return name, ck_consume_range(b.bootstrap, name, [0, 1], expected=SENTINEL_N)


def assert_healthy(b, sentinel) -> None:
    """The broker process is up, a fresh client can produce+consume, old data is intact."""
    assert b.is_running(), f"broker died\n{b.log_tail()}"
    name, before = sentinel
    probe = f"probe-{random.Random().getrandbits(40):x}"
    create_topic(b.bootstrap, probe, 1)
    ck_produce_all(ck_producer(b.bootstrap, acks="all"), [(b"probe", b"ok", None, None, 0)], probe)
    got = ck_consume_range(b.bootstrap, probe, [0], expected=1)
    assert [(m.key, m.value) for m in got] == [(b"probe", b"ok")]
    after = ck_consume_range(b.bootstrap, name, [0, 1], expected=SENTINEL_N, **{"check.crcs": True})
    key = lambda m: (m.partition, m.offset)  # noqa: E731
    assert sorted(after, key=key) == sorted(before, key=key), "stored data changed"


def end_offset(b, topic: str, partition: int) -> int:
    c = ck_consumer(b.bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=15, cached=False)[1]
    finally:
        c.close()


def batch(n: int = 3, size: int = 20) -> bytes:
    return w.build_batch([w.Record(f"k{i}".encode(), bytes([65 + i % 26]) * size, [("h", b"v")], i)
                          for i in range(n)])


def test_frame_larger_than_socket_request_max_bytes(b, sentinel):
    """A 2 MiB length prefix (limit 1 MiB) gets the connection closed."""
    with w.Connection.to(b.bootstrap) as c:
        c.send_raw(w.i32(2 * 1024 * 1024) + w.request_header(w.API_API_VERSIONS, 0, 1))
        assert c.is_closed_by_peer(10), "connection stayed open after an oversized frame"
    assert_healthy(b, sentinel)


def test_negative_frame_length(b, sentinel):
    """A negative length prefix gets the connection closed."""
    with w.Connection.to(b.bootstrap) as c:
        c.send_raw(b"\xde\xad\xbe\xef" + b"\x00" * 32)
        assert c.is_closed_by_peer(10)
    assert_healthy(b, sentinel)


def test_random_garbage(b, sentinel):
    """Seeded random bytes, raw and wrapped in valid-length frames, never hurt the broker;
    a connection that sent them is closed or gets answers, never hangs the broker."""
    rng = random.Random(20240601)
    for i in range(20):
        with w.Connection.to(b.bootstrap, timeout=5) as c:
            if i % 2 == 0:
                payload = rng.randbytes(rng.randint(1, 4096))
            else:
                body = rng.randbytes(rng.randint(0, 512))
                payload = w.frame(w.i16(rng.randint(0, 80)) + w.i16(rng.randint(-1, 20)) + w.i32(i) + body)
            try:
                c.send_raw(payload)
            except OSError:
                pass
            c.is_closed_by_peer(0.5)
    with w.Connection.to(b.bootstrap) as c:
        c.send_raw(w.frame(b"\xff" * 64))
        assert c.is_closed_by_peer(10), "garbage frame did not close the connection"
    assert_healthy(b, sentinel)


def test_truncated_frame_then_close(b, sentinel):
    """A frame cut short and a closed socket leave the broker fine."""
    for cut in (2, 4, 10, 30):
        with w.Connection.to(b.bootstrap) as c:
            full = w.frame(w.request_header(w.API_METADATA, 1, 7) + w.metadata_body(1, None))
            c.send_raw(full[:cut])
    assert_healthy(b, sentinel)


def test_unknown_api_key(b, sentinel):
    """API key 9999 gets the connection closed."""
    with w.Connection.to(b.bootstrap) as c:
        c.send_raw(w.frame(w.request_header(9999, 0, 1) + b"\x00" * 8))
        assert c.is_closed_by_peer(10)
    assert_healthy(b, sentinel)


def test_unsupported_api_versions_version(b, sentinel):
    """ApiVersions v999 answers UNSUPPORTED_VERSION (35) with a v0 body listing the APIs."""
    with w.Connection.to(b.bootstrap) as c:
        resp = w.api_versions_unsupported(c, 999)
        assert resp.error_code == w.UNSUPPORTED_VERSION
        assert 18 in resp.api_keys and 0 in resp.api_keys
        # The connection stays usable: a supported version now works.
        assert w.api_versions(c, 0).error_code == 0
    assert_healthy(b, sentinel)


def test_unsupported_produce_version(b, sentinel):
    """Produce at version 999 is answered with an error or a closed connection, nothing stored."""
    t = f"pv-{random.Random().getrandbits(32):x}"
    create_topic(b.bootstrap, t, 1)
    with w.Connection.to(b.bootstrap) as c:
        c.send_raw(w.frame(w.request_header(w.API_PRODUCE, 999, 1) + w.produce_body({t: {0: batch()}})))
        c.is_closed_by_peer(2)
    assert end_offset(b, t, 0) == 0
    assert_healthy(b, sentinel)


@pytest.mark.parametrize("damage", ["crc", "payload"])
def test_corrupt_crc_rejected(b, sentinel, topic, damage):
    """A batch whose CRC-32C does not match is refused with CORRUPT_MESSAGE (2); nothing is
    appended; a good batch on the same connection still succeeds."""
    create_topic(b.bootstrap, topic, 1)
    good = batch()
    bad = w.corrupt_crc(good) if damage == "crc" else w.corrupt_payload(good)
    with w.Connection.to(b.bootstrap) as c:
        r = w.produce_v3(c, topic, 0, bad)
        assert r.error_code == w.CORRUPT_MESSAGE
        assert end_offset(b, topic, 0) == 0
        r = w.produce_v3(c, topic, 0, good)
        assert r.error_code == 0 and r.base_offset == 0
    assert end_offset(b, topic, 0) == 3
    msgs = ck_consume_range(b.bootstrap, topic, [0], expected=3)
    assert [m.key for m in msgs] == [b"k0", b"k1", b"k2"]
    assert_healthy(b, sentinel)


@pytest.mark.parametrize("delta", [+50, -10, 10_000_000, -1_000_000])
def test_batch_length_field_lies(b, sentinel, topic, delta):
    """A batch whose length field disagrees with the bytes sent is refused (CORRUPT_MESSAGE)
    or the connection is closed; nothing is appended."""
    create_topic(b.bootstrap, topic, 1)
    good = batch()
    real = len(good) - 12
    bad = w.with_batch_length(good, real + delta)
    with w.Connection.to(b.bootstrap) as c:
        try:
            r = w.produce_v3(c, topic, 0, bad)
            assert r.error_code == w.CORRUPT_MESSAGE, f"error code {r.error_code}"
        except (ConnectionError, OSError):
            pass  # closing the connection is also acceptable
    assert end_offset(b, topic, 0) == 0
    assert_healthy(b, sentinel)


def test_batch_over_max_message_bytes(b, sentinel, topic):
    """A 20 KB batch to a topic with max.message.bytes=10000 gets MESSAGE_TOO_LARGE (10)."""
    create_topic(b.bootstrap, topic, 1, {"max.message.bytes": "10000"})
    with w.Connection.to(b.bootstrap) as c:
        r = w.produce_v3(c, topic, 0, batch(n=2, size=10_000))
        assert r.error_code == w.MESSAGE_TOO_LARGE
        r = w.produce_v3(c, topic, 0, batch(n=2, size=100))
        assert r.error_code == 0
    assert end_offset(b, topic, 0) == 2
    assert_healthy(b, sentinel)


def test_produce_invalid_topic_name(b, sentinel):
    """Producing to an illegal topic name gets INVALID_TOPIC_EXCEPTION (17); nothing is created."""
    with w.Connection.to(b.bootstrap) as c:
        r = w.produce_v3(c, "bad name!", 0, batch())
        assert r.error_code == w.INVALID_TOPIC_EXCEPTION
    assert "bad name!" not in admin(b.bootstrap).list_topics(timeout=15).topics
    assert_healthy(b, sentinel)


def test_produce_unknown_partition(b, sentinel, topic):
    """Producing to partition 99 of a 2-partition topic gets UNKNOWN_TOPIC_OR_PARTITION (3)."""
    create_topic(b.bootstrap, topic, 2)
    with w.Connection.to(b.bootstrap) as c:
        r = w.produce_v3(c, topic, 99, batch())
        assert r.error_code == w.UNKNOWN_TOPIC_OR_PARTITION
    assert_healthy(b, sentinel)


def test_many_connections_opened_and_dropped(b, sentinel):
    """200 connections opened and dropped mid-request leave the broker fine."""
    for i in range(200):
        with w.Connection.to(b.bootstrap) as c:
            c.send_raw(w.i32(100) + b"\x00\x12")
    assert_healthy(b, sentinel)
