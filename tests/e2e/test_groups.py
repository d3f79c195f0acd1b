"""Consumer groups: subscribe-based consumers (confluent-kafka and kafka-python), committed
offsets across restarts, cooperative and static membership, the admin API and the
``strata groups`` CLI, and the coordinator's error codes on the raw protocol.

Most tests share one module broker with ``group.initial.rebalance.delay.ms = 0`` (the
default 3 s delay would only make them slower); restart tests get a broker of their own.
"""

from __future__ import annotations

import collections
import json
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import (Consumer, ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaError,
                             KafkaException, TopicPartition)

import group_wire as gw
import kafka_wire as w
from conftest import _new_broker, strata_bin
from helpers import admin, ck_produce_all, ck_producer, create_topic, kp_consumer

HERE = Path(__file__).parent
GROUP_CONF = {"group.initial.rebalance.delay.ms": 0}
ADMIN_T = 30


@pytest.fixture(scope="module")
def gbroker(tmp_root):
    """A broker for this module with no initial rebalance delay (name starts with
    ``shared-`` so a failing test prints its log)."""
    b = _new_broker(tmp_root, GROUP_CONF, "shared-groups").start()
    yield b
    if b.is_running():
        b.stop()


def gid(prefix: str = "g") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(pred, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def produce_keyed(bootstrap: str, topic: str, n: int, parts: int, start: int = 0) -> None:
    """Records key b'k<i>', value b'v<i>', partition i % parts (acks=all, all acknowledged)."""
    recs = [(f"k{i}".encode(), f"v{i}".encode(), None, None, i % parts)
            for i in range(start, start + n)]
    ck_produce_all(ck_producer(bootstrap, acks="all"), recs, topic)


# ---------------------------------------------------------------- in-process members


class Member:
    """One confluent-kafka group member, polled by its own thread (consume, close).

    Records every rebalance callback as (kind, frozenset of partitions) and keeps the set
    of partitions it owns (eager: full sets; cooperative: increments — both work with
    owned |= assigned, owned -= revoked)."""

    def __init__(self, bootstrap: str, topic: str, group: str, name: str, **conf):
        self.name = name
        self.topic = topic
        self.lock = threading.Lock()
        self.events: list[tuple[str, frozenset]] = []
        self.owned: set[int] = set()
        self.msgs: list = []
        self.errors: list = []
        self.stop_evt = threading.Event()
        base = {
            "bootstrap.servers": bootstrap, "group.id": group, "client.id": name,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
        }
        base.update(conf)
        self.c = Consumer(base)
        self.c.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                         on_lost=self._on_lost)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _parts(self, ps) -> frozenset:
        return frozenset(p.partition for p in ps if p.topic == self.topic)

    def _on_assign(self, c, ps):
        with self.lock:
            s = self._parts(ps)
            self.events.append(("assign", s))
            self.owned |= s

    def _on_revoke(self, c, ps):
        with self.lock:
            s = self._parts(ps)
            self.events.append(("revoke", s))
            self.owned -= s

    def _on_lost(self, c, ps):
        with self.lock:
            s = self._parts(ps)
            self.events.append(("lost", s))
            self.owned -= s

    def _run(self):
        try:
            while not self.stop_evt.is_set():
                m = self.c.poll(0.2)
                if m is None:
                    continue
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        self.errors.append(m.error())
                    continue
                self.msgs.append(m)
        finally:
            self.c.close()

    def snapshot(self) -> tuple[frozenset, int]:
        with self.lock:
            return frozenset(self.owned), len(self.events)

    def events_since(self, n: int) -> list:
        with self.lock:
            return list(self.events[n:])

    def close(self, timeout: float = 30):
        self.stop_evt.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"{self.name}: close() did not return in {timeout}s"


def wait_balanced(members: list[Member], parts: int, timeout: float = 60, settle: float = 1.5):
    """Wait until the members own disjoint sets covering all partitions, unchanged for
    ``settle`` seconds; return the owned sets."""
    deadline = time.monotonic() + timeout
    last = None
    since = time.monotonic()
    while time.monotonic() < deadline:
        owned = [m.snapshot()[0] for m in members]
        ok = (sum(len(o) for o in owned) == parts and set().union(*owned) == set(range(parts))
              and all(owned))
        if ok and owned == last:
            if time.monotonic() - since >= settle:
                return owned
        else:
            since = time.monotonic()
        last = owned
        time.sleep(0.1)
    raise AssertionError(f"group never balanced over {parts} partitions: {last}, "
                         f"events {[m.events for m in members]}")


