"""Idempotent producer (enable.idempotence=true): no duplicates, order kept, across restarts."""

from __future__ import annotations

import collections
import threading
import time

import pytest

from helpers import DeliveryLog, ck_consume_range, ck_producer, create_topic

PARTS = 3


def produce_numbered(p, topic: str, start: int, count: int, log: DeliveryLog) -> None:
    """Send records 'start..start+count' round-robin over partitions; value = b'<i>'."""
    for i in range(start, start + count):
        for _ in range(2000):
            try:
                p.produce(topic, key=str(i).encode(), value=str(i).encode(), partition=i % PARTS,
                          on_delivery=log)
                break
            except BufferError:
                p.poll(0.01)
        else:
            raise AssertionError("producer queue stayed full")
        p.poll(0)


def check_exactly_once_in_order(msgs, acked_values: set[int], sent: int) -> None:
    """No value twice; every acknowledged value present; per partition, values increase."""
    values = [int(m.value) for m in msgs]
    dups = [v for v, n in collections.Counter(values).items() if n > 1]
    assert not dups, f"{len(dups)} duplicated records, e.g. {dups[:10]}"
    missing = acked_values - set(values)
    assert not missing, f"{len(missing)} acknowledged records missing, e.g. {sorted(missing)[:10]}"
    assert all(0 <= v < sent for v in values), "records that were never sent"
    by_part = collections.defaultdict(list)
    for m in sorted(msgs, key=lambda m: (m.partition, m.offset)):
        assert int(m.value) % PARTS == m.partition
        by_part[m.partition].append(int(m.value))
    for p, vs in by_part.items():
        assert vs == sorted(vs), f"partition {p}: order differs from send order"


def test_idempotent_20k_exactly_once(broker, topic):
    """20,000 idempotent sends to 3 partitions are stored exactly once, in send order."""
    n = 20_000
    create_topic(broker.bootstrap, topic, PARTS)
    p = ck_producer(broker.bootstrap, **{"enable.idempotence": True, "acks": "all"})
    log = DeliveryLog()
    produce_numbered(p, topic, 0, n, log)
    assert p.flush(120) == 0
    assert not log.errors, log.errors[:5]
    assert len(log.ok) == n
    msgs = ck_consume_range(broker.bootstrap, topic, list(range(PARTS)), expected=n)
    assert len(msgs) == n
    check_exactly_once_in_order(msgs, set(range(n)), n)


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_idempotent_across_broker_restart(fresh_broker, topic, how):
    """The broker restarts (clean or kill -9) while an idempotent producer keeps sending and
    retrying; afterwards no record is duplicated and every acknowledged record is there."""
    b = fresh_broker
    create_topic(b.bootstrap, topic, PARTS)
    p = ck_producer(b.bootstrap, **{
        "enable.idempotence": True, "acks": "all", "message.timeout.ms": 120_000,
        "retry.backoff.ms": 100, "reconnect.backoff.max.ms": 500, "linger.ms": 2,
    })
    log = DeliveryLog()
    restarted = threading.Event()
    errors: list[BaseException] = []

    def restart():
        try:
            time.sleep(1.5)
            if how == "sigterm":
                b.stop()
            else:
                b.kill9()
            time.sleep(0.5)
            b.start()
        except BaseException as e:  # surfaced below
            errors.append(e)
        finally:
            restarted.set()

    t = threading.Thread(target=restart, daemon=True)
    t.start()
    sent = 0
    deadline = time.monotonic() + 60
    # Keep a stream going until some time after the restart (bounded in count and time).
    while sent < 200_000 and time.monotonic() < deadline:
        produce_numbered(p, topic, sent, 200, log)
        sent += 200
        time.sleep(0.02)
        if restarted.is_set() and len(log.ok) > 0 and sent > 2000:
            produce_numbered(p, topic, sent, 2000, log)
            sent += 2000
            break
    t.join(timeout=60)
    assert not errors, errors
    assert p.flush(150) == 0, "producer did not drain after the restart"
    assert not log.errors, f"{len(log.errors)} delivery errors, e.g. {log.errors[:3]}"
    acked = {int(m.value()) for m in log.ok}
    assert len(acked) == sent
    msgs = ck_consume_range(b.bootstrap, topic, list(range(PARTS)), timeout=90)
    check_exactly_once_in_order(msgs, acked, sent)


def test_idle_producer_state_expires_and_the_producer_carries_on(broker_factory, topic):
    """Regression: producer state never expired. With producer.id.expiration.ms = 1 s the
    broker forgets an idle producer; when it comes back with its next sequence number the
    batch is accepted (Kafka's rule for a producer it has no state for), so the client
    sees no error and nothing is lost or duplicated."""
    b = broker_factory(config={"producer.id.expiration.ms": 1000,
                               "producer.id.expiration.check.interval.ms": 200})
    create_topic(b.bootstrap, topic, PARTS)
    p = ck_producer(b.bootstrap, **{"enable.idempotence": True, "acks": "all"})
    log = DeliveryLog()
    produce_numbered(p, topic, 0, 300, log)
    assert p.flush(60) == 0
    deadline = time.monotonic() + 60
    while "expired idle producer state" not in b.log_tail(200):
        assert time.monotonic() < deadline, "the broker never expired the idle producer"
        time.sleep(0.2)
    produce_numbered(p, topic, 300, 300, log)
    assert p.flush(60) == 0
    assert not log.errors, log.errors[:5]
    msgs = ck_consume_range(b.bootstrap, topic, list(range(PARTS)), expected=600)
    check_exactly_once_in_order(msgs, set(range(600)), 600)
