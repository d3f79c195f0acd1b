"""The strata command line: topics admin, perf tools, serve flags, config errors, signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

import kafka_wire as w
from conftest import free_port, strata_bin, write_config
from helpers import admin, create_topic, wait_for_topic


def strata(*args, timeout: float = 120, env: dict | None = None, cwd=None,
           check: bool = True) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    r = subprocess.run([strata_bin(), *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, env=full_env, cwd=cwd)
    if check:
        assert r.returncode == 0, f"strata {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def test_topics_create_list_describe_alter_delete(broker, topic):
    """strata topics create/list/describe/alter-config/delete work end to end."""
    bs = ["--bootstrap-server", broker.bootstrap]
    strata("topics", *bs, "create", topic, "--partitions", "3")
    wait_for_topic(broker.bootstrap, topic, 3)
    assert topic in strata("topics", *bs, "list").stdout.split()
    desc = strata("topics", *bs, "describe", topic).stdout
    assert topic in desc
    assert re.search(r"(?i)partition", desc) and re.search(r"(?i)leader", desc)
    for p in range(3):
        assert re.search(rf"(?i)partition\D*{p}\b", desc), f"partition {p} missing:\n{desc}"
    strata("topics", *bs, "alter-config", topic, "--set", "retention.ms=1000")
    from confluent_kafka.admin import ConfigResource, ResourceType
    res = ConfigResource(ResourceType.TOPIC, topic)
    cfg = admin(broker.bootstrap).describe_configs([res])[res].result(timeout=30)
    assert cfg["retention.ms"].value == "1000"
    strata("topics", *bs, "delete", topic)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and topic in strata("topics", *bs, "list").stdout.split():
        time.sleep(0.2)
    assert topic not in strata("topics", *bs, "list").stdout.split()


def test_topics_bootstrap_from_env(broker, topic):
    """STRATA_BOOTSTRAP replaces --bootstrap-server."""
    strata("topics", "create", topic, "--partitions", "1", env={"STRATA_BOOTSTRAP": broker.bootstrap})
    wait_for_topic(broker.bootstrap, topic, 1)


def test_topics_create_existing_fails(broker, topic):
    """Creating an existing topic with the CLI exits non-zero and says why."""
    create_topic(broker.bootstrap, topic, 1)
    r = strata("topics", "--bootstrap-server", broker.bootstrap, "create", topic, "--partitions", "1",
               check=False)
    assert r.returncode != 0
    assert re.search(r"(?i)exist", r.stderr + r.stdout)


def test_perf_produce_and_consume(broker, topic):
    """strata perf produce then perf consume 20,000 x 100 B records; both print records/sec."""
    bs = ["--bootstrap-server", broker.bootstrap, "--topic", topic, "--num-records", "20000"]
    r = strata("perf", "produce", *bs, "--record-size", "100", "--acks", "1", timeout=180)
    assert "records/sec" in r.stdout + r.stderr
    c = strata("perf", "consume", *bs, timeout=180)
    assert "records/sec" in c.stdout + c.stderr
    from helpers import ck_watermarks
    assert ck_watermarks(broker.bootstrap, topic, 0)[1] >= 20000


def serve_fails_fast(tmp_path, config: dict) -> subprocess.CompletedProcess:
    cfg = write_config(tmp_path / "bad.toml", config)
    port = free_port()
    return strata("serve", "--config", str(cfg), "--data-dir", str(tmp_path / "data"),
                  "--listen", f"127.0.0.1:{port}", timeout=20, check=False)


def test_serve_rejects_unknown_config_key(tmp_path):
    """An unknown key in the config file stops startup with a non-zero exit naming the key."""
    r = serve_fails_fast(tmp_path, {"no.such.key": 1})
    assert r.returncode != 0
    assert "no.such.key" in r.stderr


def test_serve_rejects_bad_config_value(tmp_path):
    """num.partitions = -3 stops startup with a non-zero exit naming the key."""
    r = serve_fails_fast(tmp_path, {"num.partitions": -3})
    assert r.returncode != 0
    assert "num.partitions" in r.stderr


def test_serve_rejects_an_unbounded_size(tmp_path):
    """Regression: queued.max.request.bytes = i64::MAX used to panic at start-up; now
    startup stops with a non-zero exit naming the key and its bound."""
    r = serve_fails_fast(tmp_path, {"queued.max.request.bytes": 2**63 - 1})
    assert r.returncode != 0
    assert "queued.max.request.bytes" in r.stderr
    assert "panicked" not in r.stderr


def test_serve_help():
    """strata serve --help documents --config, --data-dir, --listen and the STRATA_ env vars."""
    out = strata("serve", "--help", timeout=20).stdout
    for s in ["--config", "--data-dir", "--listen", "STRATA_CONFIG", "STRATA_DATA_DIR", "STRATA_LISTEN"]:
        assert s in out, f"{s} missing from serve --help:\n{out}"


def wait_api_versions(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"strata exited early with {proc.returncode}"
        try:
            with w.Connection("127.0.0.1", port, timeout=2) as c:
                if w.api_versions(c, 0).error_code == 0:
                    return
        except (OSError, ValueError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError("strata did not answer ApiVersions")


def test_serve_defaults_and_env(tmp_path):
    """With no flags, STRATA_LISTEN chooses the address and data goes to ./strata-data;
    SIGTERM then exits 0."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    env["STRATA_LISTEN"] = f"127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([strata_bin(), "serve"], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)
    try:
        wait_api_versions(port, proc)
        topic = "cli-default-dir"
        create_topic(f"127.0.0.1:{port}", topic, 1)
        assert (tmp_path / "strata-data").is_dir()
        assert any(p.name.startswith(topic) for p in (tmp_path / "strata-data").rglob("*")), \
            "topic data not under ./strata-data"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_sigterm_exits_zero(fresh_broker):
    """SIGTERM on a serving broker exits 0 within the timeout."""
    assert fresh_broker.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGINT])
def test_sigint_exits_zero(fresh_broker, sig):
    """Ctrl-C (SIGINT) also shuts down cleanly."""
    fresh_broker.proc.send_signal(sig)
    assert fresh_broker.proc.wait(timeout=30) == 0
