#!/usr/bin/env bash
# The tiered-storage benchmark behind BENCHMARKS.md, in one run against one S3-compatible
# server on loopback (localstack/s3-emulator.sh; moto by default):
#   1. raw object_store PUT/GET of 8 MiB objects (the ceiling for remote reads);
#   2. local-tier produce and consume of a topic that is not tiered (the reference);
#   3. produce to a tiered topic with 16 MiB segments, all uploaded;
#   4. upload lag at a steady 40 MB/s (segment sealed -> COPY_SEGMENT_FINISHED);
#   5. PUT-class requests per GiB uploaded with 512 MiB segments (and with 16 MiB ones);
#   6. cold historical consume (broker restarted, chunk cache empty), 4 MiB chunks
#      (the default) and chunks the size of a segment; GET-class requests per GiB read;
#   7. warm re-read of the same offsets from the chunk cache;
#   8. produce p99 at 20,000 records/s, alone and while a historical reader (1 MiB per
#      partition per fetch, the consumers' default) reads from the bucket: unthrottled,
#      with remote.log.manager.fetch.max.bytes.per.second = 100 MiB/s, with the S3
#      server and the remote-read thread pinned to a core of their own, and from the
#      warm chunk cache.
#
#   ./tests/bench/tiered.sh                       # 1 GiB per topic
#   BENCH_TIERED_MB=256 ./tests/bench/tiered.sh   # smaller
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
MB="${BENCH_TIERED_MB:-1024}"
RS=1000
N=$(( MB * 1000 ))
SEG=16777216
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
# The broker config: the bench's settings plus any extra lines given.
config() {
  cat > "$DIR/strata.toml" <<TOML
"remote.log.storage.url" = "$URL"
"remote.log.cache.memory.bytes" = $(( MB * 2 * 1048576 + 268435456 ))
"remote.log.cache.disk.bytes" = 0
"remote.log.fetch.read.ahead.chunks" = 8
TOML
  for line in "$@"; do echo "$line" >> "$DIR/strata.toml"; done
}
start_broker() {
  STRATA_LOG=warn "$STRATA" serve --listen "$B" --data-dir "$DIR/data" --config "$DIR/strata.toml" 2>>"$DIR/broker.log" &
  PID=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return; sleep 0.1; done
  echo "broker did not start" >&2; exit 1
}
# A fresh broker process (fresh counters), chunk cache emptied.
restart_broker() { stop_broker; rm -rf "$DIR/data/remote-cache" "$DIR/data/remote-tier-stats.json"; start_broker; }
stat() { python3 -c "import json,sys; print(json.load(open('$DIR/data/remote-tier-stats.json'))['$1'])"; }
run() { echo; echo "\$ ${*/#$STRATA/strata}"; "$@" 2>&1 | tail -1; }
# Waits until every sealed segment of the node is uploaded.
settle() {
  for _ in $(seq 1200); do
    [ -f "$DIR/data/remote-tier-stats.json" ] && [ "$(stat copy_lag_segments)" = 0 ] && [ "$(stat segments_copied)" -gt 0 ] && break
    sleep 0.25
  done
  sleep 1
}
py() { python3 -c "print($1)"; }

echo "# machine: $(nproc) cores; S3: $S3_EMULATOR on 127.0.0.1:$S3_PORT; $MB MB per topic ($N records of $RS B)"
echo; echo "## 1. raw object_store ceiling (8 MiB objects)"
run "$STRATA" perf object-store --url "$URL/raw" --object-bytes 8388608 --objects $(( MB / 8 < 16 ? 16 : MB / 8 )) --concurrency 8

config; start_broker
echo; echo "## 2. local tier reference"
"$STRATA" topics --bootstrap-server "$B" create local --config segment.bytes=$SEG >/dev/null
run "$STRATA" perf produce --bootstrap-server "$B" --topic local --num-records "$N" --record-size "$RS" --batch-size 1048576
run "$STRATA" perf consume --bootstrap-server "$B" --topic local --num-records "$N"

echo; echo "## 3. produce to a tiered topic (16 MiB segments, 32 MiB kept locally)"
"$STRATA" topics --bootstrap-server "$B" create hist --config segment.bytes=$SEG \
  --config remote.storage.enable=true --config local.retention.bytes=33554432 >/dev/null
run "$STRATA" perf produce --bootstrap-server "$B" --topic hist --num-records "$N" --record-size "$RS" --batch-size 1048576
settle
"$STRATA" topics --bootstrap-server "$B" describe hist | tail -1
copied=$(stat bytes_copied); puts=$(stat requests_put_class)
echo "uploaded $copied bytes in $(stat segments_copied) segments of 16 MiB: $(py "round($puts / ($copied / 2**30), 1)") PUT-class requests per GiB (incl. indexes and metadata)"

