"""Continuous producer run as a subprocess by test_durability.py.

usage: producer_proc.py BOOTSTRAP TOPIC PARTITIONS ACK_FILE [MAX_SECONDS]

Sends records with key b"<i>" and value value_for(i) round-robin over the partitions
until killed (or MAX_SECONDS / a record cap pass). Every acknowledged record is
appended to ACK_FILE as "<key> <partition> <offset>" and flushed at once, so the
file is the oracle of what the broker acknowledged.
"""

import sys
import time

from confluent_kafka import Producer

MAX_RECORDS = 2_000_000


def value_for(i: int) -> bytes:
    return (f"value-{i}-".encode() * (1 + i % 7))[:200]


def main() -> None:
    bootstrap, topic, parts, ack_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    max_s = float(sys.argv[5]) if len(sys.argv) > 5 else 120.0
    out = open(ack_file, "a", buffering=1)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2,
                  "enable.idempotence": False, "message.timeout.ms": 30000,
                  "retries": 0})

    def on_delivery(err, msg):
        if err is None:
            out.write(f"{msg.key().decode()} {msg.partition()} {msg.offset()}\n")

    deadline = time.monotonic() + max_s
    i = 0
    while i < MAX_RECORDS and time.monotonic() < deadline:
        try:
            p.produce(topic, key=str(i).encode(), value=value_for(i), partition=i % parts,
                      on_delivery=on_delivery)
            i += 1
        except BufferError:
            p.poll(0.01)
        p.poll(0)
        if i % 500 == 0:
            p.poll(0.005)
    p.flush(30)
    out.close()


if __name__ == "__main__":
    main()