# ---------------------------------------------------------------- 1. subprocess members


def read_out(path: Path) -> tuple[list[tuple[int, int, str]], list[str]]:
    """(processed records, other lines) of a consumer_proc output file; a torn last line
    (SIGKILL) is ignored."""
    recs, other = [], []
    try:
        text = path.read_text()
    except FileNotFoundError:
        return recs, other
    for line in text.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] == "R":
            recs.append((int(f[1]), int(f[2]), f[3]))
        elif f:
            other.append(line)
    return recs, other


def owned_from_out(path: Path) -> set[int]:
    owned: set[int] = set()
    for line in read_out(path)[1]:
        kind, _, rest = line.partition(" ")
        ps = {int(p) for p in rest.split(",") if p.strip().isdigit()}
        if kind == "A":
            owned |= ps
        elif kind in ("V", "L"):
            owned -= ps
    return owned


@pytest.mark.parametrize("scenario", ["no-failure", "leave-and-kill"])
def test_three_members_60k_records(gbroker, topic, tmp_path, scenario):
    """Three confluent-kafka members (subprocesses, subscribe + commit after processing)
    share a 6-partition topic receiving 60,000 keyed records. In ``leave-and-kill`` one member
    leaves cleanly (SIGTERM → close()) and another is killed (SIGKILL, found by the 6 s
    session timeout); the survivor takes over all partitions and every record is processed
    at least once. With no failure every record is processed exactly once. Either way the
    group ends with committed offsets at the log end of every partition."""
    b = gbroker
    parts, n = 6, 60_000
    group = gid("three")
    create_topic(b.bootstrap, topic, parts)
    stop_file = tmp_path / "stop"
    outs = [tmp_path / f"member{i}.txt" for i in range(3)]
    procs = [subprocess.Popen([sys.executable, str(HERE / "consumer_proc.py"), b.bootstrap, topic,
                               group, str(o), str(stop_file), json.dumps({"client.id": f"m{i}"}),
                               "240"], stdin=subprocess.DEVNULL, cwd=HERE)
             for i, o in enumerate(outs)]
    producer_errors: list[BaseException] = []
    try:
        def balanced():
            owned = [owned_from_out(o) for o in outs]
            return (all(owned) and sum(map(len, owned)) == parts
                    and set().union(*owned) == set(range(parts))) and owned
        first = wait_until(balanced, 60, "3 members to share 6 partitions")
        time.sleep(1.5)
        assert [owned_from_out(o) for o in outs] == first, "assignment still moving"

        def produce():
            try:
                p = ck_producer(b.bootstrap, acks="all")
                for chunk in range(60):
                    recs = [(f"k{i}".encode(), f"v{i}".encode(), None, None, i % parts)
                            for i in range(chunk * 1000, (chunk + 1) * 1000)]
                    ck_produce_all(p, recs, topic)
                    time.sleep(0.1)
            except BaseException as e:  # reported below
                producer_errors.append(e)

        pt = threading.Thread(target=produce, daemon=True)
        pt.start()

        def processed() -> int:
            return sum(len(read_out(o)[0]) for o in outs)

        if scenario == "leave-and-kill":
            wait_until(lambda: processed() >= 15_000, 60, "15,000 processed records", 0.2)
            procs[0].send_signal(signal.SIGTERM)
            assert procs[0].wait(timeout=30) == 0, "SIGTERM'd member did not exit cleanly"
            assert read_out(outs[0])[1][-1] == "X", "member 0 did not reach close()"
            wait_until(lambda: processed() >= 30_000, 60, "30,000 processed records", 0.2)
            procs[1].kill()
            procs[1].wait(timeout=10)
        pt.join(timeout=120)
        assert not producer_errors, producer_errors

        def all_seen():
            keys = set()
            for o in outs:
                keys.update(k for _, _, k in read_out(o)[0])
            return len(keys) == n
        wait_until(all_seen, 120, "every record to be processed", 0.5)
        if scenario == "leave-and-kill":
            wait_until(lambda: owned_from_out(outs[2]) == set(range(parts)), 30,
                       "the survivor to own all 6 partitions")
        # The survivors may still be re-processing what the killed member did not commit.
        wait_until(lambda: committed_offsets(b, group) == {(topic, p): n // parts
                                                           for p in range(parts)},
                   60, "committed offsets at the log end", 0.5)
        stop_file.touch()
        for p in procs:
            if p.poll() is None:
                assert p.wait(timeout=30) == 0
    finally:
        stop_file.touch()
        for p in procs:
            if p.poll() is None:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)

    recs = [r for o in outs for r in read_out(o)[0]]
    by_key = collections.Counter(k for _, _, k in recs)
    assert set(by_key) == {f"k{i}" for i in range(n)}, "records never processed"
    for p, off, k in recs:
        assert int(k[1:]) % parts == p, f"{k} read from partition {p}"
        assert off == int(k[1:]) // parts, f"{k} at offset {off}"
    dups = {k: c for k, c in by_key.items() if c > 1}
    if scenario == "no-failure":
        assert not dups, f"{len(dups)} records processed more than once, e.g. {list(dups)[:5]}"
        assert all(read_out(o)[1][-1] == "X" for o in outs)
    errs = [line for o in outs for line in read_out(o)[1] if line.startswith("E ")]
    if scenario == "no-failure":
        assert not errs, errs[:5]
    assert committed_offsets(b, group) == {(topic, p): n // parts for p in range(parts)}


# ---------------------------------------------------------------- 2. restart


def consume_subscribed(c: Consumer, topic: str, parts: int, want: int, timeout: float = 60,
                       eof: bool = True) -> list:
    """Poll a subscribed consumer until ``want`` records and (with ``eof``) EOF on every
    partition after its last record."""
    out, at_eof = [], set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(out) >= want and (not eof or len(at_eof) == parts):
            return out
        m = c.poll(0.3)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                at_eof.add(m.partition())
                continue
            if m.error().fatal() or m.topic() is not None:
                raise AssertionError(f"consumer error: {m.error()}")
            continue
        at_eof.discard(m.partition())
        out.append(m)
    raise AssertionError(f"got {len(out)} of {want} records, EOF on {sorted(at_eof)} in {timeout}s")


def ck_group_consumer(bootstrap: str, group: str, **conf) -> Consumer:
    base = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "enable.partition.eof": True,
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    base.update(conf)
    return Consumer(base)


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_committed_offsets_survive_restart(broker_factory, topic, how):
    """A member commits offsets in the middle of 3 partitions; the broker restarts (SIGTERM
    or kill -9 — a commit is acknowledged only once it is stored); a new member of the
    group then resumes exactly at the committed offsets: it reads only the later records."""
    b = broker_factory(GROUP_CONF)
    parts, n = 3, 3000
    group = gid("restart")
    create_topic(b.bootstrap, topic, parts)
    produce_keyed(b.bootstrap, topic, n, parts)
    c = ck_group_consumer(b.bootstrap, group, **{"enable.partition.eof": False})
    c.subscribe([topic])
    got = consume_subscribed(c, topic, parts, 1200, eof=False)
    committed = {}
    for m in got:
        committed[m.partition()] = max(committed.get(m.partition(), 0), m.offset() + 1)
    committed = {p: min(o, 300 + 100 * p) for p, o in committed.items()}  # distinct, mid-log
    c.commit(offsets=[TopicPartition(topic, p, o) for p, o in committed.items()],
             asynchronous=False)
    c.close()
    res = admin(b.bootstrap).list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)])[group].result(timeout=ADMIN_T)
    assert {tp.partition: tp.offset for tp in res.topic_partitions} == committed

    if how == "sigterm":
        b.stop()
    else:
        b.kill9()
    b.start()

    c2 = ck_group_consumer(b.bootstrap, group)
    c2.subscribe([topic])
    want = sum(n // parts - committed.get(p, 0) for p in range(parts))
    try:
        rest = consume_subscribed(c2, topic, parts, want, timeout=90)
    finally:
        c2.close()
    assert len(rest) == want, f"read {len(rest)} records, expected {want}"
    for p in range(parts):
        offs = sorted(m.offset() for m in rest if m.partition() == p)
        assert offs == list(range(committed.get(p, 0), n // parts)), f"partition {p}"


# ---------------------------------------------------------------- 3. kafka-python


def kp_read(c, want: int, timeout: float = 60, max_records: int = 500) -> list:
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        for _tp, msgs in c.poll(timeout_ms=300, max_records=max_records).items():
            out.extend(msgs)
    assert len(out) >= want, f"kafka-python read {len(out)} of {want} in {timeout}s"
    return out


def test_kafka_python_group_commit_and_resume(gbroker, topic):
    """kafka-python ``KafkaConsumer(group_id=..., enable_auto_commit=False)``: subscribe,
    process 600 of 1,000 records, ``commit()`` them; a second kafka-python member of the group
    reads exactly the other records."""
    from kafka import TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata

    b = gbroker
    parts, n = 2, 1000
    group = gid("kp")
    create_topic(b.bootstrap, topic, parts)
    produce_keyed(b.bootstrap, topic, n, parts)
    c = kp_consumer(b.bootstrap, group_id=group, enable_auto_commit=False, session_timeout_ms=6000,
                    heartbeat_interval_ms=500)
    c.subscribe([topic])
    got = kp_read(c, 600, max_records=100)[:600]
    nxt = collections.defaultdict(int)
    for m in got:
        nxt[m.partition] = max(nxt[m.partition], m.offset + 1)
    c.commit({KTP(topic, p): OffsetAndMetadata(o, "", -1) for p, o in nxt.items()})
    for p, o in nxt.items():
        assert c.committed(KTP(topic, p)) == o
    c.close()

    c2 = kp_consumer(b.bootstrap, group_id=group, enable_auto_commit=False)
    c2.subscribe([topic])
    want = n - sum(nxt.values())
    rest = kp_read(c2, want)
    time.sleep(1.0)
    rest += [m for ms in c2.poll(timeout_ms=500).values() for m in ms]
    c2.commit()
    c2.close()
    assert len(rest) == want
    for p in range(parts):
        offs = sorted(m.offset for m in rest if m.partition == p)
        assert offs == list(range(nxt[p], n // parts))
    res = admin(b.bootstrap).list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)])[group].result(timeout=ADMIN_T)
    assert {tp.partition: tp.offset for tp in res.topic_partitions} == {0: 500, 1: 500}


def test_offsets_interoperate_between_clients(gbroker, topic):
    """Offsets committed by confluent-kafka are where a kafka-python member of the same group
    resumes; offsets kafka-python commits are what confluent-kafka's ``committed()`` returns."""
    from kafka import TopicPartition as KTP

    b = gbroker
    parts, n = 2, 1000
    group = gid("interop")
    create_topic(b.bootstrap, topic, parts)
    produce_keyed(b.bootstrap, topic, n, parts)
    committed = {0: 123, 1: 321}
    c = ck_group_consumer(b.bootstrap, group)
    c.commit(offsets=[TopicPartition(topic, p, o) for p, o in committed.items()], asynchronous=False)
    c.close()

    k = kp_consumer(b.bootstrap, group_id=group, enable_auto_commit=False)
    k.subscribe([topic])
    want = n - sum(committed.values())
    rest = kp_read(k, want)
    for p in range(parts):
        offs = sorted(m.offset for m in rest if m.partition == p)
        assert offs == list(range(committed[p], n // parts)), f"partition {p}"
        assert k.committed(KTP(topic, p)) == committed[p]
    k.commit()  # positions: the log end
    k.close()

    c2 = ck_group_consumer(b.bootstrap, group)
    try:
        got = c2.committed([TopicPartition(topic, p) for p in range(parts)], timeout=20)
    finally:
        c2.close()
    assert {tp.partition: tp.offset for tp in got} == {0: 500, 1: 500}


# ---------------------------------------------------------------- 4. cooperative


def test_cooperative_sticky_incremental_rebalance(gbroker, topic):
    """cooperative-sticky: with two stable members on 6 partitions a third joins; the two keep
    every partition they still own at the end (they are revoked only the partitions that move
    to the newcomer, each once), the newcomer gets exactly those, and the end is 2/2/2."""
    b = gbroker
    parts = 6
    group = gid("coop")
    create_topic(b.bootstrap, topic, parts)
    conf = {"partition.assignment.strategy": "cooperative-sticky"}
    a = Member(b.bootstrap, topic, group, "coop-a", **conf)
    bb = Member(b.bootstrap, topic, group, "coop-b", **conf)
    members = [a, bb]
    try:
        first = wait_balanced(members, parts)
        marks = [m.snapshot()[1] for m in members]
        c = Member(b.bootstrap, topic, group, "coop-c", **conf)
        members.append(c)
        final = wait_balanced(members, parts, settle=3.0)
        assert sorted(map(len, final)) == [2, 2, 2], final
        moved = set()
        for m, before, after, mark in zip(members[:2], first, final[:2], marks):
            assert after <= before, f"{m.name} gained partitions: {before} -> {after}"
            evs = m.events_since(mark)
            revoked = [p for kind, s in evs if kind in ("revoke", "lost") for p in s]
            assert not [e for e in evs if e[0] == "lost"], f"{m.name}: partitions lost {evs}"
            assert sorted(revoked) == sorted(before - after), \
                f"{m.name}: revoked {revoked}, but only {sorted(before - after)} moved; events {evs}"
            added = {p for kind, s in evs if kind == "assign" for p in s}
            assert not added, f"{m.name}: re-assigned {added} during the incremental rebalance"
            moved |= before - after
        assert final[2] == moved
        assert not any(m.errors for m in members), [m.errors for m in members]
    finally:
        for m in members:
            m.close()


# ---------------------------------------------------------------- 5. static membership


def test_static_member_restart_without_rebalance(gbroker, topic):
    """Static membership: member B (``group.instance.id``) closes — no LeaveGroup for a static
    member — and a new process with the same instance id joins within session.timeout.ms. It
    gets the same partitions back and member A sees no rebalance at all (no revoke/assign
    callback), not even once B's old session would have expired."""
    b = gbroker
    parts = 6
    group = gid("static")
    create_topic(b.bootstrap, topic, parts)
    conf = {"session.timeout.ms": 6000}
    a = Member(b.bootstrap, topic, group, "static-a", **{"group.instance.id": "inst-a"}, **conf)
    members = [a]
    try:
        wait_until(lambda: a.snapshot()[0] == frozenset(range(parts)), 30, "A to own everything")
        b1 = Member(b.bootstrap, topic, group, "static-b", **{"group.instance.id": "inst-b"}, **conf)
        members.append(b1)
        owned_a, owned_b = wait_balanced([a, b1], parts)
        mark = a.snapshot()[1]
        b1.close()
        members.remove(b1)
        b2 = Member(b.bootstrap, topic, group, "static-b2", **{"group.instance.id": "inst-b"}, **conf)
        members.append(b2)
        wait_until(lambda: b2.snapshot()[0], 20, "the restarted static member to get partitions")
        assert b2.snapshot()[0] == owned_b
        time.sleep(8)  # longer than the old session of B (6 s)
        assert a.events_since(mark) == [], f"A saw a rebalance: {a.events_since(mark)}"
        assert a.snapshot()[0] == owned_a
        assert b2.snapshot()[0] == owned_b
        desc = admin(b.bootstrap).describe_consumer_groups([group])[group].result(timeout=ADMIN_T)
        assert desc.state == ConsumerGroupState.STABLE
        assert sorted(m.group_instance_id for m in desc.members) == ["inst-a", "inst-b"]
    finally:
        for m in members:
            m.close()


# ---------------------------------------------------------------- 6. admin + CLI


def strata_groups(b, *args, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([strata_bin(), "groups", "--bootstrap-server", b.bootstrap, *args],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, f"strata groups {' '.join(args)} exited {r.returncode}\n" \
                                  f"{r.stdout}\n{r.stderr}"
    return r


def describe_rows(b, group: str) -> tuple[dict[tuple[str, int], list[str]], int]:
    """``strata groups describe``: {(topic, partition): columns} and TOTAL-LAG."""
    out = strata_groups(b, "describe", group).stdout
    rows = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6 and f[0] == group and f[2].isdigit():
            rows[(f[1], int(f[2]))] = f
    m = re.search(r"TOTAL-LAG:\s*(\d+)", out)
    assert m, f"no TOTAL-LAG line in:\n{out}"
    return rows, int(m.group(1))


def committed_offsets(b, group: str) -> dict[tuple[str, int], int]:
    res = admin(b.bootstrap).list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)])[group].result(timeout=ADMIN_T)
    return {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions}


def test_admin_and_cli(gbroker, topic):
    """With one live member that committed 400 of 1,000 records: the group is listed (admin
    and ``strata groups list``), described as Stable with that member and its assignment, its
    offsets listed; ``strata groups describe`` shows LAG 600 / TOTAL-LAG 600; deleting it or
    resetting its offsets is refused while it has a member (NON_EMPTY_GROUP). Once empty:
    reset-offsets --to-earliest/--to-latest/--to-offset and alter_consumer_group_offsets move
    the lag as expected, then delete_consumer_groups removes it."""
    b = gbroker
    a = admin(b.bootstrap)
    group = gid("admin")
    create_topic(b.bootstrap, topic, 1)
    produce_keyed(b.bootstrap, topic, 1000, 1)
    c = ck_group_consumer(b.bootstrap, group, **{"client.id": "e2e-lag-client",
                                                 "enable.partition.eof": False})
    c.subscribe([topic])
    closed = False
    try:
        consume_subscribed(c, topic, 1, 400, eof=False)
        c.commit(offsets=[TopicPartition(topic, 0, 400)], asynchronous=False)

        listed = a.list_consumer_groups().result(timeout=ADMIN_T)
        assert group in {g.group_id for g in listed.valid}, listed.valid
        assert not listed.errors
        assert group in strata_groups(b, "list").stdout.split()

        desc = a.describe_consumer_groups([group])[group].result(timeout=ADMIN_T)
        assert desc.state == ConsumerGroupState.STABLE
        assert not desc.is_simple_consumer_group
        assert len(desc.members) == 1
        mem = desc.members[0]
        assert mem.client_id == "e2e-lag-client"
        assert {(tp.topic, tp.partition) for tp in mem.assignment.topic_partitions} == {(topic, 0)}
        assert committed_offsets(b, group) == {(topic, 0): 400}

        rows, total = describe_rows(b, group)
        row = rows[(topic, 0)]
        assert row[3:6] == ["400", "1000", "600"], row
        assert "e2e-lag-client" in row[6:], row
        assert mem.member_id in row[6:], row
        assert total == 600

        fut = a.delete_consumer_groups([group])[group]
        with pytest.raises(KafkaException) as ei:
            fut.result(timeout=ADMIN_T)
        assert ei.value.args[0].code() == KafkaError.NON_EMPTY_GROUP, ei.value
        r = strata_groups(b, "reset-offsets", group, "--topic", topic, "--to-earliest", check=False)
        assert r.returncode != 0, "reset-offsets on a group with a live member must fail"
        assert committed_offsets(b, group) == {(topic, 0): 400}
    finally:
        c.close()
        closed = True
    assert closed
    wait_until(lambda: a.describe_consumer_groups([group])[group].result(timeout=ADMIN_T).state
               == ConsumerGroupState.EMPTY, 20, "the group to be Empty after close()")

    strata_groups(b, "reset-offsets", group, "--topic", topic, "--to-earliest")
    rows, total = describe_rows(b, group)
    assert rows[(topic, 0)][3:6] == ["0", "1000", "1000"] and total == 1000
    strata_groups(b, "reset-offsets", group, "--topic", topic, "--to-latest")
    rows, total = describe_rows(b, group)
    assert rows[(topic, 0)][3:6] == ["1000", "1000", "0"] and total == 0
    strata_groups(b, "reset-offsets", group, "--topic", topic, "--to-offset", "250")
    assert describe_rows(b, group)[1] == 750
    assert committed_offsets(b, group) == {(topic, 0): 250}

    res = a.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 700)])])[group].result(
        timeout=ADMIN_T)
    assert [(tp.partition, tp.offset, tp.error) for tp in res.topic_partitions] == [(0, 700, None)]
    assert committed_offsets(b, group) == {(topic, 0): 700}
    assert describe_rows(b, group)[1] == 300

    a.delete_consumer_groups([group])[group].result(timeout=ADMIN_T)
    listed = a.list_consumer_groups().result(timeout=ADMIN_T)
    assert group not in {g.group_id for g in listed.valid}
    assert group not in strata_groups(b, "list").stdout.split()
    try:
        left = committed_offsets(b, group)
    except KafkaException as e:  # GROUP_ID_NOT_FOUND is an acceptable answer too
        assert e.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND, e
        left = {}
    assert left.get((topic, 0), -1) == -1, f"offsets of a deleted group are still there: {left}"
    r = strata_groups(b, "delete", gid("never-existed"), check=False)
    assert r.returncode != 0


