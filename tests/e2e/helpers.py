"""Client-side helpers shared by the test files (confluent-kafka and kafka-python).

The consumers here use ``assign()`` with explicit offsets and never commit; the
group tests (``test_groups.py``) build their own subscribed consumers.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ADMIN_TIMEOUT_S = 30.0


def recent_base_timestamp() -> int:
    """A base for explicit record timestamps: an hour ago (ms). Clearly a CreateTime the
    client set, and well inside the default retention (log.retention.hours=168, enforced every
    log.retention.check.interval.ms), which would delete records stamped with a fixed date
    such as 1_700_000_000_000 in the middle of a test."""
    return int(time.time() * 1000) - 3_600_000


@dataclass(frozen=True)
class Msg:
    """A consumed record in a client-neutral form."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple
    timestamp: int


# ----------------------------------------------------------------- admin


_ADMINS: dict = {}


def admin(bootstrap: str) -> AdminClient:
    """An AdminClient per bootstrap address, kept alive for the session: a client that is
    garbage-collected while a request is in flight fails that request with _DESTROY."""
    a = _ADMINS.get(bootstrap)
    if a is None:
        a = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})
        _ADMINS[bootstrap] = a
    return a


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None) -> None:
    """Create a topic and wait until its metadata shows every partition with a leader."""
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                   config=config or {})], operation_timeout=20)
    fs[name].result(timeout=ADMIN_TIMEOUT_S)
    wait_for_topic(bootstrap, name, partitions)


def wait_for_topic(bootstrap: str, name: str, partitions: int, timeout: float = 20.0) -> None:
    a = admin(bootstrap)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        md = a.list_topics(topic=name, timeout=10)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions \
                and all(p.leader >= 0 for p in t.partitions.values()):
            return
        last = t
        time.sleep(0.1)
    raise AssertionError(f"topic {name} not ready with {partitions} partitions: {last}")


# -------------------------------------------------------- confluent-kafka


def ck_producer(bootstrap: str, **conf) -> Producer:
    base = {"bootstrap.servers": bootstrap, "linger.ms": 5, "message.timeout.ms": 60000}
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    return Producer(base)


def ck_consumer(bootstrap: str, **conf) -> Consumer:
    base = {
        "bootstrap.servers": bootstrap,
        # Required by the client; no group API is ever used (assign only, no commits).
        "group.id": f"e2e-unused-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
    }
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    return Consumer(base)


class DeliveryLog:
    """Collects confluent-kafka delivery reports; errors are kept, not raised."""

    def __init__(self):
        self.ok: list = []
        self.errors: list = []

    def __call__(self, err, msg):
        if err is not None:
            self.errors.append((err, msg.key(), msg.value()))
        else:
            self.ok.append(msg)


def ck_produce_all(producer: Producer, records, topic: str, timeout: float = 120.0) -> DeliveryLog:
    """Produce (key, value, headers, timestamp, partition-or-None) tuples and flush.

    Returns the delivery log; asserts every record was acknowledged."""
    log = DeliveryLog()
    for key, value, headers, ts, part in records:
        kw = {"key": key, "value": value, "on_delivery": log}
        if headers is not None:
            kw["headers"] = headers
        if ts is not None:
            kw["timestamp"] = ts
        if part is not None:
            kw["partition"] = part
        for _ in range(1000):
            try:
                producer.produce(topic, **kw)
                break
            except BufferError:
                producer.poll(0.05)
        else:
            raise AssertionError("producer queue stayed full")
        producer.poll(0)
    remaining = producer.flush(timeout)
    assert remaining == 0, f"{remaining} records not delivered within {timeout}s"
    assert not log.errors, f"delivery errors: {log.errors[:5]}"
    return log


def ck_consume_range(bootstrap: str, topic: str, partitions: list[int], expected: int | None = None,
                     start: int = 0, timeout: float = 60.0, **conf) -> list[Msg]:
    """Read every partition from ``start`` to its end (EOF), or until ``expected`` records.

    Fails on any error tied to a partition (e.g. a CRC error with check.crcs)."""
    c = ck_consumer(bootstrap, **conf)
    out: list[Msg] = []
    try:
        c.assign([TopicPartition(topic, p, start) for p in partitions])
        eof: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if expected is not None and len(out) >= expected and len(eof) == len(partitions):
                break
            if expected is None and len(eof) == len(partitions):
                break
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                    continue
                if m.topic() is not None or m.error().fatal():
                    raise AssertionError(f"consumer error on {m.topic()}/{m.partition()}: {m.error()}")
                continue  # e.g. transient broker/transport notices
            eof.discard(m.partition())
            ts_type, ts = m.timestamp()
            out.append(Msg(m.partition(), m.offset(), m.key(), m.value(),
                           tuple(m.headers() or ()), ts))
        else:
            raise AssertionError(
                f"timed out after {timeout}s: got {len(out)} records, expected {expected}, eof {sorted(eof)}")
    finally:
        c.close()
    return out


def ck_watermarks(bootstrap: str, topic: str, partition: int) -> tuple[int, int]:
    c = ck_consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    finally:
        c.close()


# ----------------------------------------------------------- kafka-python


def kp_producer(bootstrap: str, **conf):
    from kafka import KafkaProducer

    base = {"bootstrap_servers": bootstrap, "linger_ms": 5, "request_timeout_ms": 30000}
    base.update(conf)
    return KafkaProducer(**base)


def kp_consumer(bootstrap: str, **conf):
    from kafka import KafkaConsumer

    base = {
        "bootstrap_servers": bootstrap,
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "consumer_timeout_ms": 10000,
        "request_timeout_ms": 30000,
    }
    base.update(conf)
    return KafkaConsumer(**base)


def kp_consume_all(bootstrap: str, topic: str, partitions: list[int], expected: int,
                   timeout: float = 60.0, **conf) -> list[Msg]:
    """Assign, seek to beginning, poll until ``expected`` records (bounded in time)."""
    from kafka import TopicPartition as KTP

    c = kp_consumer(bootstrap, **conf)
    out: list[Msg] = []
    try:
        tps = [KTP(topic, p) for p in partitions]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            batch = c.poll(timeout_ms=500, max_records=5000)
            for tp, msgs in batch.items():
                for m in msgs:
                    out.append(Msg(m.partition, m.offset, m.key, m.value,
                                   tuple((k, v) for k, v in (m.headers or [])), m.timestamp))
        assert len(out) >= expected, f"kafka-python read {len(out)} of {expected} in {timeout}s"
    finally:
        c.close()
    return out


def raise_if(err) -> None:
    if err is not None:
        raise KafkaException(err)
