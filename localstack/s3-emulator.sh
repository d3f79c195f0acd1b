#!/usr/bin/env bash
# s3-emulator.sh — install (if missing) and run a local S3-compatible server on 127.0.0.1.
#
# Usage:
#   eval "$(localstack/s3-emulator.sh start PORT BUCKET)"   # start (or reuse) + create bucket
#   localstack/s3-emulator.sh stop PORT                      # stop the one started on PORT
#   localstack/s3-emulator.sh status PORT                    # exit 0 if running and answering
#   localstack/s3-emulator.sh install                        # only install the chosen emulator
#   (the short form `s3-emulator.sh PORT BUCKET` means `start PORT BUCKET`)
#
# stdout of `start` is only `export ...` lines (safe to eval); progress goes to stderr:
#   AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_DEFAULT_REGION
#   AWS_ALLOW_HTTP (object_store's AmazonS3Builder::from_env needs it for http://)
#   S3_EMULATOR S3_EMULATOR_BUCKET S3_EMULATOR_PID S3_EMULATOR_PIDFILE
#
# Environment knobs:
#   S3_EMULATOR=moto (default) | s3s | localstack
#       moto       PyPI moto[server] in a venv: ~1 min install, ~2 s start, in-memory,
#                  multipart, range GET, If-None-Match/If-Match conditional PUT, ListObjectsV2.
#                  Does not check signatures (any credentials work).
#       s3s        crates.io s3s-fs (Rust, files on disk, checks SigV4): `cargo install`
#                  (2.5-8 min on 2 cores), 0.2 s start. As moto, minus ListMultipartUploads.
#       localstack PyPI localstack-core 4.13.1 run on the host (no docker): ~4 min install,
#                  ~2 s start, ~500 MB RSS. Newer localstack-core needs Python >= 3.12.
#   S3_EMULATOR_HOME  where installs go   (default ${XDG_CACHE_HOME:-$HOME/.cache}/s3-emulator)
#   S3_EMULATOR_STATE base dir for pid/log/data; uses $S3_EMULATOR_STATE/s3-emulator-$PORT
#                     (default ${TMPDIR:-/tmp})
#   S3_EMULATOR_WAIT  seconds to wait for the server to answer (default 90)
#   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION override test/test/us-east-1
#
# Only ever binds 127.0.0.1. `stop` signals only the PID recorded in its own pid file,
# after checking that the PID still runs the emulator.
set -euo pipefail

EMU="${S3_EMULATOR:-moto}"
HOME_DIR="${S3_EMULATOR_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/s3-emulator}"
WAIT="${S3_EMULATOR_WAIT:-90}"
AK="${AWS_ACCESS_KEY_ID:-test}"
SK="${AWS_SECRET_ACCESS_KEY:-test}"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
HOST=127.0.0.1

# Tested versions (override at your own risk).
MOTO_SPEC="${S3_EMULATOR_MOTO_SPEC:-moto[server]==5.2.5}"
S3S_VERSION="${S3_EMULATOR_S3S_VERSION:-0.14.1}"   # 0.15+ may need a newer rustc than 1.95
LOCALSTACK_SPECS=("localstack-core[runtime]==4.13.1" "cbor2<6" "pyopenssl<25" "cryptography<45" "service_identity<26")

log() { echo "s3-emulator: $*" >&2; }
die() { log "error: $*"; exit 1; }

state_dir() { echo "${S3_EMULATOR_STATE:-${TMPDIR:-/tmp}}/s3-emulator-$1"; }

need_curl() {
  command -v curl >/dev/null 2>&1 && return 0
  log "installing curl (apt-get)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl; } >&2 \
    || die "curl is required"
}

py() { command -v python3 >/dev/null 2>&1 && echo python3 || die "python3 not found"; }

make_venv() { # dir
  local dir="$1"
  if [ ! -x "$dir/bin/python" ]; then
    "$(py)" -m venv "$dir" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$dir/bin/python" -m pip install -q --upgrade pip >&2 || true
  fi
}