def test_cli_delete_group(gbroker, topic):
    """``strata groups delete`` removes an empty group with committed offsets."""
    b = gbroker
    group = gid("clidel")
    create_topic(b.bootstrap, topic, 1)
    c = ck_group_consumer(b.bootstrap, group)
    c.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    c.close()
    assert group in strata_groups(b, "list").stdout.split()
    strata_groups(b, "delete", group)
    assert group not in strata_groups(b, "list").stdout.split()


# ---------------------------------------------------------------- 7. error codes


def joined_member(conn: w.Connection, group: str, topic: str) -> tuple[str, int]:
    """Join a new single-member group over the raw protocol (JoinGroup v5, including the
    MEMBER_ID_REQUIRED round trip) and sync it; return (member id, generation)."""
    j = gw.join_group(conn, group, topics=[topic])
    assert j.error_code == gw.MEMBER_ID_REQUIRED, j
    j = gw.join_group(conn, group, member_id=j.member_id, topics=[topic])
    assert j.error_code == 0, j
    assert j.leader == j.member_id
    err, asg = gw.sync_group(conn, group, j.generation_id, j.member_id,
                             {j.member_id: gw.assignment({topic: [0]})})
    assert err == 0
    assert asg == gw.assignment({topic: [0]})
    return j.member_id, j.generation_id


