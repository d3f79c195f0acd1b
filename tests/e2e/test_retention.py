"""Retention and segment rolls as a user sees them: old data disappears by size or by
age, whole segments at a time, and the earliest offset moves; what remains is intact."""

from __future__ import annotations

import os
import time
from pathlib import Path

from confluent_kafka import TopicPartition

from helpers import ck_consume_range, ck_consumer, ck_produce_all, ck_producer, create_topic

FAST_RETENTION = {"log.retention.check.interval.ms": 200}
MIB = 1024 * 1024


def watermarks(bootstrap: str, topic: str) -> tuple[int, int]:
    c = ck_consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=15, cached=False)
    finally:
        c.close()


def segment_files(broker, topic: str) -> list[Path]:
    return sorted((Path(broker.data_dir) / f"{topic}-0").glob("*.log"))


def wait_for(pred, timeout: float = 30.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def test_size_retention_deletes_oldest_segments(broker_factory, topic):
    """With segment.bytes 1 MiB and retention.bytes 2 MiB, producing ~6 MiB rolls several
    segments and retention removes the oldest whole segments: the low watermark moves
    past 0, the partition keeps at least retention.bytes, and what remains reads back."""
    b = broker_factory(FAST_RETENTION)
    create_topic(b.bootstrap, topic, 1, {"segment.bytes": str(MIB), "retention.bytes": str(2 * MIB)})
    value = os.urandom(1000)
    recs = [(str(i).encode(), value, None, None, 0) for i in range(6000)]
    ck_produce_all(ck_producer(b.bootstrap, acks="all", batch_size=64 * 1024), recs, topic)
    assert wait_for(lambda: watermarks(b.bootstrap, topic)[0] > 0), "retention never ran"
    low, high = watermarks(b.bootstrap, topic)
    assert high == 6000
    kept = high - low
    assert kept * 1000 >= 2 * MIB * 0.9, f"kept only {kept} records"
    assert len(segment_files(b, topic)) <= 4
    got = ck_consume_range(b.bootstrap, topic, [0], start=low, expected=kept)
    assert [int(m.key) for m in got] == list(range(low, high))


def test_time_retention_expires_everything_old(broker_factory, topic):
    """Records whose timestamps are older than retention.ms are deleted even from the
    active segment (which is rolled first); the log stays writable at the same offsets."""
    b = broker_factory(FAST_RETENTION)
    create_topic(b.bootstrap, topic, 1, {"retention.ms": "60000"})
    old = int(time.time() * 1000) - 3_600_000
    recs = [(str(i).encode(), b"old", None, old + i, 0) for i in range(500)]
    ck_produce_all(ck_producer(b.bootstrap, acks="all"), recs, topic)
    assert wait_for(lambda: watermarks(b.bootstrap, topic) == (500, 500)), watermarks(b.bootstrap, topic)
    ck_produce_all(ck_producer(b.bootstrap, acks="all"), [(b"new", b"fresh", None, None, 0)], topic)
    got = ck_consume_range(b.bootstrap, topic, [0], start=500, expected=1)
    assert [(m.offset, m.value) for m in got] == [(500, b"fresh")]


def test_segment_roll_by_size_keeps_every_record(broker_factory, topic):
    """A topic with 1 MiB segments holds several .log/.index/.timeindex triples after
    ~3 MiB, and a restart reads every record back across segment boundaries."""
    b = broker_factory()
    create_topic(b.bootstrap, topic, 1, {"segment.bytes": str(MIB)})
    value = os.urandom(1000)
    recs = [(str(i).encode(), value, None, None, 0) for i in range(3000)]
    ck_produce_all(ck_producer(b.bootstrap, acks="all", batch_size=64 * 1024), recs, topic)
    logs = segment_files(b, topic)
    assert len(logs) >= 3, logs
    for log in logs:
        assert log.with_suffix(".index").exists() and log.with_suffix(".timeindex").exists()
    b.stop()
    b.restart()
    got = ck_consume_range(b.bootstrap, topic, [0], expected=3000)
    assert [int(m.key) for m in got] == list(range(3000))