install_moto() {
  local venv="$HOME_DIR/moto-venv" stamp="$HOME_DIR/moto-venv/.spec"
  if [ -x "$venv/bin/moto_server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$MOTO_SPEC" ]; then return 0; fi
  log "installing $MOTO_SPEC into $venv (about a minute)"
  mkdir -p "$HOME_DIR"; make_venv "$venv"
  "$venv/bin/python" -m pip install -q "$MOTO_SPEC" >&2 || die "pip install $MOTO_SPEC failed"
  echo "$MOTO_SPEC" > "$stamp"
}

install_s3s() {
  local root="$HOME_DIR/s3s-fs-$S3S_VERSION"
  if [ -x "$root/bin/s3s-fs" ]; then return 0; fi
  command -v cargo >/dev/null 2>&1 || die "cargo not found (needed for S3_EMULATOR=s3s)"
  log "cargo install s3s-fs $S3S_VERSION into $root (several minutes on 2 cores)"
  mkdir -p "$HOME_DIR"
  cargo install --locked --root "$root" s3s-fs --version "$S3S_VERSION" --features binary >&2 \
    || die "cargo install s3s-fs failed"
}

install_localstack() {
  local venv="$HOME_DIR/localstack-venv" stamp="$HOME_DIR/localstack-venv/.spec"
  if [ "$(cat "$stamp" 2>/dev/null)" = "${LOCALSTACK_SPECS[*]}" ]; then return 0; fi
  log "installing ${LOCALSTACK_SPECS[*]} into $venv (about 4 minutes)"
  mkdir -p "$HOME_DIR"; make_venv "$venv"
  "$venv/bin/python" -m pip install -q "${LOCALSTACK_SPECS[@]}" >&2 || die "pip install localstack-core failed"
  "$venv/bin/python" -c 'import localstack.aws.components' >&2 \
    || die "localstack-core installed but does not import (dependency drift?)"
  echo "${LOCALSTACK_SPECS[*]}" > "$stamp"
}

install_emu() {
  case "$EMU" in
    moto) install_moto ;;
    s3s) install_s3s ;;
    localstack) install_localstack ;;
    *) die "unknown S3_EMULATOR=$EMU (moto | s3s | localstack)" ;;
  esac
}

# does anything answer HTTP on the port?
answers() { local c; c=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$HOST:$1/" 2>/dev/null || true); [ -n "$c" ] && [ "$c" != "000" ]; }

pid_alive() { # pid -> true if the process exists and looks like one of our emulators
  local pid="$1" cmd
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)
  case "$cmd" in *moto_server*|*s3s-fs*|*localstack.runtime.main*) return 0 ;; *) return 1 ;; esac
}

sigv4_curl() { # method url  (signed request; empty body)
  curl -s -o /dev/null -m 10 -w '%{http_code}' --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
    -X "$1" "$2" 2>/dev/null || true
}

create_bucket() { # port bucket
  local url="http://$HOST:$1/$2" code
  code=$(sigv4_curl PUT "$url")
  case "$code" in 200|409) ;; *) die "create bucket $2 -> HTTP $code" ;; esac
  code=$(sigv4_curl HEAD "$url")
  [ "$code" = 200 ] || die "bucket $2 not there after create (HEAD -> HTTP $code)"
}

print_exports() { # port bucket pid pidfile
  cat <<EOF
export AWS_ENDPOINT_URL=http://$HOST:$1
export AWS_ACCESS_KEY_ID=$AK
export AWS_SECRET_ACCESS_KEY=$SK
export AWS_REGION=$REGION
export AWS_DEFAULT_REGION=$REGION
export AWS_ALLOW_HTTP=true
export S3_EMULATOR=$EMU
export S3_EMULATOR_BUCKET=$2
export S3_EMULATOR_PID=$3
export S3_EMULATOR_PIDFILE=$4
EOF
}

