"""Consumer-group member run as a subprocess by test_groups.py.

usage: consumer_proc.py BOOTSTRAP TOPIC GROUP OUT_FILE STOP_FILE [JSON_CONF] [MAX_SECONDS]

Subscribes to TOPIC in GROUP (confluent-kafka, manual commits), and for every batch it
gets: appends one line per record to OUT_FILE, flushes, then commits the offsets after the
batch synchronously (``commit(asynchronous=False)``), so a killed process may reprocess
what it wrote but not committed (at least once), never skip anything.

OUT_FILE lines (each flushed at once):

    R <partition> <offset> <key>     a processed record
    A <p,p,...>                      on_assign (partitions of TOPIC)
    V <p,p,...>                      on_revoke
    L <p,p,...>                      on_lost
    C <p>:<next>,...                 a successful commit
    E <text>                         a commit / consumer error
    X                                clean exit, after close()

It exits cleanly (``close()``: revoke + LeaveGroup) on SIGTERM, when STOP_FILE exists, or
after MAX_SECONDS (default 180).
"""

import json
import os
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition


def main() -> None:
    bootstrap, topic, group, out_file, stop_file = sys.argv[1:6]
    extra = json.loads(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[6] else {}
    max_s = float(sys.argv[7]) if len(sys.argv) > 7 else 180.0
    out = open(out_file, "a", buffering=1)
    stop = {"flag": False}

    def on_term(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_term)

    def parts(ps) -> str:
        return ",".join(str(p.partition) for p in ps if p.topic == topic)

    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "max.poll.interval.ms": 60000,
        "fetch.wait.max.ms": 100,
    }
    conf.update(extra)
    c = Consumer(conf)
    c.subscribe([topic],
                on_assign=lambda _c, ps: out.write(f"A {parts(ps)}\n"),
                on_revoke=lambda _c, ps: out.write(f"V {parts(ps)}\n"),
                on_lost=lambda _c, ps: out.write(f"L {parts(ps)}\n"))
    deadline = time.monotonic() + max_s
    while not stop["flag"] and not os.path.exists(stop_file) and time.monotonic() < deadline:
        msgs = c.consume(num_messages=500, timeout=0.2)
        nxt: dict[int, int] = {}
        lines = []
        for m in msgs:
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    out.write(f"E consume {m.error()}\n")
                continue
            key = m.key().decode() if m.key() is not None else "-"
            lines.append(f"R {m.partition()} {m.offset()} {key}\n")
            nxt[m.partition()] = max(nxt.get(m.partition(), 0), m.offset() + 1)
        if not lines:
            continue
        out.write("".join(lines))
        out.flush()
        try:
            c.commit(offsets=[TopicPartition(topic, p, o) for p, o in sorted(nxt.items())],
                     asynchronous=False)
            out.write("C " + ",".join(f"{p}:{o}" for p, o in sorted(nxt.items())) + "\n")
        except KafkaException as e:
            out.write(f"E commit {e.args[0]}\n")
    c.close()
    out.write("X\n")
    out.close()


if __name__ == "__main__":
    main()