echo; echo "## 4. upload lag at a steady 40 MB/s (16 MiB segments)"
restart_broker
"$STRATA" topics --bootstrap-server "$B" create paced --config segment.bytes=$SEG \
  --config remote.storage.enable=true --config local.retention.bytes=33554432 >/dev/null
run "$STRATA" perf produce --bootstrap-server "$B" --topic paced --num-records 400000 --record-size "$RS" --throughput 40000 --batch-size 65536
settle
segs=$(stat segments_copied)
echo "$segs segments uploaded: upload lag p50 $(stat upload_lag_ms_p50) ms, p99 $(stat upload_lag_ms_p99) ms (sealed -> COPY_SEGMENT_FINISHED); upload time avg $(py "round($(stat copy_ms_total) / max($segs, 1), 1)") ms"

echo; echo "## 5. PUT-class requests per GiB uploaded, 512 MiB segments"
restart_broker
"$STRATA" topics --bootstrap-server "$B" create big --config segment.bytes=536870912 \
  --config remote.storage.enable=true --config local.retention.bytes=536870912 >/dev/null
run "$STRATA" perf produce --bootstrap-server "$B" --topic big --num-records 1200000 --record-size "$RS" --batch-size 1048576
settle
copied=$(stat bytes_copied); puts=$(stat requests_put_class)
echo "uploaded $copied bytes in $(stat segments_copied) segments: $puts PUT-class requests, $(py "round($puts / ($copied / 2**30), 1)") per GiB (incl. indexes and metadata)"

for chunk in 4194304 $SEG; do
  echo; echo "## 6. cold historical consume, $(( chunk / 1048576 )) MiB chunks (restart, chunk cache empty)"
  config "\"remote.log.fetch.chunk.bytes\" = $chunk"
  restart_broker
  run "$STRATA" perf consume --bootstrap-server "$B" --topic hist --num-records "$N"
  sleep 1
  fetched=$(stat bytes_fetched); gets=$(stat requests_get_class)
  echo "fetched $fetched bytes from the remote tier: $(py "round($gets / max($fetched, 1) * 2**30, 1)") GET-class requests per GiB read (incl. metadata); cache hit ratio $(stat cache_hit_ratio); remote fetch latency avg $(stat remote_fetch_latency_ms_avg) ms"
done

echo; echo "## 7. warm re-read (from the chunk cache)"
run "$STRATA" perf consume --bootstrap-server "$B" --topic hist --num-records "$N"

echo; echo "## 8. produce p99 at 20,000 records/s of $RS B, alone and with a cold historical reader"
# Unthrottled, the reader takes a few seconds: the produce is that long and starts after
# it. Throttled to 100 MiB/s it reads for ~10 s: the produce is 10 s. "pinned": the S3
# server and the broker's remote-read thread are pinned to the last core (what a
# separate S3 host and a core set aside for remote reads would give).
lat=0
for mode in unlimited throttled pinned warm; do
  limit=$([ "$mode" = throttled ] && echo 104857600 || true)
  config ${limit:+"\"remote.log.manager.fetch.max.bytes.per.second\" = $limit"}
  [ "$mode" = warm ] || restart_broker
  if [ "$mode" = pinned ]; then
    last=$(( $(nproc) - 1 ))
    taskset -a -p -c "$last" "$S3_EMULATOR_PID" >/dev/null
    for t in /proc/"$PID"/task/*; do
      grep -q strata-remote "$t/comm" && taskset -p -c "$last" "$(basename "$t")" >/dev/null
    done
  fi
  lat=$((lat + 1))
  records=$([ "$mode" = throttled ] && echo 200000 || echo 30000)
  echo; echo "### $mode${limit:+ (remote.log.manager.fetch.max.bytes.per.second = $limit)}"
  run "$STRATA" perf produce --bootstrap-server "$B" --topic "lat${lat}a" --num-records "$records" --record-size "$RS" --throughput 20000 --batch-size 16384
  ( for _ in $([ "$mode" = warm ] && echo 1 2 3 || echo 1); do
      "$STRATA" perf consume --bootstrap-server "$B" --topic hist --num-records "$N" --partition-fetch-bytes 1048576
    done >"$DIR/reader.out" 2>&1 ) &
  READER=$!
  sleep 0.3
  run "$STRATA" perf produce --bootstrap-server "$B" --topic "lat${lat}b" --num-records "$records" --record-size "$RS" --throughput 20000 --batch-size 16384
  wait "$READER" || true
  echo "(historical reader during that run: $(tail -1 "$DIR/reader.out"))"
  if [ "$mode" = pinned ]; then taskset -a -p -c "0-$last" "$S3_EMULATOR_PID" >/dev/null; fi
done