cmd_start() {
  local port="${1:?usage: start PORT BUCKET}" bucket="${2:?usage: start PORT BUCKET}"
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] && [ "$port" -le 65535 ] || die "bad port $port"
  [[ "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || die "bad bucket name '$bucket' (3-63 chars, a-z 0-9 . -)"
  need_curl
  local st; st=$(state_dir "$port"); mkdir -p "$st"
  local pidfile="$st/pid" pid=""
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if pid_alive "$pid" && answers "$port"; then
    EMU=$(cat "$st/kind" 2>/dev/null || echo "$EMU")
    log "reusing $EMU (pid $pid) on $HOST:$port"
  else
    rm -f "$pidfile"
    answers "$port" && die "something else already answers on $HOST:$port"
    install_emu
    local t0=$SECONDS
    case "$EMU" in
      moto)
        nohup "$HOME_DIR/moto-venv/bin/moto_server" -H "$HOST" -p "$port" \
          </dev/null >"$st/log" 2>&1 &
        pid=$! ;;
      s3s)
        mkdir -p "$st/data"
        nohup "$HOME_DIR/s3s-fs-$S3S_VERSION/bin/s3s-fs" --host "$HOST" --port "$port" \
          --access-key "$AK" --secret-key "$SK" "$st/data" </dev/null >"$st/log" 2>&1 &
        pid=$! ;;
      localstack)
        mkdir -p "$st/data"
        # GATEWAY_SERVER=hypercorn: the default twisted gateway ignores the host and binds 0.0.0.0
        env GATEWAY_SERVER=hypercorn GATEWAY_LISTEN="$HOST:$port" LOCALSTACK_HOST="$HOST:$port" \
          SERVICES=s3 DNS_ADDRESS=0 DISABLE_EVENTS=1 PERSISTENCE=0 \
          LOCALSTACK_VOLUME_DIR="$st/data" FILESYSTEM_ROOT="$st/data/fs" \
          nohup "$HOME_DIR/localstack-venv/bin/python" -m localstack.runtime.main \
          </dev/null >"$st/log" 2>&1 &
        pid=$! ;;
    esac
    echo "$pid" > "$pidfile"; echo "$EMU" > "$st/kind"
    local deadline=$((SECONDS + WAIT))
    until answers "$port"; do
      kill -0 "$pid" 2>/dev/null || { tail -20 "$st/log" >&2; rm -f "$pidfile"; die "$EMU exited during startup (log: $st/log)"; }
      [ $SECONDS -lt $deadline ] || { kill "$pid" 2>/dev/null || true; rm -f "$pidfile"; die "$EMU did not answer on $HOST:$port within ${WAIT}s (log: $st/log)"; }
      sleep 0.2
    done
    if [ "$EMU" = localstack ]; then # the gateway answers before S3 is ready
      until curl -s -m 2 "http://$HOST:$port/_localstack/health" | grep -q '"s3": "\(available\|running\)"'; do
        [ $SECONDS -lt $deadline ] || die "localstack S3 not ready within ${WAIT}s"
        sleep 0.2
      done
    fi
    log "$EMU started (pid $pid) on $HOST:$port in $((SECONDS - t0))s; log: $st/log"
  fi
  create_bucket "$port" "$bucket"
  print_exports "$port" "$bucket" "$pid" "$pidfile"
}

cmd_stop() {
  local port="${1:?usage: stop PORT}" st pid
  st=$(state_dir "$port"); pid=$(cat "$st/pid" 2>/dev/null || true)
  if [ -z "$pid" ]; then log "nothing recorded for port $port"; return 0; fi
  if pid_alive "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "pid $pid ignored SIGTERM; sending SIGKILL"; kill -9 "$pid" 2>/dev/null || true; fi
    log "stopped pid $pid (port $port)"
  else
    log "pid $pid (port $port) is not running"
  fi
  rm -f "$st/pid"
}

cmd_status() {
  local port="${1:?usage: status PORT}" st pid
  st=$(state_dir "$port"); pid=$(cat "$st/pid" 2>/dev/null || true)
  if pid_alive "$pid" && answers "$port"; then echo "running $(cat "$st/kind" 2>/dev/null) pid $pid on $HOST:$port"; return 0; fi
  echo "not running on $HOST:$port"; return 1
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  install) install_emu ;;
  ''|-h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) if [[ "$1" =~ ^[0-9]+$ ]]; then cmd_start "$@"; else die "unknown command $1 (start|stop|status|install)"; fi ;;
esac
