"""Fixtures that run a real ``strata serve`` process on 127.0.0.1.

* ``broker``: one broker shared by the whole session (most tests).
* ``fresh_broker``: a new broker per test, for restart / kill -9 tests.
* ``broker_factory``: start brokers with a custom TOML config.
* ``topic``: a unique topic name per test.
* ``require(condition, reason)`` / ``@pytest.mark.requires(condition, reason=...)``: a
  test's prerequisite (kcat, the S3 emulator, ...). Missing, the test is skipped -- or,
  with ``CI=true`` in the environment, it fails: CI runs every test or goes red.

The binary comes from ``$STRATA_BIN`` (``tests/run.sh`` sets it to the release
build). On a failing test the tail of each broker log is printed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import kafka_wire  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(condition, reason: str) -> None:
    """A prerequisite of the calling test: when ``condition`` is false, skip the test
    locally, fail it under ``CI=true`` (CI must not pass by skipping). Use this, never a
    bare ``pytest.skip`` / ``skipif`` / ``importorskip``."""
    if condition:
        return
    if CI:
        pytest.fail(f"{reason} (CI=true: a missing prerequisite fails the test instead of "
                    f"skipping it)", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "requires(condition, reason): run only if condition holds; otherwise skip, "
                   "or fail under CI=true (see require())")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Check ``requires`` marks before any fixture starts a broker."""
    for mark in item.iter_markers("requires"):
        args = list(mark.args) + [mark.kwargs.get("reason", "unmet requirement")]
        require(args[0], args[1])


def strata_bin() -> str:
    env = os.environ.get("STRATA_BIN")
    if env:
        return os.path.abspath(env)  # brokers run with their temp dir as cwd
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    return str(Path(target) / "release" / "strata")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, config: dict) -> Path:
    """Write a flat TOML file with quoted Kafka property names as keys."""
    path.write_text("".join(f'"{k}" = {toml_value(v)}\n' for k, v in config.items()))
    return path


class Broker:
    """One ``strata serve`` process: start, stop (SIGTERM), kill -9, restart."""

    def __init__(self, workdir: Path, config: dict | None = None, name: str = "broker",
                 env: dict | None = None):
        self.workdir = workdir
        self.name = name
        self.env = dict(env or {})  # added to (overriding) os.environ for the process
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config_path = write_config(workdir / "strata.toml", config) if config else None
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [strata_bin(), "serve", "--listen", self.bootstrap, "--data-dir", str(self.data_dir)]
        if self.config_path:
            cmd += ["--config", str(self.config_path)]
        return cmd

    def start(self) -> "Broker":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
            log.flush()
            env = dict(os.environ)
            env.update(self.env)
            env.setdefault("RUST_LOG", "info")
            env.setdefault("RUST_BACKTRACE", "1")
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=self.workdir, env=env,
            )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Wait until the port accepts and an ApiVersions round trip succeeds."""
        deadline = time.monotonic() + timeout
        last_err: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"strata exited with {self.proc.returncode} during startup\n{self.log_tail()}")
            try:
                with kafka_wire.Connection("127.0.0.1", self.port, timeout=2.0) as c:
                    resp = kafka_wire.api_versions(c, 0)
                    if resp.error_code == 0 and resp.api_keys:
                        return
                    last_err = RuntimeError(f"ApiVersions error {resp.error_code}")
            except (OSError, ValueError, ConnectionError) as e:
                last_err = e
            time.sleep(0.1)
        raise RuntimeError(f"strata not ready after {timeout}s: {last_err!r}\n{self.log_tail()}")

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S, check: bool = True) -> int:
        """SIGTERM and wait; by default assert a clean exit (code 0)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError(f"strata did not exit within {timeout}s of SIGTERM\n{self.log_tail()}")
        code = self.proc.returncode
        if check:
            assert code == 0, f"strata exited with {code} after SIGTERM\n{self.log_tail()}"
        return code

    def kill9(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def restart(self) -> "Broker":
        """Clean stop (if running) then start on the same port and data dir."""
        if self.is_running():
            self.stop()
        return self.start()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no broker log)"
        return f"----- {self.log_path} (last {lines} lines) -----\n" + "\n".join(text[-lines:])

    def cleanup(self) -> None:
        if self.is_running():
            self.proc.kill()
            self.proc.wait(timeout=10)


_ALL_BROKERS: list[Broker] = []


@pytest.fixture(scope="session")
def tmp_root():
    d = Path(tempfile.mkdtemp(prefix="strata-e2e-"))
    yield d
    if os.environ.get("STRATA_KEEP_TMP") != "1":
        shutil.rmtree(d, ignore_errors=True)


def _new_broker(tmp_root: Path, config: dict | None, label: str, env: dict | None = None) -> Broker:
    workdir = tmp_root / f"{label}-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(parents=True)
    b = Broker(workdir, config, name="broker", env=env)
    _ALL_BROKERS.append(b)
    return b


@pytest.fixture(scope="session")
def broker(tmp_root):
    """The shared broker, default config. Tests must use unique topic names."""
    if not Path(strata_bin()).exists():
        pytest.exit(f"strata binary not found at {strata_bin()} (set STRATA_BIN)", returncode=2)
    b = _new_broker(tmp_root, None, "shared").start()
    yield b
    if b.is_running():
        b.stop()


@pytest.fixture(scope="module")
def small_request_broker(tmp_root):
    """A broker of its own for one test module, with socket.request.max.bytes = 1 MiB
    (used by the bad-input tests so a crash cannot take the shared broker down)."""
    b = _new_broker(tmp_root, {"socket.request.max.bytes": 1048576}, "smallreq").start()
    yield b
    if b.is_running():
        b.stop()


@pytest.fixture
def broker_factory(tmp_root, request):
    """Start extra brokers: ``broker_factory(config={...}, start=True, env={...})``
    (``env`` is added to the environment the broker process inherits)."""
    made: list[Broker] = []

    def make(config: dict | None = None, start: bool = True, env: dict | None = None) -> Broker:
        b = _new_broker(tmp_root, config, request.node.name[:40].replace("/", "_"), env)
        made.append(b)
        return b.start() if start else b

    yield make
    for b in made:
        b.cleanup()


@pytest.fixture
def fresh_broker(broker_factory):
    """A broker of its own for this test (restart / kill -9 tests)."""
    return broker_factory()


@pytest.fixture
def topic(request) -> str:
    """A topic name unique to this test."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60].strip("-")
    return f"{base}-{uuid.uuid4().hex[:10]}"


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def _remember_brokers(request):
    request.node._strata_first_broker = len(_ALL_BROKERS)
    yield


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the log tails of the brokers this test used."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call", "teardown"):
        first = getattr(item, "_strata_first_broker", len(_ALL_BROKERS))
        used = [b for b in _ALL_BROKERS[:first] if b.workdir.name.startswith("shared-")]
        used += _ALL_BROKERS[first:]
        tails = [b.log_tail() for b in used[-4:]]
        if tails:
            rep.sections.append(("strata broker logs", "\n\n".join(tails)))
