#!/usr/bin/env bash
# The whole test suite of Strata: lint, Rust tests, release build, end-to-end tests.
#
#   ./tests/run.sh                 # everything
#   ./tests/run.sh -k kcat         # extra args go to pytest (here: only the kcat tests)
#
# Environment:
#   STRATA_SKIP_LINT=1          skip cargo fmt --check and cargo clippy
#   STRATA_SKIP_CARGO_TESTS=1   skip cargo test
#   STRATA_SKIP_E2E=1           skip the pytest end-to-end suite
#   STRATA_SKIP_S3=1            run the remote-tier conformance suite without the S3 server
#   STRATA_TEST_VENV=DIR        where the Python venv lives (default: <target>/test-venv)
#   CARGO_TARGET_DIR            honoured for the binary and the default venv location
#   STRATA_KEEP_TMP=1           keep the brokers' temp dirs (data + logs) after the run
#   CI=true                     a test missing a prerequisite (kcat, the S3 emulator) fails
#                               instead of skipping, and any skipped/ignored test fails the run
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
VENV="${STRATA_TEST_VENV:-$TARGET_DIR/test-venv}"
REQS="$REPO/tests/requirements.txt"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive

SECONDS=0
section() { printf '\n==== %s [%dm%02ds] ====\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }
die() { echo "run.sh: $*" >&2; exit 1; }
case "$(printf %s "${CI:-}" | tr '[:upper:]' '[:lower:]')" in 1|true|yes) CI_RUN=1 ;; *) CI_RUN=0 ;; esac

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else die "need root (or sudo) to run: $*"; fi
}

pick_python() {
    for p in python3.11 python3; do
        if command -v "$p" >/dev/null 2>&1; then echo "$p"; return; fi
    done
    die "python3 not found"
}
PY="$(pick_python)"

section "system packages"
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
"$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get"
    echo "installing: ${missing[*]}"
    as_root apt-get update -qq </dev/null
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi
echo "kcat: $(command -v kcat)"

section "python venv ($VENV)"
stamp="$VENV/.strata-requirements"
if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && cmp -s "$stamp" "$REQS"; then
    echo "up to date"
else
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip </dev/null
    "$VENV/bin/python" -m pip install -q -r "$REQS" </dev/null
    cp "$REQS" "$stamp"
fi
"$VENV/bin/python" -c 'import confluent_kafka, kafka; print("confluent-kafka", confluent_kafka.__version__, "librdkafka", confluent_kafka.libversion()[0], "kafka-python", kafka.__version__)'

if [ "${STRATA_SKIP_LINT:-0}" != 1 ]; then
    section "cargo fmt --check"
    cargo fmt --all -- --check
    section "cargo clippy"
    cargo clippy --workspace --all-targets --release -- -D warnings
    section "dependency layers (tests/check_layers.py)"
    "$PY" "$REPO/tests/check_layers.py"
fi

# The remote tier's conformance suite and the tiered-storage end-to-end tests run
# against a real S3-compatible server on loopback, started (and installed on first use)
# by the project's own script; its AWS_* and S3_EMULATOR_* exports reach both.
if [ "${STRATA_SKIP_S3:-0}" != 1 ]; then
    section "S3-compatible server (localstack/s3-emulator.sh)"
    S3_PORT="${STRATA_TEST_S3_PORT:-4599}"
    trap '"$REPO/localstack/s3-emulator.sh" stop "$S3_PORT" >/dev/null 2>&1 || true' EXIT
    # Not `eval "$(... start ...)"`: set -e does not see a command substitution fail there.
    s3_exports="$("$REPO/localstack/s3-emulator.sh" start "$S3_PORT" strata-test)" \
        || die "the S3 emulator did not start (localstack/s3-emulator.sh start $S3_PORT strata-test)"
    eval "$s3_exports"
    [ -n "${AWS_ENDPOINT_URL:-}" ] && [ "${S3_EMULATOR_BUCKET:-}" = strata-test ] \
        || die "localstack/s3-emulator.sh start printed no AWS_ENDPOINT_URL / S3_EMULATOR_BUCKET"
    export STRATA_TEST_S3_BUCKET=strata-test
fi

if [ "${STRATA_SKIP_CARGO_TESTS:-0}" != 1 ]; then
    section "cargo test"
    mkdir -p "$TARGET_DIR"
    cargo test --workspace --release | tee "$TARGET_DIR/cargo-test.log"
    read -r passed ignored < <(awk '/^test result:/ { p += $4; i += $8 } END { print p + 0, i + 0 }' \
        "$TARGET_DIR/cargo-test.log")
    echo "cargo test: $passed passed, $ignored ignored"
    [ "$CI_RUN" = 0 ] || [ "$ignored" = 0 ] || die "CI=true: $ignored Rust test(s) ignored"
fi

section "cargo build --release -p strata"
cargo build --release -p strata
export STRATA_BIN="$TARGET_DIR/release/strata"
[ -x "$STRATA_BIN" ] || die "no binary at $STRATA_BIN"

if [ "${STRATA_SKIP_E2E:-0}" != 1 ]; then
    section "end-to-end tests (pytest tests/e2e)"
    # Do not leak a developer's STRATA_* settings into the brokers the tests start.
    while IFS='=' read -r name _; do
        case "$name" in STRATA_BIN|STRATA_KEEP_TMP|STRATA_TEST_VENV|STRATA_SKIP_*) ;; STRATA_*) unset "$name" ;; esac
    done < <(env)
    junit="$TARGET_DIR/e2e-junit.xml"
    rm -f "$junit"
    rc=0
    "$VENV/bin/python" -m pytest "$REPO/tests/e2e" -v --timeout=300 --junitxml="$junit" "$@" </dev/null || rc=$?
    # A countable line, also after a failure: "e2e: N passed, M skipped, K failed".
    skipped=$("$VENV/bin/python" - "$junit" <<'PY' || echo unknown
import sys, xml.etree.ElementTree as ET
n = {k: sum(int(s.get(k, 0)) for s in ET.parse(sys.argv[1]).getroot().iter("testsuite"))
     for k in ("tests", "failures", "errors", "skipped")}
bad = n["failures"] + n["errors"]
print(f"e2e: {n['tests'] - bad - n['skipped']} passed, {n['skipped']} skipped, {bad} failed", file=sys.stderr)
print(n["skipped"])
PY
)
    [ "$rc" = 0 ] || die "pytest failed (exit $rc)"
    [ "$skipped" != unknown ] || die "could not read $junit"
    [ "$CI_RUN" = 0 ] || [ "$skipped" = 0 ] || die "CI=true: $skipped end-to-end test(s) skipped"
fi

section "all passed"
