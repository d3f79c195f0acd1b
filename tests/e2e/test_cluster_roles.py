"""Dedicated roles and the quorum's edges, as users meet them on loopback.

Three controllers and two brokers started by ``localstack/cluster.sh up --controllers 3
--brokers 2``: clients see only the brokers; kill -9 of the active controller elects
another while admin and produce go on; a SIGSTOPped broker is fenced and comes back;
preferred leaders are re-elected with ElectLeaders; a new broker joins; a new controller
joins a dynamic quorum as an observer and is promoted and demoted with ``strata cluster
add-voter|remove-voter``. Every acknowledged record is read back at the end.

Three combined nodes that lose their majority stop committing (clients get a retriable
error, nothing half-applied) and resume when a voter returns.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import ElectionType, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import strata_bin
from helpers import ck_consumer, ck_producer, ck_produce_all, kp_consumer
from test_cluster import Cluster, create, until


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([strata_bin(), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def describe(bootstrap: str) -> dict:
    """``strata cluster describe`` parsed: controller, broker states, voters, observers."""
    out = cli("cluster", "describe", "--bootstrap-server", bootstrap)
    assert out.returncode == 0, out.stderr
    d = {"brokers": {}, "voters": set(), "observers": set(), "text": out.stdout}
    for line in out.stdout.splitlines():
        if m := re.match(r"active controller: (-?\d+)", line):
            d["controller"] = int(m.group(1))
        elif m := re.match(r"\s+(\d+)\s+(online|fenced)\s+(\S+)\s+(\S+)", line):
            d["brokers"][int(m.group(1))] = m.group(2)
        elif m := re.match(r"\s+(\d+)\s+(voter|observer)\s+(-?\d+)", line):
            d["voters" if m.group(2) == "voter" else "observers"].add(int(m.group(1)))
    return d


def start_node(cluster: Cluster, node_id: int, lines: list[str]) -> None:
    """A new node of the cluster: its config written beside the others, `strata serve`."""
    nd = cluster.root / f"node-{node_id}"
    nd.mkdir(parents=True)
    config = nd / "strata.toml"
    config.write_text("\n".join([f'"node.id" = {node_id}', f'"log.dirs" = "{nd / "data"}"', *lines]) + "\n")
    cluster.nodes[node_id] = {"pid": 0, "kafka": None, "controller": None, "config": str(config)}
    cluster.restart(node_id)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toml_value(config: str, key: str) -> str:
    m = re.search(rf'^"{re.escape(key)}" = "([^"]*)"', Path(config).read_text(), re.M)
    assert m, f"{key} not in {config}"
    return m.group(1)


def read_all(bootstrap: str, topic: str, want: set, timeout: float = 90) -> set:
    consumer = ck_consumer(bootstrap, **{"enable.partition.eof": False})
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    consumer.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
    seen = set()
    deadline = time.monotonic() + timeout
    while not want <= seen and time.monotonic() < deadline:
        m = consumer.poll(1.0)
        if m is not None and not m.error():
            seen.add(m.value())
    consumer.close()
    return seen


@pytest.fixture
def dedicated(tmp_root):
    c = Cluster(tmp_root / f"roles-{time.monotonic_ns()}")
    c.up(controllers=3, brokers=2)
    try:
        yield c
    finally:
        c.down()


def test_dedicated_controllers_and_brokers_through_faults_voter_changes_and_a_new_broker(dedicated):
    c = dedicated
    b4 = c.nodes[4]["kafka"]

    # Clients see the two brokers only; the controllers are not brokers.
    md = until("both brokers listed", lambda: (m := AdminClient({"bootstrap.servers": b4})
                                               .list_topics(timeout=10)) and len(m.brokers) == 2 and m)
    assert sorted(md.brokers) == [4, 5]
    kp = kp_consumer(c.bootstrap)
    try:
        until("kafka-python sees the brokers",
              lambda: kp.topics() is not None
              and sorted(b.node_id for b in kp._client.cluster.brokers()) == [4, 5])
    finally:
        kp.close()
    d = until("a quorum with a leader", lambda: (x := describe(b4)) and x.get("controller", -1) > 0 and x)
    assert d["voters"] == {1, 2, 3}, d["text"]
    assert d["observers"] == {4, 5}, d["text"]
    assert d["brokers"] == {4: "online", 5: "online"}, d["text"]

    # Data: an RF1 topic written with acks=all (the oracle), an RF2 topic led by both.
    create(c.admin(5), "oracle", 4)
    create(c.admin(5), "spread", 4, rf=2)
    producer = ck_producer(c.bootstrap, acks="all")
    acked = {m.value() for m in ck_produce_all(
        producer, [(None, f"a{i}".encode(), None, None, None) for i in range(2000)], "oracle").ok}
    assert len(acked) == 2000

    # kill -9 the active controller: another is elected; admin and produce go on.
    victim = d["controller"]
    c.kill9(victim)
    create(c.admin(4), "after-failover", 2, timeout=60)
    d = until("a new active controller", lambda: (x := describe(b4)) and x.get("controller") in
              ({1, 2, 3} - {victim}) and x, timeout=60)
    acked |= {m.value() for m in ck_produce_all(
        producer, [(None, f"b{i}".encode(), None, None, None) for i in range(2000)], "oracle").ok}
    c.restart(victim)

    # SIGSTOP broker 5: fenced, its leaderships of `spread` move to 4; SIGCONT: back.
    os.kill(c.nodes[5]["pid"], signal.SIGSTOP)
    try:
        until("broker 5 fenced", lambda: describe(b4)["brokers"].get(5) == "fenced", timeout=60)
        until("broker 4 leads every spread partition",
              lambda: {p.leader for p in AdminClient({"bootstrap.servers": b4}).list_topics(
                  "spread", timeout=10).topics["spread"].partitions.values()} == {4}, timeout=30)
    finally:
        os.kill(c.nodes[5]["pid"], signal.SIGCONT)
    until("broker 5 online again", lambda: describe(b4)["brokers"].get(5) == "online", timeout=60)

    # ElectLeaders PREFERRED moves leadership back to each partition's first replica.
    admin = AdminClient({"bootstrap.servers": b4})
    parts = [TopicPartition("spread", p) for p in range(4)]

    def preferred_everywhere():
        admin.elect_leaders(ElectionType.PREFERRED, parts).result(30)
        ps = admin.list_topics("spread", timeout=10).topics["spread"].partitions.values()
        return all(p.leader == p.replicas[0] for p in ps)
    until("preferred leaders elected", preferred_everywhere, timeout=60)

    # A new broker joins and serves.
    k6, c6 = free_port(), free_port()
    voters = toml_value(c.nodes[4]["config"], "controller.quorum.voters")
    cluster_id = toml_value(c.nodes[4]["config"], "cluster.id")
    start_node(c, 6, ['"process.roles" = "broker"',
                      f'"listeners" = "PLAINTEXT://127.0.0.1:{k6},CONTROLLER://127.0.0.1:{c6}"',
                      f'"controller.quorum.voters" = "{voters}"', f'"cluster.id" = "{cluster_id}"'])
    c.nodes[6]["kafka"] = f"127.0.0.1:{k6}"
    until("broker 6 listed", lambda: 6 in AdminClient({"bootstrap.servers": b4}).list_topics(
        timeout=10).brokers, timeout=60)
    create(c.admin(6), "on-six", 6)

    # A new controller joins through controller.quorum.bootstrap.servers as an observer,
    # is promoted to voter, then demoted again.
    c7 = free_port()
    servers = ",".join(v.split("@", 1)[1] for v in voters.split(","))
    start_node(c, 7, ['"process.roles" = "controller"', f'"listeners" = "CONTROLLER://127.0.0.1:{c7}"',
                      f'"controller.quorum.bootstrap.servers" = "{servers}"',
                      f'"cluster.id" = "{cluster_id}"'])
    until("node 7 observes", lambda: 7 in describe(b4)["observers"], timeout=60)
    out = cli("cluster", "add-voter", "--id", "7", "--bootstrap-server", b4)
    assert out.returncode == 0, out.stderr
    assert describe(b4)["voters"] == {1, 2, 3, 7}
    again = cli("cluster", "add-voter", "--id", "7", "--bootstrap-server", b4)
    assert again.returncode != 0 and "DuplicateVoter" in again.stderr, again.stderr
    out = cli("cluster", "remove-voter", "--id", "7", "--bootstrap-server", b4)
    assert out.returncode == 0, out.stderr
    d = describe(b4)
    assert d["voters"] == {1, 2, 3} and 7 in d["observers"], d["text"]
    unknown = cli("cluster", "remove-voter", "--id", "42", "--bootstrap-server", b4)
    assert unknown.returncode != 0 and "VoterNotFound" in unknown.stderr, unknown.stderr

    # Every acknowledged record is there.
    assert acked - read_all(c.bootstrap, "oracle", acked) == set()


def test_a_quorum_without_a_majority_stops_committing_and_resumes(tmp_root):
    c = Cluster(tmp_root / f"minority-{time.monotonic_ns()}")
    c.up(3)
    try:
        create(c.admin(1), "before", 2)
        producer = ck_producer(c.bootstrap, acks="all")
        acked = {m.value() for m in ck_produce_all(
            producer, [(None, f"r{i}".encode(), None, None, None) for i in range(500)], "before").ok}
        c.kill9(2)
        c.kill9(3)
        # One voter of three: CreateTopics is answered with a retriable error, and
        # nothing of it is applied.
        admin = c.admin(1)
        err = None
        try:
            admin.create_topics([NewTopic("during", 1, 1)], request_timeout=15)["during"].result(20)
        except Exception as e:  # noqa: BLE001 - the KafkaException carries the code
            err = e
        assert err is not None, "CreateTopics committed without a majority"
        kerr = err.args[0]
        assert kerr.retriable() or kerr.name() in ("REQUEST_TIMED_OUT", "NOT_CONTROLLER",
                                                    "_TIMED_OUT"), kerr
        assert "during" not in admin.list_topics(timeout=10).topics
        # A voter returns: the majority commits again.
        c.restart(2)
        create(c.admin(1), "after", 1, timeout=90)
        until("after is visible", lambda: "after" in c.admin(1).list_topics(timeout=10).topics)
        md = c.admin(1).list_topics(timeout=10)
        assert "before" in md.topics
        c.restart(3)
        until("node 3 back", lambda: 3 in c.admin(1).list_topics(timeout=10).brokers, timeout=60)
        assert acked - read_all(c.bootstrap, "before", acked) == set()
    finally:
        c.down()


def test_a_dynamic_quorum_grows_from_one_formatted_controller(tmp_root):
    """`strata format --standalone` makes the first controller the only voter; a second
    node with controller.quorum.bootstrap.servers joins as an observer, is promoted, and
    the two agree on what they commit. An unformatted node without cluster.id refuses."""
    root = tmp_root / f"dynamic-{time.monotonic_ns()}"
    root.mkdir()
    k1, k2, c1, c2 = (free_port() for _ in range(4))
    configs = {}
    for n, (k, ctl) in {1: (k1, c1), 2: (k2, c2)}.items():
        configs[n] = root / f"n{n}.toml"
        configs[n].write_text("\n".join([
            f'"node.id" = {n}', '"process.roles" = "broker,controller"',
            f'"listeners" = "PLAINTEXT://127.0.0.1:{k},CONTROLLER://127.0.0.1:{ctl}"',
            f'"controller.quorum.bootstrap.servers" = "127.0.0.1:{c1}"',
            f'"log.dirs" = "{root / f"d{n}"}"']) + "\n")
    # Not formatted, no cluster.id: refused with a message saying what to do.
    refused = subprocess.run([strata_bin(), "serve", "--config", str(configs[2])], capture_output=True,
                             text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert refused.returncode != 0 and "strata format" in refused.stderr, refused.stderr
    out = cli("format", "--config", str(configs[1]), "--standalone", "--cluster-id", "dyn-test-1")
    assert out.returncode == 0 and "only voter" in out.stdout, out.stderr
    out = cli("format", "--config", str(configs[2]), "--cluster-id", "dyn-test-1")
    assert out.returncode == 0, out.stderr
    procs = []
    try:
        for n in (1, 2):
            log = open(root / f"n{n}.log", "ab")
            procs.append(subprocess.Popen([strata_bin(), "serve", "--config", str(configs[n])], stdout=log,
                                          stderr=log, stdin=subprocess.DEVNULL))
        b1 = f"127.0.0.1:{k1}"
        until("node 2 observes", lambda: describe(b1)["observers"] == {2}, timeout=60)
        out = cli("cluster", "add-voter", "--id", "2", "--bootstrap-server", f"127.0.0.1:{k2}")
        assert out.returncode == 0, out.stderr
        assert describe(b1)["voters"] == {1, 2}
        create(AdminClient({"bootstrap.servers": f"127.0.0.1:{k2}"}), "dyn", 2)
        for b in (b1, f"127.0.0.1:{k2}"):
            until(f"{b} sees dyn", lambda b=b: "dyn" in AdminClient({"bootstrap.servers": b})
                  .list_topics(timeout=10).topics)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
