"""kcat (librdkafka's command-line client) against the broker."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from helpers import create_topic

# tests/run.sh installs kcat; without it these tests skip locally and fail under CI=true.
pytestmark = pytest.mark.requires(shutil.which("kcat") is not None, reason="kcat not installed")


def kcat(*args, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    r = subprocess.run(["kcat", *args], input=input, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"kcat {' '.join(args)} failed ({r.returncode}):\n{r.stderr}"
    return r


def test_kcat_list_metadata(broker, topic):
    """kcat -L lists the broker and a created topic with its partitions."""
    create_topic(broker.bootstrap, topic, 3)
    out = kcat("-b", broker.bootstrap, "-L", "-t", topic).stdout
    assert "1 brokers:" in out
    assert f"127.0.0.1:{broker.port}" in out
    assert f'topic "{topic}" with 3 partitions' in out


LINES = [f"key{i % 7}:value number {i}" for i in range(500)]


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_kcat_produce_consume(broker, topic, codec):
    """Keyed lines produced with kcat -P -K: (each codec) come back from kcat -C in order."""
    create_topic(broker.bootstrap, topic, 1)
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-K:", "-X", f"compression.codec={codec}",
         input="\n".join(LINES) + "\n")
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e",
               "-f", "%k:%s\\n").stdout
    assert out.splitlines() == LINES


def test_kcat_auto_created_topic(broker, topic):
    """kcat producing to a missing topic auto-creates it (default num.partitions=1)."""
    kcat("-b", broker.bootstrap, "-P", "-t", topic, input="a\nb\nc\n")
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%p %o %s\\n").stdout
    assert out.splitlines() == ["0 0 a", "0 1 b", "0 2 c"]
