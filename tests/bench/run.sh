#!/usr/bin/env bash
# The benchmark behind BENCHMARKS.md: starts a release `strata serve` on loopback with a
# temp data dir and runs the produce/consume matrix with `strata perf` and with a
# confluent-kafka (librdkafka) client, printing each command, its summary line and the
# broker's user+sys CPU seconds for it, and the broker's peak RSS (VmHWM) at the end.
#
#   ./tests/bench/run.sh            # full matrix (several minutes)
#   BENCH_RECORDS=200000 ./tests/bench/run.sh   # smaller
#
# Needs the venv that tests/run.sh builds (confluent-kafka); run that once first.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
VENV="${STRATA_TEST_VENV:-$TARGET_DIR/test-venv}"
N="${BENCH_RECORDS:-1000000}"
PORT="${BENCH_PORT:-19192}"
B="127.0.0.1:$PORT"

cargo build --release -p strata >&2
STRATA="$TARGET_DIR/release/strata"
DIR="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
STRATA_LOG=warn "$STRATA" serve --listen "$B" --data-dir "$DIR/data" 2>"$DIR/broker.log" &
PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

# The broker's user+sys CPU time so far, in seconds (fields 14 and 15 of /proc/<pid>/stat).
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$PID/stat"; }
# Runs one client command, printing it, its summary line and the broker's CPU time for it.
run() {
  echo; echo "\$ $*"
  local before after
  before=$(cpu)
  "$@" | tail -1
  after=$(cpu)
  echo "broker CPU: $(awk -v a="$before" -v b="$after" 'BEGIN { printf "%.2f", b - a }') s"
}
rss() { awk '/VmHWM/ {printf "%.0f MiB\n", $2/1024}' "/proc/$PID/status"; }

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); records: $N"
for acks in 1 -1; do
  for parts in 1 8; do
    t="p100-a${acks/-/m}-n$parts"
    run "$STRATA" perf produce --bootstrap-server "$B" --topic "$t" --partitions "$parts" --num-records "$N" --record-size 100 --acks "$acks"
  done
done
# the same producer settings as the confluent-kafka rows below (batch.size 1 MB, linger 5 ms)
run "$STRATA" perf produce --bootstrap-server "$B" --topic p100-big --partitions 1 --num-records "$N" --record-size 100 --acks 1 --batch-size 1000000 --linger-ms 5
run "$STRATA" perf consume --bootstrap-server "$B" --topic p100-a1-n1 --num-records "$N"
run "$STRATA" perf consume --bootstrap-server "$B" --topic p100-a1-n8 --num-records "$N"
echo; echo "# disk reference: sequential write of 3 GB with one fdatasync, in the data directory's file system"
dd if=/dev/zero of="$DIR/dd.ref" bs=1M count=3000 conv=fdatasync 2>&1 | tail -1; rm -f "$DIR/dd.ref"
for size in 1024 16384; do
  n=$(( N * 100 / size * 10 )); [ "$n" -gt "$N" ] && n=$N
  run "$STRATA" perf produce --bootstrap-server "$B" --topic "s$size" --partitions 1 --num-records "$n" --record-size "$size" --acks 1 --batch-size 1048576
  run "$STRATA" perf consume --bootstrap-server "$B" --topic "s$size" --num-records "$n"
done
echo; echo "# latency at a fixed rate (50,000 records/s, acks=1)"
run "$STRATA" perf produce --bootstrap-server "$B" --topic lat --partitions 1 --num-records 500000 --record-size 100 --acks 1 --throughput 50000 --batch-size 1000
echo; echo "# confluent-kafka $("$VENV/bin/python" -c 'import confluent_kafka as c; print(c.version()[0], "librdkafka", c.libversion()[0])')"
"$STRATA" topics --bootstrap-server "$B" create ck1 --partitions 1 >/dev/null
"$STRATA" topics --bootstrap-server "$B" create ck8 --partitions 8 >/dev/null
for acks in 1 all; do
  run "$VENV/bin/python" "$REPO/tests/bench/ck_perf.py" produce "$B" ck1 "$N" 100 "$acks"
done
run "$VENV/bin/python" "$REPO/tests/bench/ck_perf.py" produce "$B" ck8 "$N" 100 1
run "$VENV/bin/python" "$REPO/tests/bench/ck_perf.py" consume "$B" ck1 "$N"
echo; echo "broker peak RSS (VmHWM): $(rss)"
