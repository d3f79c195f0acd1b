"""Cluster benchmarks for BENCHMARKS.md: a 3-node cluster started by
localstack/cluster.sh, measured the way a client meets it.

    target/test-venv/bin/python tests/bench/cluster.py [TRIALS]

1. Controller failover: kill -9 of the active controller, then CreateTopics (v4, on
   the wire) sent to a survivor in a loop; the time from the kill to the first
   CreateTopics answered without error (committed by the new controller). The killed node is restarted between trials.
2. CreateTopics answered -> visible in Metadata on every node (polled every 2 ms).
3. CreateTopics of one 1,000-partition topic (RF 1), as a client sees it.
4. Idle: CPU (user+sys from /proc/<pid>/stat) and RSS per node over 30 s with no clients.

STRATA_BIN picks the binary (default: the release build under CARGO_TARGET_DIR).
"""
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests/e2e"))
import kafka_wire as kw  # noqa: E402
BIN = os.environ.get("STRATA_BIN") or str(
    Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "strata")


def up(root: Path) -> dict:
    env = dict(os.environ, STRATA_BIN=BIN, STRATA_LOG="info")  # cluster.sh waits for "ready"
    out = subprocess.run([str(REPO / "localstack/cluster.sh"), "up", "--nodes", "3", "--dir", str(root)],
                         env=env, capture_output=True, text=True, timeout=180, check=True)
    nodes = {}
    for line in out.stdout.splitlines():
        f = dict(x.split("=", 1) for x in line.split())
        if "node" in f:
            nodes[int(f["node"])] = {"pid": int(f["pid"]), "kafka": f["kafka"], "config": f["config"]}
    return nodes


def admin(addr: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": addr})


def controller(nodes: dict) -> int:
    for n in nodes.values():
        try:
            cid = admin(n["kafka"]).list_topics(timeout=5).controller_id
            if cid >= 0:
                return cid
        except Exception:
            pass
    raise RuntimeError("no controller")


def create(a: AdminClient, name: str, partitions: int = 1) -> bool:
    try:
        a.create_topics([NewTopic(name, partitions, 1)], request_timeout=5)[name].result(6)
        return True
    except Exception as e:
        return "TOPIC_ALREADY_EXISTS" in str(e)


def create_on(addr: str, name: str) -> bool:
    """CreateTopics v4 sent to `addr` itself (which forwards it to the active
    controller), as any client's request to that broker: True once it is committed."""
    body = (kw.i32(1) + kw.string(name) + kw.i32(1) + kw.i16(1) + kw.i32(0) + kw.i32(0)
            + kw.i32(5000) + kw.i8(0))
    try:
        with kw.Connection.to(addr, timeout=6) as c:
            r = c.request(19, 4, body)
            r.i32()  # throttle
            assert r.i32() == 1
            r.string()
            code = r.i16()
            return code in (0, 36)  # NONE, TOPIC_ALREADY_EXISTS
    except (OSError, ValueError):
        return False


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    root = Path(tempfile.mkdtemp(prefix="strata-bench-cluster-"))
    nodes = up(root)
    try:
        # 4. Idle first, before any client has connected.
        time.sleep(5)
        before = {n: cpu_seconds(v["pid"]) for n, v in nodes.items()}
        time.sleep(30)
        idle = {n: (cpu_seconds(v["pid"]) - before[n]) / 30 * 100 for n, v in nodes.items()}
        rss = {n: rss_mib(v["pid"]) for n, v in nodes.items()}
        print(f"idle 3-node cluster: CPU per node {', '.join(f'{c:.2f}%' for c in idle.values())}; "
              f"RSS per node {', '.join(f'{r:.0f} MiB' for r in rss.values())}")

        # 2. Create -> visible everywhere.
        visible = []
        for i in range(trials):
            name = f"vis-{i}"
            assert create(admin(nodes[1]["kafka"]), name)
            t0 = time.monotonic()
            for n in nodes.values():
                while name not in admin(n["kafka"]).list_topics(timeout=5).topics:
                    time.sleep(0.002)
            visible.append((time.monotonic() - t0) * 1000)
        print(f"CreateTopics answered -> visible on all 3 nodes ({trials} topics): "
              f"p50 {pct(visible, 50):.1f} ms, p99 {pct(visible, 99):.1f} ms")

        # 3. One topic of 1,000 partitions.
        t0 = time.monotonic()
        assert create(admin(nodes[1]["kafka"]), "wide", 1000)
        print(f"CreateTopics of 1,000 partitions: {(time.monotonic() - t0) * 1000:.0f} ms")

        # 1. Failover.
        failover = []
        for i in range(trials):
            victim = controller(nodes)
            survivor = next(n for n in nodes if n != victim)
            os.kill(nodes[victim]["pid"], signal.SIGKILL)
            t0 = time.monotonic()
            # Sent straight to a survivor: librdkafka's admin client keeps sending to the
            # controller it last learnt (the dead one) until its 5-minute metadata refresh.
            while not create_on(nodes[survivor]["kafka"], f"failover-{i}"):
                time.sleep(0.01)
            failover.append(time.monotonic() - t0)
            log = open(Path(nodes[victim]["config"]).parent / "bench.restart.log", "ab")
            p = subprocess.Popen([BIN, "serve", "--config", nodes[victim]["config"]], stdout=log,
                                 stderr=log, stdin=subprocess.DEVNULL, env=dict(os.environ, STRATA_LOG="warn"))
            nodes[victim]["pid"] = p.pid
            # Back and listed before the next trial.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    md = admin(nodes[victim]["kafka"]).list_topics(timeout=2)
                    if victim in md.brokers:
                        break
                except Exception:
                    pass
                time.sleep(0.2)
        print(f"controller failover, kill -9 -> first CreateTopics committed ({trials} trials): "
              f"p50 {statistics.median(failover):.2f} s, max {max(failover):.2f} s")
    finally:
        subprocess.run([str(REPO / "localstack/cluster.sh"), "down", "--dir", str(root)], timeout=120)


if __name__ == "__main__":
    main()
