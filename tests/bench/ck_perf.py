"""confluent-kafka (librdkafka) producer and consumer throughput, as a reference client
for BENCHMARKS.md. Prints one summary line like `strata perf`.

    python ck_perf.py produce BOOTSTRAP TOPIC NUM SIZE ACKS
    python ck_perf.py consume BOOTSTRAP TOPIC NUM
"""
import os
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def produce(bootstrap, topic, num, size, acks):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "enable.idempotence": False,
        "compression.type": "none",
    })
    payload = os.urandom(size)
    lat = []
    sent = 0

    def cb(err, msg):
        if err is not None:
            raise SystemExit(f"delivery failed: {err}")
        lat.append(msg.latency())

    t0 = time.perf_counter()
    while sent < num:
        try:
            p.produce(topic, payload, on_delivery=cb)
            sent += 1
        except BufferError:
            p.poll(0.001)
        if sent % 10000 == 0:
            p.poll(0)
    p.flush(120)
    secs = time.perf_counter() - t0
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] * 1000 if lat else float("nan")
    print(f"{num} records sent, {num / secs:.1f} records/sec ({num * size / secs / 1e6:.2f} MB/sec), "
          f"{q(0.5):.2f} ms 50th, {q(0.99):.2f} ms 99th, {q(0.999):.2f} ms 99.9th (client-side latency incl. linger)")


def consume(bootstrap, topic, num):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "ck-perf",
        "enable.auto.commit": False,
        "fetch.max.bytes": 52428800,
        "max.partition.fetch.bytes": 10485760,
        # librdkafka stops fetching for fetch.queue.backoff.ms (1000 ms by default since
        # 2.1) whenever its local queue holds queued.min.messages; the Python loop drains
        # that in a fraction of a second, so the default measures mostly that pause.
        "fetch.queue.backoff.ms": 10,
    })
    md = c.list_topics(topic, timeout=10)
    parts = [TopicPartition(topic, p, 0) for p in md.topics[topic].partitions]
    c.assign(parts)
    n = 0
    nbytes = 0
    t0 = time.perf_counter()
    deadline = time.time() + 300
    while n < num and time.time() < deadline:
        msgs = c.consume(10000, 1.0)
        for m in msgs:
            if m.error():
                continue
            n += 1
            nbytes += len(m.value() or b"")
    secs = time.perf_counter() - t0
    c.close()
    print(f"{n} records read in {secs:.2f} s, {n / secs:.1f} records/sec ({nbytes / secs / 1e6:.2f} MB/sec)")


if __name__ == "__main__":
    if sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    else:
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]))
