#!/usr/bin/env bash
# cluster.sh — a Strata cluster on loopback: N combined broker + controller nodes, or
# C dedicated controllers and B dedicated brokers.
#
# Usage:
#   localstack/cluster.sh up --nodes N --dir DIR [--s3]
#   localstack/cluster.sh up --controllers C --brokers B --dir DIR [--s3]
#   localstack/cluster.sh down --dir DIR
#
# `up` writes one config per node (DIR/node-<id>/strata.toml: Kafka's property names,
# node.id, listeners with a CONTROLLER listener, controller.quorum.voters, one
# cluster.id), starts every node, waits until each says it is ready, and prints
#
#   node=<id> pid=<pid> kafka=127.0.0.1:<port> config=<file>     (one line per node)
#   bootstrap=<host:port,...>
#
# With dedicated roles, nodes 1..C are controllers (process.roles = controller, no Kafka
# listener) and print `node=<id> pid=<pid> controller=127.0.0.1:<port> config=<file>`;
# nodes C+1..C+B are brokers (process.roles = broker) and print the kafka= line; the
# bootstrap line lists the brokers.
#
# Other tools read these lines: keep the format. A stopped node is restarted with
# `strata serve --config <file>` (its log goes wherever you send it; `up` sends each
# to DIR/node-<id>/strata.log). `down` stops every node of DIR, including nodes restarted by hand
# (SIGTERM, then SIGKILL after 30 s).
#
# --s3 points every node's remote tier at the loopback S3 server of
# localstack/s3-emulator.sh (started here on $S3_PORT, default 4566, bucket
# $S3_BUCKET, default strata-cluster).
#
# The binary is $STRATA_BIN, else `strata` on PATH, else the release build under
# ${CARGO_TARGET_DIR:-target}.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

die() { echo "cluster.sh: $*" >&2; exit 1; }

strata_bin() {
    if [ -n "${STRATA_BIN:-}" ]; then echo "$STRATA_BIN"; return; fi
    if command -v strata >/dev/null 2>&1; then command -v strata; return; fi
    local t="${CARGO_TARGET_DIR:-$ROOT/target}/release/strata"
    [ -x "$t" ] || die "no strata binary: set STRATA_BIN, put strata on PATH, or cargo build --release"
    echo "$t"
}

# N free loopback ports (bound once to find them, then released), picked below the
# kernel's ephemeral range: a port from that range could be taken, between this check
# and the node's bind, as the source port of a connection the nodes already started
# make to each other.
free_ports() {
    python3 - "$1" <<'PY'
import random, socket, sys
low = 20000
try:
    low = max(1024, int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0]) - 12000)
except (OSError, ValueError):
    pass
high = low + 12000
socks, seen = [], set()
while len(socks) < int(sys.argv[1]):
    port = random.randrange(low, high)
    if port in seen:
        continue
    seen.add(port)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# A random cluster id in Kafka's form: 16 random bytes, unpadded base64url.
cluster_id() {
    python3 -c 'import base64, uuid; i = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="); print("A" + i[1:] if i.startswith("-") else i)'
}

