#!/usr/bin/env bash
# The tiered-storage benchmark behind BENCHMARKS.md, in one run against one S3-compatible
# server on loopback (localstack/s3-emulator.sh; moto by default):
#   1. raw object_store PUT/GET of 8 MiB objects (the ceiling for remote reads);
#   2. local-tier consume of a topic that is not tiered (the reference for warm reads);
#   3. produce to a tiered topic; upload lag and PUT-class requests per GiB uploaded;
#   4. cold historical consume (broker restarted, chunk cache emptied) and GETs per GiB;
#   5. warm re-read of the same offsets from the cache;
#   6. produce p99 at a fixed rate, alone and while a cold historical reader runs.
#
#   ./tests/bench/tiered.sh                       # 1 GiB per topic
#   BENCH_TIERED_MB=256 ./tests/bench/tiered.sh   # smaller
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
MB="${BENCH_TIERED_MB:-1024}"
RS=1000
N=$(( MB * 1000 ))
PORT="${BENCH_PORT:-19193}"
S3_PORT="${BENCH_S3_PORT:-4598}"
B="127.0.0.1:$PORT"

cargo build --release -p strata >&2
STRATA="$TARGET_DIR/release/strata"
eval "$("$REPO/localstack/s3-emulator.sh" start "$S3_PORT" strata-bench)"
URL="s3://strata-bench/run-$$"
DIR="$(mktemp -d)"
PID=
stop_broker() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=; }
trap 'stop_broker || true; rm -rf "$DIR"; "$REPO/localstack/s3-emulator.sh" stop "$S3_PORT" >/dev/null 2>&1 || true' EXIT
cat > "$DIR/strata.toml" <<TOML
"remote.log.storage.url" = "$URL"
"remote.log.manager.task.interval.ms" = 200
"remote.log.cache.memory.bytes" = $(( MB * 2 * 1048576 + 268435456 ))
"remote.log.cache.disk.bytes" = 0
"remote.log.fetch.read.ahead.chunks" = ${BENCH_READ_AHEAD:-8}
"remote.log.fetch.chunk.bytes" = ${BENCH_CHUNK_BYTES:-4194304}
"remote.log.reader.threads" = ${BENCH_READER_THREADS:-8}
TOML
start_broker() {
  STRATA_LOG=warn "$STRATA" serve --listen "$B" --data-dir "$DIR/data" --config "$DIR/strata.toml" 2>>"$DIR/broker.log" &
  PID=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return; sleep 0.1; done
  echo "broker did not start" >&2; exit 1
}
stat() { python3 -c "import json,sys; print(json.load(open('$DIR/data/remote-tier-stats.json'))['$1'])"; }
run() { echo; echo "\$ ${*/#$STRATA/strata}"; "$@" 2>&1 | tail -1; }

echo "# machine: $(nproc) cores; S3: $S3_EMULATOR on 127.0.0.1:$S3_PORT; $MB MB per topic ($N records of $RS B)"
echo; echo "## 1. raw object_store ceiling (8 MiB objects)"
run "$STRATA" perf object-store --url "$URL/raw" --object-bytes 8388608 --objects $(( MB / 8 < 16 ? 16 : MB / 8 )) --concurrency 8

start_broker
echo; echo "## 2. local tier reference"
"$STRATA" topics --bootstrap-server "$B" create local --config segment.bytes=16777216 >/dev/null
run "$STRATA" perf produce --bootstrap-server "$B" --topic local --num-records "$N" --record-size "$RS" --batch-size 1048576
run "$STRATA" perf consume --bootstrap-server "$B" --topic local --num-records "$N"

echo; echo "## 3. produce to a tiered topic (16 MiB segments, 32 MiB kept locally)"
"$STRATA" topics --bootstrap-server "$B" create hist --config segment.bytes="${BENCH_SEGMENT_BYTES:-16777216}" \
  --config remote.storage.enable=true --config local.retention.bytes=33554432 >/dev/null
run "$STRATA" perf produce --bootstrap-server "$B" --topic hist --num-records "$N" --record-size "$RS" --batch-size 1048576
for _ in $(seq 600); do
  [ -f "$DIR/data/remote-tier-stats.json" ] && [ "$(stat copy_lag_segments)" = 0 ] && [ "$(stat segments_copied)" -gt 0 ] && break
  sleep 0.5
done
sleep 2
"$STRATA" topics --bootstrap-server "$B" describe hist | tail -1
copied=$(stat bytes_copied); puts=$(stat requests_put_class)
echo "uploaded $copied bytes in $(stat segments_copied) segments: upload lag p50 $(stat upload_lag_ms_p50) ms, p99 $(stat upload_lag_ms_p99) ms (segment sealed -> COPY_SEGMENT_FINISHED); $(python3 -c "print(round($puts / ($copied / 2**30), 1))") PUT-class requests per GiB uploaded (incl. metadata)"

echo; echo "## 4. cold historical consume (restart, chunk cache empty)"
stop_broker; rm -rf "$DIR/data/remote-cache" "$DIR/data/remote-tier-stats.json"; start_broker
gets0=0
run "$STRATA" perf consume --bootstrap-server "$B" --topic hist --num-records "$N"
sleep 1
fetched=$(stat bytes_fetched); gets=$(( $(stat requests_get_class) - gets0 ))
echo "fetched $fetched bytes from the remote tier: $(python3 -c "print(round($gets / max($fetched, 1) * 2**30, 1))") GET-class requests per GiB read; cache hit ratio $(stat cache_hit_ratio); remote fetch latency avg $(stat remote_fetch_latency_ms_avg) ms"

echo; echo "## 5. warm re-read (from the chunk cache)"
run "$STRATA" perf consume --bootstrap-server "$B" --topic hist --num-records "$N"

echo; echo "## 6. produce p99 at 20,000 records/s of $RS B, alone and with a cold historical reader"
run "$STRATA" perf produce --bootstrap-server "$B" --topic lat1 --num-records 200000 --record-size "$RS" --throughput 20000 --batch-size 16384
stop_broker; rm -rf "$DIR/data/remote-cache"; start_broker
( "$STRATA" perf consume --bootstrap-server "$B" --topic hist --num-records "$N" >"$DIR/reader.out" 2>&1 ) &
READER=$!
run "$STRATA" perf produce --bootstrap-server "$B" --topic lat2 --num-records 200000 --record-size "$RS" --throughput 20000 --batch-size 16384
wait "$READER" || true
echo "(historical reader during that run: $(tail -1 "$DIR/reader.out"))"
