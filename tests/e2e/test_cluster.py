"""A three-node cluster on loopback, started by ``localstack/cluster.sh`` as users start
one: every node a broker and a voter of the metadata quorum.

Clients see the whole cluster from any node; admin requests sent to any node reach the
active controller; kill -9 of the controller elects another and admin goes on; a node
restarted after missing changes catches up; every node ends with the same metadata.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewTopic)

from conftest import REPO, strata_bin
from helpers import ck_consumer, ck_producer, ck_produce_all, kp_consumer

CLUSTER_SH = REPO / "localstack" / "cluster.sh"


class Cluster:
    def __init__(self, root: Path):
        self.root = root
        self.nodes: dict[int, dict] = {}
        self.bootstrap = ""

    def up(self, n: int = 3, controllers: int = 0, brokers: int = 0) -> None:
        """``cluster.sh up --nodes n``, or ``--controllers C --brokers B`` (dedicated
        roles: controller nodes have no ``kafka`` address)."""
        env = dict(os.environ, STRATA_BIN=strata_bin(), STRATA_LOG="info")
        shape = (["--controllers", str(controllers), "--brokers", str(brokers)] if controllers
                 else ["--nodes", str(n)])
        out = subprocess.run([str(CLUSTER_SH), "up", *shape, "--dir", str(self.root)],
                             env=env, capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr
        for line in out.stdout.splitlines():
            fields = dict(f.split("=", 1) for f in line.split())
            if "node" in fields:
                self.nodes[int(fields["node"])] = {"pid": int(fields["pid"]), "kafka": fields.get("kafka"),
                                                   "controller": fields.get("controller"),
                                                   "config": fields["config"]}
            elif "bootstrap" in fields:
                self.bootstrap = fields["bootstrap"]
        assert len(self.nodes) == (controllers + brokers if controllers else n) and self.bootstrap, out.stdout

    def down(self) -> None:
        subprocess.run([str(CLUSTER_SH), "down", "--dir", str(self.root)], timeout=120)

    def admin(self, node: int) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.nodes[node]["kafka"]})

    def controller(self) -> int:
        """The active controller as Metadata names it (asked of a live node)."""
        for n in self.nodes:
            if self.alive(n) and self.nodes[n]["kafka"]:
                cid = self.admin(n).list_topics(timeout=10).controller_id
                if cid >= 0:
                    return cid
        raise AssertionError("no live node names a controller")

    def alive(self, node: int) -> bool:
        try:
            os.kill(self.nodes[node]["pid"], 0)
            return True
        except ProcessLookupError:
            return False

    def kill9(self, node: int) -> None:
        pid = self.nodes[node]["pid"]
        os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def restart(self, node: int) -> None:
        """``strata serve --config <file>``, as the cluster.sh output says."""
        log = open(Path(self.nodes[node]["config"]).parent / "strata.restart.log", "ab")
        p = subprocess.Popen([strata_bin(), "serve", "--config", self.nodes[node]["config"]],
                             stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             env=dict(os.environ, STRATA_LOG="info"))
        self.nodes[node]["pid"] = p.pid
        self.nodes[node]["proc"] = p


@pytest.fixture
def cluster(tmp_root):
    c = Cluster(tmp_root / f"cluster-{time.monotonic_ns()}")
    c.up(3)
    try:
        yield c
    finally:
        c.down()


def metadata_view(bootstrap: str) -> tuple:
    """What a client sees: brokers and, per topic, each partition's leader and replicas."""
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    brokers = sorted((b.id, b.host, b.port) for b in md.brokers.values())
    topics = sorted((name, tuple(sorted((p.id, p.leader, tuple(p.replicas)) for p in t.partitions.values())))
                    for name, t in md.topics.items())
    return brokers, topics


def config_digest(bootstrap: str, topics: list[str]) -> str:
    a = AdminClient({"bootstrap.servers": bootstrap})
    h = hashlib.sha256()
    res = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in sorted(topics)]
    for r, fut in sorted(a.describe_configs(res).items(), key=lambda kv: kv[0].name):
        for name, entry in sorted(fut.result(15).items()):
            h.update(f"{r.name}/{name}={entry.value}\n".encode())
    return h.hexdigest()