up() {
    local nodes=3 dir="" s3=0 controllers=0 brokers=0
    while [ $# -gt 0 ]; do
        case "$1" in
            --nodes) nodes="$2"; shift 2 ;;
            --controllers) controllers="$2"; shift 2 ;;
            --brokers) brokers="$2"; shift 2 ;;
            --dir) dir="$2"; shift 2 ;;
            --s3) s3=1; shift ;;
            *) die "unknown option $1" ;;
        esac
    done
    [ -n "$dir" ] || die "up needs --dir DIR"
    [[ "$nodes" =~ ^[1-9][0-9]*$ ]] || die "--nodes must be a positive number"
    if [ "$controllers" != 0 ] || [ "$brokers" != 0 ]; then
        [[ "$controllers" =~ ^[1-9][0-9]*$ && "$brokers" =~ ^[1-9][0-9]*$ ]] \
            || die "--controllers and --brokers must both be positive numbers"
        nodes=$((controllers + brokers))
    fi
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    [ ! -e "$dir/cluster.pids" ] || die "$dir already holds a running cluster (cluster.sh down --dir $dir)"
    local bin; bin="$(strata_bin)"
    local -a ports; read -r -a ports <<<"$(free_ports $((nodes * 2)))"
    local id voters="" cid
    cid="$(cluster_id)"
    local nvoters=$nodes
    [ "$controllers" = 0 ] || nvoters=$controllers
    for ((id = 1; id <= nvoters; id++)); do
        voters+="${voters:+,}$id@127.0.0.1:${ports[$((nodes + id - 1))]}"
    done
    local s3env=""
    if [ "$s3" = 1 ]; then
        s3env="$("$HERE/s3-emulator.sh" start "${S3_PORT:-4566}" "${S3_BUCKET:-strata-cluster}")"
        eval "$s3env"
    fi
    : >"$dir/cluster.pids"
    for ((id = 1; id <= nodes; id++)); do
        local nd="$dir/node-$id" kafka="${ports[$((id - 1))]}" ctl="${ports[$((nodes + id - 1))]}"
        local roles="broker,controller"
        if [ "$controllers" != 0 ]; then
            if [ "$id" -le "$controllers" ]; then roles="controller"; else roles="broker"; fi
        fi
        mkdir -p "$nd"
        {
            echo "\"node.id\" = $id"
            echo "\"process.roles\" = \"$roles\""
            if [ "$roles" = controller ]; then
                echo "\"listeners\" = \"CONTROLLER://127.0.0.1:$ctl\""
            else
                echo "\"listeners\" = \"PLAINTEXT://127.0.0.1:$kafka,CONTROLLER://127.0.0.1:$ctl\""
                echo "\"advertised.listeners\" = \"PLAINTEXT://127.0.0.1:$kafka\""
            fi
            echo "\"controller.listener.names\" = \"CONTROLLER\""
            echo "\"controller.quorum.voters\" = \"$voters\""
            echo "\"cluster.id\" = \"$cid\""
            echo "\"log.dirs\" = \"$nd/data\""
            if [ "$s3" = 1 ]; then
                echo "\"remote.log.storage.system.enable\" = true"
                echo "\"remote.log.storage.url\" = \"s3://${S3_EMULATOR_BUCKET}/node-data\""
            fi
        } >"$nd/strata.toml"
        STRATA_LOG="${STRATA_LOG:-info}" nohup "$bin" serve --config "$nd/strata.toml" \
            >"$nd/strata.log" 2>&1 </dev/null &
        if [ "$roles" = controller ]; then
            echo "$id $! - $nd/strata.toml $ctl" >>"$dir/cluster.pids"
        else
            echo "$id $! $kafka $nd/strata.toml" >>"$dir/cluster.pids"
        fi
    done
    local deadline=$((SECONDS + ${CLUSTER_WAIT:-90}))
    local bootstrap=""
    while read -r id pid kafka config ctl; do
        while ! grep -q "strata is ready" "$dir/node-$id/strata.log" 2>/dev/null; do
            kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/node-$id/strata.log" >&2; die "node $id exited during start-up"; }
            [ $SECONDS -lt $deadline ] || { tail -20 "$dir/node-$id/strata.log" >&2; die "node $id not ready after ${CLUSTER_WAIT:-90} s"; }
            sleep 0.2
        done
        if [ "$kafka" = - ]; then
            echo "node=$id pid=$pid controller=127.0.0.1:$ctl config=$config"
        else
            echo "node=$id pid=$pid kafka=127.0.0.1:$kafka config=$config"
            bootstrap+="${bootstrap:+,}127.0.0.1:$kafka"
        fi
    done <"$dir/cluster.pids"
    echo "bootstrap=$bootstrap"
}

down() {
    local dir=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --dir) dir="$2"; shift 2 ;;
            *) die "unknown option $1" ;;
        esac
    done
    [ -n "$dir" ] || die "down needs --dir DIR"
    [ -d "$dir" ] || { echo "cluster.sh: no cluster in $dir" >&2; return 0; }
    dir="$(cd "$dir" && pwd)"
    # Every process running `strata serve --config DIR/node-*/…`: the ones `up`
    # started and any node restarted by hand since.
    local -a pids=()
    local p cmd
    for p in /proc/[0-9]*; do
        cmd="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null || true)"
        case "$cmd" in
            *"serve --config $dir/node-"*) kill -TERM "${p#/proc/}" 2>/dev/null || true; pids+=("${p#/proc/}") ;;
        esac
    done
    local deadline=$((SECONDS + 30))
    for pid in "${pids[@]+"${pids[@]}"}"; do
        while kill -0 "$pid" 2>/dev/null; do
            if [ $SECONDS -ge $deadline ]; then kill -KILL "$pid" 2>/dev/null || true; break; fi
            sleep 0.2
        done
    done
    rm -f "$dir/cluster.pids"
}

case "${1:-}" in
    up) shift; up "$@" ;;
    down) shift; down "$@" ;;
    *) sed -n '2,30p' "$0" >&2; exit 2 ;;
esac
