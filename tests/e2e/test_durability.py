"""Durability: clean restart keeps everything; kill -9 loses no acknowledged record."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import TopicPartition

from helpers import (ck_consume_range, ck_consumer, ck_produce_all, ck_producer, create_topic,
                     recent_base_timestamp)
from producer_proc import value_for

HERE = Path(__file__).parent


def test_sigterm_restart_keeps_all_records(fresh_broker, topic):
    """10,000 records survive a SIGTERM stop (exit 0) and restart, byte for byte."""
    b = fresh_broker
    create_topic(b.bootstrap, topic, 4)
    n = 10_000
    ts0 = recent_base_timestamp()
    recs = [(str(i).encode(), value_for(i), [("h", str(i).encode())], ts0 + i, i % 4)
            for i in range(n)]
    ck_produce_all(ck_producer(b.bootstrap, acks="all"), recs, topic)
    before = ck_consume_range(b.bootstrap, topic, [0, 1, 2, 3], expected=n)
    b.stop()  # asserts exit code 0
    b.start()
    after = ck_consume_range(b.bootstrap, topic, [0, 1, 2, 3], expected=n, **{"check.crcs": True})
    key = lambda m: (m.partition, m.offset)  # noqa: E731
    assert sorted(after, key=key) == sorted(before, key=key)
    # And the log still accepts writes at the right offsets.
    log = ck_produce_all(ck_producer(b.bootstrap, acks="all"), [(b"new", b"x", None, None, 0)], topic)
    assert log.ok[0].offset() == n // 4


def read_acks(path: Path) -> dict[int, tuple[int, int]]:
    acks = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:  # the last line may be torn by the kill
            acks[int(parts[0])] = (int(parts[1]), int(parts[2]))
    return acks


def test_kill9_loses_no_acknowledged_record(fresh_broker, topic, tmp_path):
    """kill -9 during a continuous acks=all produce stream: after restart every acknowledged
    (key, partition, offset) is present with its value, and a check.crcs consumer sees no error."""
    b = fresh_broker
    parts = 3
    create_topic(b.bootstrap, topic, parts)
    ack_file = tmp_path / "acks.txt"
    proc = subprocess.Popen([sys.executable, str(HERE / "producer_proc.py"), b.bootstrap, topic,
                             str(parts), str(ack_file), "90"],
                            stdin=subprocess.DEVNULL, cwd=HERE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if ack_file.exists() and len(read_acks(ack_file)) >= 5000:
                break
            assert proc.poll() is None, "producer subprocess died early"
            time.sleep(0.1)
        else:
            raise AssertionError("producer did not get 5,000 acknowledgements within 60s")
        b.kill9()
        time.sleep(1.0)  # let in-flight delivery reports (errors) reach the file writer
    finally:
        proc.kill()
        proc.wait(timeout=10)
    acks = read_acks(ack_file)
    assert len(acks) >= 5000
    b.start()

    msgs = ck_consume_range(b.bootstrap, topic, list(range(parts)), timeout=120,
                            **{"check.crcs": True})
    stored = {(m.partition, m.offset): m for m in msgs}
    missing = []
    for k, (p, off) in acks.items():
        m = stored.get((p, off))
        if m is None or m.key != str(k).encode() or m.value != value_for(k):
            missing.append((k, p, off, m))
    assert not missing, f"{len(missing)} acknowledged records lost or changed, e.g. {missing[:5]}"
    # Offsets are dense per partition: no holes below the end.
    c = ck_consumer(b.bootstrap)
    try:
        for p in range(parts):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=15, cached=False)
            offs = sorted(o for (pp, o) in stored if pp == p)
            assert offs == list(range(lo, hi)), f"partition {p}: offsets not dense in [{lo},{hi})"
    finally:
        c.close()
    # The recovered log accepts new writes.
    ck_produce_all(ck_producer(b.bootstrap, acks="all"), [(b"after", b"restart", None, None, 0)], topic)