def test_group_error_codes(gbroker, topic):
    """On the raw protocol: FindCoordinator names this broker; JoinGroup v4+ with an empty
    member id → MEMBER_ID_REQUIRED (79) with an id to use; empty group id → INVALID_GROUP_ID;
    too small a session timeout → INVALID_SESSION_TIMEOUT; a commit with an unknown member
    id → UNKNOWN_MEMBER_ID, with a stale generation → ILLEGAL_GENERATION, to a missing topic
    or partition → UNKNOWN_TOPIC_OR_PARTITION; Heartbeat of an unknown member →
    UNKNOWN_MEMBER_ID, of a stale generation → ILLEGAL_GENERATION. Good requests succeed."""
    b = gbroker
    create_topic(b.bootstrap, topic, 1)
    group = gid("errors")
    with w.Connection.to(b.bootstrap, timeout=30) as conn:
        co = gw.find_coordinator(conn, group)
        assert co.error_code == 0
        assert (co.host, co.port) == ("127.0.0.1", b.port)

        # (another group: a pending member id would hold up the next rebalance of this one)
        j = gw.join_group(conn, gid("v4"), version=4, topics=[topic])
        assert j.error_code == gw.MEMBER_ID_REQUIRED
        assert j.member_id, "MEMBER_ID_REQUIRED must come with a member id"
        assert gw.join_group(conn, "", topics=[topic]).error_code == gw.INVALID_GROUP_ID
        assert gw.join_group(conn, gid("short"), member_id="", version=0, session_timeout_ms=100,
                             topics=[topic]).error_code == gw.INVALID_SESSION_TIMEOUT

        member, gen = joined_member(conn, group, topic)
        assert gw.heartbeat(conn, group, gen, member) == 0
        assert gw.heartbeat(conn, group, gen, "nobody") == gw.UNKNOWN_MEMBER_ID
        assert gw.heartbeat(conn, group, gen + 5, member) == gw.ILLEGAL_GENERATION

        ok = gw.offset_commit(conn, group, gen, member, {topic: {0: 7}})
        assert ok == {(topic, 0): 0}
        assert gw.offset_commit(conn, group, gen, "nobody", {topic: {0: 8}}) \
            == {(topic, 0): gw.UNKNOWN_MEMBER_ID}
        assert gw.offset_commit(conn, group, gen - 1, member, {topic: {0: 9}}) \
            == {(topic, 0): gw.ILLEGAL_GENERATION}
        missing = f"missing-{uuid.uuid4().hex[:8]}"
        res = gw.offset_commit(conn, group, gen, member, {missing: {0: 1}, topic: {5: 1}})
        assert res == {(missing, 0): gw.UNKNOWN_TOPIC_OR_PARTITION,
                       (topic, 5): gw.UNKNOWN_TOPIC_OR_PARTITION}
        # v2 (with retention time) is decoded too.
        assert gw.offset_commit(conn, group, gen, member, {topic: {0: 7}}, version=2) \
            == {(topic, 0): 0}
        err, fetched = gw.offset_fetch(conn, group, {topic: [0]})
        assert err == 0 and fetched[(topic, 0)] == (7, 0), "only the good commits stick"

        assert gw.leave_group(conn, group, member) == 0
        assert gw.heartbeat(conn, group, gen, member) == gw.UNKNOWN_MEMBER_ID
        # No such group: never "OK".
        assert gw.heartbeat(conn, gid("nogroup"), 1, "m") in (gw.UNKNOWN_MEMBER_ID,
                                                             gw.GROUP_ID_NOT_FOUND)
        assert gw.heartbeat(conn, "", 1, "m") == gw.INVALID_GROUP_ID


