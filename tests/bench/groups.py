"""Consumer-group and compaction benchmarks for BENCHMARKS.md (issue: consumer groups,
committed offsets and log compaction). Starts its own release broker on loopback.

    target/test-venv/bin/python tests/bench/groups.py [STRATA_BIN]

1. Rebalance: 10 confluent-kafka members subscribe to a 100-partition topic; the time
   from the last member's subscribe() to every member having consumed a record from
   each of its assigned partitions (group.initial.rebalance.delay.ms = 0 on the broker).
2. OffsetCommit throughput: `strata perf commit` (pipelined, 5 in flight).
3. Cleaner throughput: ~200 MB of updates over 10,000 keys to a compacted topic; the
   broker's own "cleaned" log lines give bytes read and elapsed time.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

STRATA = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/strata")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_broker(workdir):
    port = free_port()
    conf = os.path.join(workdir, "strata.toml")
    with open(conf, "w") as f:
        f.write('"group.initial.rebalance.delay.ms" = 0\n"log.cleaner.backoff.ms" = 200\n')
    log = open(os.path.join(workdir, "broker.log"), "w")
    p = subprocess.Popen([STRATA, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                          os.path.join(workdir, "data"), "--config", conf],
                         stderr=log, stdout=log, env={**os.environ, "STRATA_LOG": "info"})
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return p, f"127.0.0.1:{port}"


def rebalance(b):
    a = AdminClient({"bootstrap.servers": b})
    for f in a.create_topics([NewTopic("rb", 100, 1)]).values():
        f.result()
    p = Producer({"bootstrap.servers": b, "linger.ms": 5})
    for part in range(100):
        for _ in range(3):
            p.produce("rb", b"x", partition=part)
    p.flush()
    members = 10
    done = [threading.Event() for _ in range(members)]
    stop = threading.Event()
    t_last = [0.0]
    ready = threading.Barrier(members + 1)

    def member(i):
        c = Consumer({"bootstrap.servers": b, "group.id": "bench-rb", "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "session.timeout.ms": 10000,
                      "heartbeat.interval.ms": 500})
        seen = set()
        assigned = [None]

        def on_assign(consumer, parts):
            assigned[0] = {tp.partition for tp in parts}
        ready.wait()
        c.subscribe(["rb"], on_assign=on_assign)
        while not stop.is_set():
            m = c.poll(0.05)
            if m is not None and not m.error():
                seen.add(m.partition())
            if assigned[0] is not None and assigned[0] and assigned[0] <= seen:
                done[i].set()
        c.close()

    threads = [threading.Thread(target=member, args=(i,)) for i in range(members)]
    for t in threads:
        t.start()
    ready.wait()
    t_last[0] = time.perf_counter()
    for e in done:
        e.wait(120)
    took = time.perf_counter() - t_last[0]
    stop.set()
    for t in threads:
        t.join()
    print(f"rebalance: 10 members x 100 partitions, last subscribe -> all consuming: {took:.3f} s")


def commits(b):
    out = subprocess.run([STRATA, "perf", "commit", "--bootstrap-server", b, "--topic", "rb",
                          "--num-records", "200000"], capture_output=True, text=True, check=True)
    print("offset commits:", out.stdout.strip().splitlines()[-1])


def cleaner(b, workdir):
    a = AdminClient({"bootstrap.servers": b})
    for f in a.create_topics([NewTopic("cl", 1, 1, config={
            "cleanup.policy": "compact", "segment.bytes": str(64 * 1024 * 1024),
            "min.cleanable.dirty.ratio": "0.5"})]).values():
        f.result()
    p = Producer({"bootstrap.servers": b, "linger.ms": 20, "batch.size": 1000000,
                  "compression.type": "none", "queue.buffering.max.kbytes": 1048576})
    value = os.urandom(1000)
    n = 200_000
    for i in range(n):
        while True:
            try:
                p.produce("cl", key=f"key-{i % 10000}".encode(), value=value)
                break
            except BufferError:
                p.poll(0.01)
    p.flush()
    deadline = time.time() + 180
    log = os.path.join(workdir, "broker.log")
    while time.time() < deadline:
        lines = [l for l in open(log) if "cleaned" in l and "tp=cl-0" in l]
        if lines:
            break
        time.sleep(0.5)
    total_read = total_ms = 0
    for l in lines:
        r = re.search(r"read=(\d+)", l)
        e = re.search(r"elapsed_ms=(\d+)", l)
        if r and e:
            total_read += int(r.group(1))
            total_ms += int(e.group(1))
    mbps = total_read / 1e6 / max(total_ms / 1000, 1e-9)
    print(f"cleaner: {total_read / 1e6:.1f} MB of log read in {total_ms} ms = {mbps:.0f} MB/s "
          f"({n} records of 1000 B over 10,000 keys)")


def main():
    workdir = tempfile.mkdtemp(prefix="strata-bench-groups-")
    proc, b = start_broker(workdir)
    try:
        rebalance(b)
        commits(b)
        cleaner(b, workdir)
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