def until(what: str, f, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            got = f()
            if got:
                return got
        except Exception as e:  # a node still starting answers with errors
            last = e
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting: {what} (last error: {last})")


def create(admin: AdminClient, name: str, partitions: int, rf: int = 1,
           timeout: float = 30.0) -> None:
    """CreateTopics, retried while the quorum elects a controller (clients retry
    NOT_CONTROLLER and timeouts the same way)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.create_topics([NewTopic(name, partitions, rf)], request_timeout=10)[name].result(15)
            return
        except Exception as e:
            if "TOPIC_ALREADY_EXISTS" in str(e):
                return
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_every_client_sees_the_cluster_and_admin_goes_through_any_node(cluster):
    # CreateTopics sent to a node that need not be the controller.
    controller = until("a controller", cluster.controller)
    follower = next(n for n in cluster.nodes if n != controller)
    create(cluster.admin(follower), "spread", 6)
    views = {n: until(f"node {n} has the topic",
                      lambda n=n: (v := metadata_view(cluster.nodes[n]["kafka"]))
                      and any(t[0] == "spread" for t in v[1]) and v)
             for n in cluster.nodes}
    first = views[1]
    assert [b[0] for b in first[0]] == [1, 2, 3], first[0]
    assert all(v == first for v in views.values()), views
    leaders = {p[1] for t in first[1] if t[0] == "spread" for p in t[1]}
    assert leaders == {1, 2, 3}, "partitions are led across the brokers"

    # kafka-python (pure Python) sees the same brokers.
    kp = kp_consumer(cluster.bootstrap)
    try:
        until("kafka-python metadata", lambda: kp.topics() and "spread" in kp.topics())
        kp_brokers = sorted((b.node_id, b.host, b.port) for b in kp._client.cluster.brokers())
        kp_parts = kp.partitions_for_topic("spread")
        assert kp_parts == set(range(6))
        assert kp_brokers == first[0]
    finally:
        kp.close()

    # Produce with acks=all to every partition, consume all of it through a group whose
    # coordinator is the leader of its __consumer_offsets partition.
    producer = ck_producer(cluster.bootstrap, acks="all")
    log = ck_produce_all(producer, [(str(i).encode(), f"v{i}".encode(), None, None, None)
                                    for i in range(3000)], "spread")
    acked = {m.value() for m in log.ok}
    assert len(acked) == 3000
    consumer = ck_consumer(cluster.bootstrap, **{"group.id": "spread-readers",
                                                 "enable.partition.eof": False,
                                                 "enable.auto.offset.store": True})
    consumer.subscribe(["spread"])
    seen = set()
    deadline = time.monotonic() + 60
    while len(seen) < len(acked) and time.monotonic() < deadline:
        m = consumer.poll(1.0)
        if m is not None and not m.error():
            seen.add(m.value())
    consumer.commit(asynchronous=False)
    consumer.close()
    assert acked - seen == set()


def test_kill9_of_the_controller_elects_another_and_a_restarted_node_catches_up(cluster):
    topics = [f"cfg-{i}" for i in range(5)]
    for t in topics:
        create(cluster.admin(1), t, 1)
    victim = until("a controller", cluster.controller)
    survivors = [n for n in cluster.nodes if n != victim]
    changes = 0

    def alter(node: int, i: int) -> None:
        nonlocal changes
        t = topics[i % len(topics)]
        res = ConfigResource(ConfigResource.Type.TOPIC, t, incremental_configs=[
            ConfigEntry("retention.ms", str(3_600_000 + i), incremental_operation=AlterConfigOpType.SET)])
        deadline = time.monotonic() + 30
        while True:
            try:
                a = cluster.admin(node)
                a.incremental_alter_configs([res], request_timeout=10)[res].result(15)
                changes += 1
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    for i in range(500):
        alter(survivors[i % 2], i)
    cluster.kill9(victim)
    # A new controller is elected from the two left; admin goes on through either.
    until("a new controller", lambda: cluster.controller() in survivors, timeout=30)
    create(cluster.admin(survivors[0]), "after-failover", 3)
    for i in range(500, 1000):
        alter(survivors[i % 2], i)
    assert changes == 1000

    # The killed node comes back with `strata serve --config` and catches up.
    cluster.restart(victim)
    topics_all = topics + ["after-failover"]
    want = metadata_view(cluster.nodes[survivors[0]]["kafka"])
    until("the restarted node's metadata matches",
          lambda: metadata_view(cluster.nodes[victim]["kafka"]) == want, timeout=60)
    digests = {n: until(f"configs from node {n}",
                        lambda n=n: config_digest(cluster.nodes[n]["kafka"], topics_all))
               for n in cluster.nodes}
    assert len(set(digests.values())) == 1, digests
    a = cluster.admin(victim)
    final = a.describe_configs(
        [ConfigResource(ConfigResource.Type.TOPIC, topics[999 % 5])])
    (entries,) = [f.result(15) for f in final.values()]
    assert entries["retention.ms"].value == str(3_600_000 + 999)


def test_a_node_of_another_cluster_is_refused(cluster, tmp_root):
    """A data directory formatted for one cluster does not start in another."""
    cfg = Path(cluster.nodes[1]["config"])
    text = cfg.read_text()
    cluster.kill9(1)
    foreign = tmp_root / f"foreign-{time.monotonic_ns()}.toml"
    foreign.write_text(re.sub(r'"cluster.id" = "[^"]*"', '"cluster.id" = "another-cluster"', text))
    out = subprocess.run([strata_bin(), "serve", "--config", str(foreign)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0
    assert "cluster.id mismatch" in out.stderr, out.stderr[-2000:]


def brokers_and_leaders(bootstrap: str, topic: str) -> tuple[list[int], dict[int, int]]:
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    t = md.topics.get(topic)
    leaders = {p.id: p.leader for p in t.partitions.values()} if t else {}
    return sorted(md.brokers), leaders


def test_sigstop_fences_a_broker_and_its_leaderships_move_sigcont_brings_it_back(cluster):
    """A broker that stops heartbeating is fenced after broker.session.timeout.ms: it
    leaves Metadata, the partitions it led are led by another in-sync replica, and
    writes go on; once it runs again it is unfenced and listed again."""
    create(cluster.admin(1), "fenced", 6, 2)
    until("every partition led", lambda: all(
        l >= 0 for l in brokers_and_leaders(cluster.nodes[1]["kafka"], "fenced")[1].values())
        and len(brokers_and_leaders(cluster.nodes[1]["kafka"], "fenced")[1]) == 6)
    victim = 2
    assert victim in brokers_and_leaders(cluster.nodes[1]["kafka"], "fenced")[1].values()
    pid = cluster.nodes[victim]["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        observer = cluster.nodes[1]["kafka"]
        until("the stopped broker is fenced and leads nothing", lambda: (
            (v := brokers_and_leaders(observer, "fenced"))
            and victim not in v[0] and victim not in v[1].values()
            and all(l >= 0 for l in v[1].values())), timeout=30)
        # Writes to every partition reach the new leaders. acks=1: until replication
        # lands no follower fetches, so acks=all on RF 2 would wait for the ISR.
        others = ",".join(cluster.nodes[n]["kafka"] for n in cluster.nodes if n != victim)
        producer = ck_producer(others, acks="1")
        log = ck_produce_all(producer, [(str(i).encode(), f"f{i}".encode(), None, None, i % 6)
                                        for i in range(600)], "fenced")
        assert len(log.ok) == 600 and not log.errors, log.errors[:3]
        assert {m.partition() for m in log.ok} == set(range(6))
    finally:
        os.kill(pid, signal.SIGCONT)
    until("the resumed broker is listed again",
          lambda: victim in brokers_and_leaders(cluster.nodes[1]["kafka"], "fenced")[0], timeout=30)


def test_sigterm_is_a_controlled_shutdown_leaderships_move_first_exit_zero(cluster):
    victim = 3
    # Run the victim as a child of the test so its exit status can be read.
    cluster.kill9(victim)
    cluster.restart(victim)
    observer = cluster.nodes[1]["kafka"]
    # The new process serves only once the controller unfenced it (the old incarnation
    # may still be listed until its session expires).
    until("the restarted broker serves", lambda: victim in
          brokers_and_leaders(cluster.nodes[victim]["kafka"], "moving")[0], timeout=60)
    until("the restarted broker is listed", lambda: victim in brokers_and_leaders(observer, "moving")[0])
    create(cluster.admin(1), "moving", 6, 2)
    until("the victim leads some of the new partitions", lambda: victim in
          brokers_and_leaders(observer, "moving")[1].values())
    proc = cluster.nodes[victim]["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    # The moment it is gone, nothing is led by it any more and it is not listed.
    brokers, leaders = brokers_and_leaders(observer, "moving")
    assert victim not in brokers
    assert victim not in leaders.values(), leaders
    assert all(l >= 0 for l in leaders.values()), leaders