def test_old_join_group_versions_need_no_member_id_round_trip(gbroker, topic):
    """JoinGroup v0–v3 with an empty member id joins at once (MEMBER_ID_REQUIRED is v4+)."""
    b = gbroker
    create_topic(b.bootstrap, topic, 1)
    for v in (0, 1, 3):
        group = gid(f"v{v}")
        with w.Connection.to(b.bootstrap, timeout=30) as conn:
            j = gw.join_group(conn, group, version=v, topics=[topic])
            assert j.error_code == 0, (v, j)
            assert j.member_id and j.leader == j.member_id and j.generation_id >= 1
            assert [m[0] for m in j.members] == [j.member_id]


def test_vanished_joiner_does_not_stall_other_groups(gbroker, topic):
    """A client whose JoinGroup is parked (its group is rebalancing, waiting for an existing
    member) closes its socket. Another group still forms, the coordinator still answers,
    and the first group's remaining member completes its rebalance. The vanished client
    asked for a 5-minute rebalance timeout, so a coordinator that waited on it would not
    answer within the connections' 30 s timeouts (no elapsed time is asserted)."""
    b = gbroker
    create_topic(b.bootstrap, topic, 1)
    g1, g2 = gid("vanish"), gid("other")
    with w.Connection.to(b.bootstrap, timeout=30) as c1:
        m1, gen1 = joined_member(c1, g1, topic)
        ghost = w.Connection.to(b.bootstrap, timeout=30)
        ghost_timeouts = {"session_timeout_ms": 120_000, "rebalance_timeout_ms": 300_000}
        j = gw.join_group(ghost, g1, topics=[topic], **ghost_timeouts)
        assert j.error_code == gw.MEMBER_ID_REQUIRED
        # Parked: the rebalance waits for m1 to rejoin.
        gw.send_join_group(ghost, g1, j.member_id, topics=[topic], **ghost_timeouts)
        time.sleep(0.5)
        ghost.close()

        # A stalled coordinator shows as a socket timeout in either step.
        with w.Connection.to(b.bootstrap, timeout=30) as c2:
            m2, gen2 = joined_member(c2, g2, topic)
            assert gw.heartbeat(c2, g2, gen2, m2) == 0

        assert gw.heartbeat(c1, g1, gen1, m1) in (0, gw.REBALANCE_IN_PROGRESS)
        j1 = gw.join_group(c1, g1, member_id=m1, topics=[topic])
        assert j1.error_code == 0, j1
        assert j1.generation_id >= gen1
