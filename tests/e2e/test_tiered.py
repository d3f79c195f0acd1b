"""Tiered storage (KIP-405) as a user sees it: sealed segments go to object storage, local
disk keeps only ``local.retention.*``, every offset stays readable from whichever tier holds
it, total retention and topic deletion clean the bucket, an S3 outage costs nothing but
disk, a kill -9 mid-upload leaves no duplicate or orphan, and a topic can be re-created
from the bucket alone after its disk is lost.

Interface: /tmp/spec/tiered-spec.md at the time of writing (broker settings
``remote.log.*``, topic settings ``remote.storage.enable`` / ``local.retention.*`` /
``strata.recover.from.remote``, ListOffsets -4/-5, ``strata topics describe|recover``,
``strata remote stats``, the object layout below).

Two kinds of tests:

* S3 tests (marked ``needs_s3``) run a broker against the S3 emulator that
  ``tests/run.sh`` starts (``localstack/s3-emulator.sh``; endpoint from
  ``STRATA_TEST_S3_ENDPOINT`` or ``AWS_ENDPOINT_URL``, bucket from ``STRATA_TEST_S3_BUCKET``
  or ``S3_EMULATOR_BUCKET``), each under a prefix of its own. When no S3 endpoint/bucket
  is configured they are skipped, or fail with ``CI=true`` in the environment. The outage
  test puts ``s3_proxy.S3Proxy`` between the broker and the emulator and stops it for a
  minute (the emulator keeps its data).
* Folder tests use the default remote tier, ``<data dir>/remote-tier``, on one module
  broker, and need no S3.

The bucket is inspected over plain HTTP (ListObjectsV2 + GET, SigV4-signed with the AWS_*
credentials, so it works against emulators that check signatures too; moto does not).

Object layout (prefix from the URL)::

    <prefix>/<topic>-<topic id, 32 hex>/<partition>/<start:020>-<uuid32>.log (+ .index ...)
    <prefix>/<topic>-<topic id, 32 hex>/<partition>/metadata/<start:020>-<uuid32>.json

Records: record ``i`` sits at offset ``i`` (idempotent producer, one partition), key
``k<i>``, a 1 KiB value holding ``i``, bytes seeded by ``i`` and a CRC-32 of both, two
headers, and timestamp ``t0 + i`` ms; every read checks all of it.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Callable, NamedTuple

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic,
                                  ResourceType)

import kafka_wire as w
from conftest import _new_broker, strata_bin, unique_topic
from helpers import (
    Msg, admin, ck_consume_range, ck_produce_all, ck_producer, create_topic, kp_consumer,
    wait_for_topic,
)
from s3_proxy import S3Proxy

MIB = 1024 * 1024
VALUE_SIZE = 1024
TASK_MS = 200  # remote.log.manager.task.interval.ms of every broker here
T = 30  # admin timeouts

S3_ENDPOINT = os.environ.get("STRATA_TEST_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
S3_BUCKET = os.environ.get("STRATA_TEST_S3_BUCKET") or os.environ.get("S3_EMULATOR_BUCKET")
# Skipped without them locally, failed under CI=true (conftest.require).
needs_s3 = pytest.mark.requires(
    bool(S3_ENDPOINT and S3_BUCKET),
    reason="no S3 endpoint/bucket (STRATA_TEST_S3_ENDPOINT or AWS_ENDPOINT_URL, and "
           "STRATA_TEST_S3_BUCKET or S3_EMULATOR_BUCKET; see localstack/s3-emulator.sh)")

EARLIEST, LATEST, MAX_TIMESTAMP, EARLIEST_LOCAL, LATEST_TIERED = -2, -1, -3, -4, -5
API_DESCRIBE_LOG_DIRS = 35


# ================================================================ records


class Records:
    """The records of one test (see the module docstring); ``check`` verifies a read."""

    def __init__(self, t0: int | None = None):
        # An hour ago: well inside the default retention.ms, clearly "CreateTime".
        self.t0 = t0 if t0 is not None else int(time.time() * 1000) - 3_600_000

    @staticmethod
    def key(i: int) -> bytes:
        return b"k%d" % i

    @staticmethod
    def value(i: int) -> bytes:
        body = struct.pack(">Q", i) + random.Random(i).randbytes(VALUE_SIZE - 12)
        return body + struct.pack(">I", zlib.crc32(body))

    @staticmethod
    def headers(i: int) -> tuple:
        return (("idx", str(i).encode()), ("src", b"strata-e2e-tiered"))

    def ts(self, i: int) -> int:
        return self.t0 + i

    def tuples(self, first: int, end: int):
        """ck_produce_all input for records first..end-1, all to partition 0."""
        for i in range(first, end):
            yield self.key(i), self.value(i), list(self.headers(i)), self.ts(i), 0

    def problem(self, m: Msg) -> str | None:
        i = m.offset
        v = m.value or b""
        if len(v) != VALUE_SIZE or zlib.crc32(v[:-4]) != struct.unpack(">I", v[-4:])[0]:
            return f"offset {i}: value of {len(v)} bytes fails its CRC"
        if struct.unpack(">Q", v[:8])[0] != i:
            return f"offset {i}: value of record {struct.unpack('>Q', v[:8])[0]}"
        if v != self.value(i):
            return f"offset {i}: value differs"
        if m.key != self.key(i):
            return f"offset {i}: key {m.key!r}"
        if tuple(m.headers) != self.headers(i):
            return f"offset {i}: headers {m.headers!r}"
        if m.timestamp != self.ts(i):
            return f"offset {i}: timestamp {m.timestamp}, want {self.ts(i)}"
        return None

    def check(self, msgs: list[Msg], first: int, end: int, what: str) -> None:
        """``msgs`` are exactly offsets first..end-1 of partition 0, each record intact."""
        offs = [m.offset for m in msgs]
        if offs != list(range(first, end)):
            bad = next((j for j, o in enumerate(offs) if o != first + j), len(offs))
            raise AssertionError(
                f"{what}: read {len(offs)} records at offsets {offs[:1]}..{offs[-1:]}, want "
                f"{first}..{end - 1}; first difference at position {bad} "
                f"(got {offs[bad] if bad < len(offs) else 'nothing'}, want {first + bad})")
        assert all(m.partition == 0 for m in msgs)
        problems = [p for p in map(self.problem, msgs) if p]
        assert not problems, f"{what}: {len(problems)} damaged records, e.g. {problems[:5]}"


def produce(bootstrap: str, topic: str, recs: Records, first: int, end: int) -> None:
    """Produce records first..end-1 (idempotent, acks=all) and check they got those offsets."""
    p = ck_producer(bootstrap, acks="all", **{"enable.idempotence": True, "linger.ms": 20,
                                              "batch.size": 256 * 1024})
    log = ck_produce_all(p, recs.tuples(first, end), topic, timeout=120)
    offs = sorted(m.offset() for m in log.ok)
    assert offs == list(range(first, end)), \
        f"records {first}..{end - 1} acknowledged at offsets {offs[:3]}..{offs[-3:]}"


def read(bootstrap: str, topic: str, start: int, count: int, timeout: float = 120.0) -> list[Msg]:
    return ck_consume_range(bootstrap, topic, [0], expected=count, start=start, timeout=timeout)


# ======================================================== wire: ListOffsets, DescribeLogDirs


class Offsets(NamedTuple):
    log_start: int  # ListOffsets -2
    local_start: int  # -4
    tiered: int  # -5 (highest uploaded offset, -1 if none)
    log_end: int  # -1


def list_offsets_body(topic: str, partition: int, spec: int, v: int) -> bytes:
    flex = v >= 6
    arr = (lambda n: w.uvarint(n + 1)) if flex else w.i32
    name = w.compact_string if flex else w.string
    tags = w.EMPTY_TAGS if flex else b""
    body = w.i32(-1)  # replica id: a client
    if v >= 2:
        body += w.i8(0)  # isolation level
    body += arr(1) + name(topic) + arr(1) + w.i32(partition)
    if v >= 4:
        body += w.i32(-1)  # current leader epoch: unknown
    body += w.i64(spec) + tags + tags
    if v >= 10:
        body += w.i32(30_000)  # timeout
    return body + tags


def list_offset_on(conn: w.Connection, topic: str, spec: int, partition: int = 0,
                   version: int = 9) -> tuple[int, int, int]:
    """One ListOffsets request (raw, v1..v10); returns (error code, timestamp, offset)."""
    flex = version >= 6
    r = conn.request(w.API_LIST_OFFSETS, version, list_offsets_body(topic, partition, spec, version),
                     flexible_header=flex, flexible_response_header=flex)
    if version >= 2:
        r.i32()  # throttle
    found = None
    for _ in range(max(r.array_len(flex), 0)):
        r.str_(flex)
        for _ in range(max(r.array_len(flex), 0)):
            idx, err = r.i32(), r.i16()
            ts, off = r.i64(), r.i64()
            if version >= 4:
                r.i32()  # leader epoch
            r.tags(flex)
            if idx == partition:
                found = (err, ts, off)
        r.tags(flex)
    r.tags(flex)
    assert found is not None, f"ListOffsets v{version} answered without partition {partition}"
    return found


def list_offset(bootstrap: str, topic: str, spec: int, partition: int = 0,
                version: int = 9) -> tuple[int, int, int]:
    with w.Connection.to(bootstrap) as c:
        return list_offset_on(c, topic, spec, partition, version)


def offsets(bootstrap: str, topic: str, partition: int = 0) -> Offsets:
    """ListOffsets -2, -4, -5, -1 (v9, raw), each without error."""
    out = []
    with w.Connection.to(bootstrap) as c:
        for spec in (EARLIEST, EARLIEST_LOCAL, LATEST_TIERED, LATEST):
            err, _, off = list_offset_on(c, topic, spec, partition)
            assert err == 0, f"ListOffsets {spec} on {topic}/{partition}: error {err}"
            out.append(off)
    return Offsets(*out)


def describe_log_dirs(bootstrap: str, topics: dict[str, list[int]]) -> dict[str, tuple[int, dict]]:
    """DescribeLogDirs (raw, the highest version <= 4 the broker advertises):
    {log_dir: (error code, {(topic, partition): size})}."""
    with w.Connection.to(bootstrap) as c:
        rng = w.api_versions(c, 3).api_keys.get(API_DESCRIBE_LOG_DIRS)
        assert rng is not None, "DescribeLogDirs (35) is not advertised"
        v = min(rng[1], 4)
        assert v >= rng[0], f"DescribeLogDirs versions {rng}: none of 0..4"
        flex = v >= 2
        arr = (lambda n: w.uvarint(n + 1)) if flex else w.i32
        name = w.compact_string if flex else w.string
        tags = w.EMPTY_TAGS if flex else b""
        body = arr(len(topics))
        for t, parts in topics.items():
            body += name(t) + arr(len(parts)) + b"".join(w.i32(p) for p in parts) + tags
        body += tags
        r = c.request(API_DESCRIBE_LOG_DIRS, v, body, flexible_header=flex, flexible_response_header=flex)
        return decode_describe_log_dirs(r, v)


def decode_describe_log_dirs(r: w.Reader, v: int) -> dict[str, tuple[int, dict]]:
    flex = v >= 2
    r.i32()  # throttle
    if v >= 3:
        top = r.i16()
        assert top == 0, f"DescribeLogDirs v{v}: error {top}"
    out: dict[str, tuple[int, dict]] = {}
    for _ in range(max(r.array_len(flex), 0)):
        err, log_dir = r.i16(), r.str_(flex)
        sizes = {}
        for _ in range(max(r.array_len(flex), 0)):
            t = r.str_(flex)
            for _ in range(max(r.array_len(flex), 0)):
                p, size = r.i32(), r.i64()
                r.i64()  # offset lag
                r.bool()  # is future
                r.tags(flex)
                sizes[(t, p)] = size
            r.tags(flex)
        if v >= 4:
            r.i64()  # total bytes
            r.i64()  # usable bytes
        r.tags(flex)
        out[log_dir] = (err, sizes)
    r.tags(flex)
    return out


# ============================================================ the two tiers as files/objects


def _q(s) -> str:
    return urllib.parse.quote(str(s), safe="-_.~")


def sigv4_headers(method: str, host: str, path: str, query: str, region: str, access_key: str,
                  secret_key: str, token: str | None = None,
                  now: datetime.datetime | None = None) -> dict:
    """AWS Signature V4 headers for an S3 request with an empty body (``path`` and ``query``
    already URI-encoded as sent; the query's parameters sorted). Checked against botocore's
    S3SigV4Auth."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload = hashlib.sha256(b"").hexdigest()
    h = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    if token:
        h["x-amz-security-token"] = token
    signed = ";".join(sorted(h))
    canonical = "\n".join([method, path, query, "".join(f"{k}:{h[k]}\n" for k in sorted(h)),
                           signed, payload])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    h["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                          f"SignedHeaders={signed}, Signature={sig}")
    return h


def aws_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class S3Tier:
    """The objects under ``s3://bucket/prefix``, read over path-style HTTP."""

    def __init__(self, endpoint: str, bucket: str, prefix: str):
        self.endpoint = endpoint.rstrip("/")
        self.host = urllib.parse.urlsplit(self.endpoint).netloc
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _request(self, method: str, key: str = "", params: dict | None = None) -> bytes | None:
        path = f"/{self.bucket}" + (f"/{urllib.parse.quote(key, safe='/-_.~')}" if key else "")
        query = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted((params or {}).items()))
        headers = sigv4_headers(method, self.host, path, query, aws_region(),
                                os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                                os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
                                os.environ.get("AWS_SESSION_TOKEN"))
        url = self.endpoint + path + (f"?{query}" if query else "")
        req = urllib.request.Request(url, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise AssertionError(f"S3 {method} {url}: HTTP {e.code} {e.read()[:300]!r}") from None

    def list(self, sub: str = "") -> dict[str, int]:
        """{key relative to the prefix: size} for every object whose relative key starts
        with ``sub``."""
        full = f"{self.prefix}/{sub}"
        out: dict[str, int] = {}
        token = None
        for _ in range(10_000):
            params = {"list-type": "2", "prefix": full}
            if token:
                params["continuation-token"] = token
            body = self._request("GET", params=params)
            assert body is not None, f"bucket {self.bucket} not found at {self.endpoint}"
            root = ET.fromstring(body)
            token, truncated = None, False
            for el in root:
                tag = el.tag.rsplit("}", 1)[-1]
                if tag == "Contents":
                    fields = {c.tag.rsplit("}", 1)[-1]: c.text for c in el}
                    out[fields["Key"][len(self.prefix) + 1:]] = int(fields.get("Size") or 0)
                elif tag == "IsTruncated":
                    truncated = (el.text or "").strip().lower() == "true"
                elif tag == "NextContinuationToken":
                    token = el.text
            if not truncated or not token:
                return out
        raise AssertionError("endless listing")

    def get(self, rel: str) -> bytes | None:
        return self._request("GET", f"{self.prefix}/{rel}")


class FolderTier:
    """The objects of a ``file://`` remote tier: files under ``root``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def url(self) -> str:
        return f"file://{self.root}"

    def list(self, sub: str = "") -> dict[str, int]:
        out: dict[str, int] = {}
        for d, _, files in os.walk(self.root):  # tolerates folders vanishing meanwhile
            for f in files:
                p = Path(d) / f
                rel = p.relative_to(self.root).as_posix()
                if rel.startswith(sub):
                    try:
                        out[rel] = p.stat().st_size
                    except FileNotFoundError:
                        pass
        return out

    def get(self, rel: str) -> bytes | None:
        try:
            return (self.root / rel).read_bytes()
        except FileNotFoundError:
            return None


Tier = S3Tier | FolderTier


def _topic_re(topic: str) -> str:
    return re.escape(topic) + r"-[0-9a-f]{32}"


def topic_objects(tier: Tier, topic: str) -> dict[str, int]:
    """Every object of every incarnation of ``topic`` (data, indexes, metadata, markers)."""
    pat = re.compile(rf"^{_topic_re(topic)}/")
    return {k: v for k, v in tier.list(f"{topic}-").items() if pat.match(k)}


def remote_segments(tier: Tier, topic: str, partition: int = 0,
                    suffix: str = "log") -> dict[tuple[int, str], int]:
    """{(start offset, segment uuid): size} of the partition's ``.<suffix>`` objects."""
    pat = re.compile(rf"^{_topic_re(topic)}/{partition}/(\d{{20}})-([0-9a-f]{{32}})\.{re.escape(suffix)}$")
    out = {}
    for k, size in topic_objects(tier, topic).items():
        m = pat.match(k)
        if m:
            out[(int(m.group(1)), m.group(2))] = size
    return out


def remote_metadata(tier: Tier, topic: str, partition: int = 0) -> dict[tuple[int, str], dict]:
    """{(start offset, segment uuid): parsed JSON} of the partition's segment records."""
    pat = re.compile(rf"^{_topic_re(topic)}/{partition}/metadata/(\d{{20}})-([0-9a-f]{{32}})\.json$")
    out = {}
    for k in topic_objects(tier, topic):
        m = pat.match(k)
        if m:
            body = tier.get(k)
            if body is not None:  # else deleted since the listing
                out[(int(m.group(1)), m.group(2))] = json.loads(body)
    return out


def finished(tier: Tier, topic: str, partition: int = 0) -> dict[tuple[int, str], dict]:
    return {k: r for k, r in remote_metadata(tier, topic, partition).items()
            if r.get("state") == "COPY_SEGMENT_FINISHED"}


def check_finished_chain(tier: Tier, topic: str, first: int, last: int) -> list[tuple[int, int]]:
    """The COPY_SEGMENT_FINISHED records of partition 0 are one copy per segment, without
    overlap or gap, covering exactly first..last; returns their [start, end] ranges."""
    fin = finished(tier, topic)
    for (start, _), r in fin.items():
        assert r.get("start_offset") == start, f"record named {start} says {r.get('start_offset')}"
    ranges = sorted((r["start_offset"], r["end_offset"]) for r in fin.values())
    assert ranges, f"no COPY_SEGMENT_FINISHED record for {topic}"
    starts = [s for s, _ in ranges]
    dups = sorted({s for s in starts if starts.count(s) > 1})
    assert not dups, f"segments copied more than once (start offsets {dups}): {ranges}"
    assert all(s <= e for s, e in ranges), f"empty ranges: {ranges}"
    for (s0, e0), (s1, e1) in zip(ranges, ranges[1:]):
        assert s1 == e0 + 1, f"{'overlap' if s1 <= e0 else 'gap'} between [{s0}, {e0}] and [{s1}, {e1}]: {ranges}"
    assert ranges[0][0] == first, f"remote data starts at {ranges[0][0]}, want {first}: {ranges}"
    assert ranges[-1][1] == last, f"remote data ends at {ranges[-1][1]}, want {last}: {ranges}"
    return ranges


def orphans(tier: Tier, topic: str) -> list[tuple[int, str]]:
    """Segment .log objects of partition 0 without a COPY_SEGMENT_FINISHED record."""
    logs = remote_segments(tier, topic)  # listed first: a later upload is not an orphan
    done = set(finished(tier, topic))
    return sorted(k for k in logs if k not in done)


def local_dir(broker, topic: str, partition: int = 0) -> Path:
    return Path(broker.data_dir) / f"{topic}-{partition}"


def local_bases(broker, topic: str, partition: int = 0) -> list[int]:
    """Base offsets of the partition's local segments (``<base:020>.log``)."""
    return sorted(int(p.stem) for p in local_dir(broker, topic, partition).glob("*.log")
                  if len(p.stem) == 20 and p.stem.isdigit())


def local_log_bytes(broker, topic: str, partition: int = 0) -> int:
    total = 0
    for p in local_dir(broker, topic, partition).glob("*.log"):
        try:
            total += p.stat().st_size
        except FileNotFoundError:
            pass
    return total


def caught_up(broker, topic: str) -> bool:
    """Every sealed local segment is uploaded: latest-tiered is the offset just below the
    active (last) segment, and there is at least one sealed segment."""
    bases = local_bases(broker, topic)
    return bool(bases) and bases[-1] > 0 and offsets(broker.bootstrap, topic).tiered == bases[-1] - 1


def snapshot(broker, topic: str, tier: Tier | None = None) -> str:
    out = []
    try:
        out.append(f"offsets {offsets(broker.bootstrap, topic)}")
    except Exception as e:  # noqa: BLE001 - only for the message
        out.append(f"offsets: {e!r}")
    out.append(f"local segments {local_bases(broker, topic)}")
    if tier is not None:
        try:
            out.append(f"remote .log starts {sorted(s for s, _ in remote_segments(tier, topic))}")
        except Exception as e:  # noqa: BLE001
            out.append(f"remote listing: {e!r}")
    return "; ".join(out)


def wait_until(pred: Callable[[], bool], timeout: float, what: str,
               state: Callable[[], str] | None = None, interval: float = 0.25) -> None:
    """Poll ``pred`` (exceptions count as "not yet") until true or ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_err = None
    while True:
        try:
            if pred():
                return
            last_err = None
        except (AssertionError, OSError, ValueError, ConnectionError) as e:
            last_err = e
        if time.monotonic() > deadline:
            detail = state() if state else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {detail}"
                                 + (f" (last error {last_err!r})" if last_err else ""))
        time.sleep(interval)


def strata_cli(*args, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([strata_bin(), *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, f"strata {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def tiered_topic_config(**extra) -> dict:
    conf = {"segment.bytes": str(MIB), "remote.storage.enable": "true"}
    conf.update({k: str(v) for k, v in extra.items()})
    return conf


# ================================================================ fixtures


def s3_env(endpoint: str | None = None) -> dict:
    """The AWS_* environment of a broker using the emulator (or the proxy in front of it)."""
    return {
        "AWS_ENDPOINT_URL": endpoint or S3_ENDPOINT,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        "AWS_REGION": aws_region(),
    }


def s3_conf(tier: S3Tier, **extra) -> dict:
    conf = {"remote.log.storage.url": tier.url, "remote.log.manager.task.interval.ms": TASK_MS}
    conf.update(extra)
    return conf


@pytest.fixture
def s3_tier() -> S3Tier:
    """A prefix of the test bucket of its own for this test."""
    return S3Tier(S3_ENDPOINT, S3_BUCKET, f"e2e-tiered/{uuid.uuid4().hex[:12]}")


@pytest.fixture
def s3_broker(broker_factory, s3_tier):
    """A broker tiering to ``s3_tier``, sweeping every 200 ms."""
    return broker_factory(s3_conf(s3_tier), env=s3_env())


@pytest.fixture(scope="module")
def file_broker(tmp_root):
    """One broker for the folder tests: no remote URL (the default folder tier under its data
    dir), sweeps every 200 ms. Named ``shared-`` so a failing test prints its log."""
    b = _new_broker(tmp_root, {"remote.log.manager.task.interval.ms": TASK_MS}, "shared-tiered").start()
    yield b
    if b.is_running():
        b.stop()


@pytest.fixture(scope="module")
def trimmed_topic(file_broker):
    """A topic on ``file_broker`` with data in both tiers, settled: 3,500 records, 1 MiB
    segments, local.retention.bytes 1 MiB; every sealed segment uploaded, local trimmed."""
    b = file_broker
    topic = unique_topic("tiered-both")
    create_topic(b.bootstrap, topic, 1, tiered_topic_config(**{"local.retention.bytes": MIB}))
    n = 3500
    produce(b.bootstrap, topic, Records(), 0, n)
    tier = FolderTier(Path(b.data_dir) / "remote-tier")
    wait_until(lambda: caught_up(b, topic) and offsets(b.bootstrap, topic).local_start > 0,
               60, "uploads and local trimming", lambda: snapshot(b, topic, tier))
    last = [None]

    def stable() -> bool:  # two snapshots a second apart agree
        now = (offsets(b.bootstrap, topic), tuple(local_bases(b, topic)))
        same, last[0] = now == last[0], now
        return same

    wait_until(stable, 30, "a settled partition", lambda: snapshot(b, topic, tier), interval=1.0)
    return topic, n, tier


# ========================================================== S3: a. both tiers, every record


@needs_s3
def test_reads_every_record_from_both_tiers(s3_broker, s3_tier, topic):
    """~12 MiB (12,000 keyed records with headers and timestamps 1 ms apart) into 1 MiB
    segments with local.retention.bytes 2 MiB: once the uploader has caught up, the log
    start (0) is below the earliest local offset, latest-tiered covers most of the log, the
    partition dir keeps <= 4 segments and the bucket >= 8 (finished records chain without gap
    from 0 to latest-tiered). confluent-kafka reads all 12,000 records from offset 0 intact;
    ListOffsets max-timestamp finds the last record; kafka-python offsets_for_times finds a
    timestamp inside the remote data at the right offset and reads on from there."""
    b = s3_broker
    create_topic(b.bootstrap, topic, 1, tiered_topic_config(**{"local.retention.bytes": 2 * MIB}))
    recs, n = Records(), 12_000
    produce(b.bootstrap, topic, recs, 0, n)
    wait_until(lambda: caught_up(b, topic) and len(local_bases(b, topic)) <= 4
               and offsets(b.bootstrap, topic).local_start > 0,
               90, "uploads and local trimming", lambda: snapshot(b, topic, s3_tier))

    o = offsets(b.bootstrap, topic)
    assert o.log_start == 0 < o.local_start, o
    assert o.local_start <= o.tiered + 1, f"a gap between the tiers: {o}"
    assert o.log_end == n, o
    assert o.tiered >= n * 3 // 4, f"only {o.tiered + 1} of {n} records tiered: {o}"
    bases = local_bases(b, topic)
    assert len(bases) <= 4 and bases[0] == o.local_start, (bases, o)
    logs = remote_segments(s3_tier, topic)
    assert len(logs) >= 8, f"{len(logs)} .log objects in {s3_tier.url}: {sorted(logs)}"
    check_finished_chain(s3_tier, topic, 0, o.tiered)

    recs.check(read(b.bootstrap, topic, 0, n), 0, n, "confluent-kafka from offset 0")

    err, ts, off = list_offset(b.bootstrap, topic, MAX_TIMESTAMP)
    assert (err, off, ts) == (0, n - 1, recs.ts(n - 1))

    from kafka import TopicPartition as KTP

    k = o.local_start // 3 + 17  # well inside the remote part, mid-segment
    c = kp_consumer(b.bootstrap)
    tp = KTP(topic, 0)
    got: list[Msg] = []
    try:
        c.assign([tp])
        hit = c.offsets_for_times({tp: recs.ts(k)})[tp]
        assert hit is not None and (hit.offset, hit.timestamp) == (k, recs.ts(k)), hit
        first = c.offsets_for_times({tp: recs.ts(0) - 60_000})[tp]
        assert first is not None and first.offset == 0, first
        c.seek(tp, hit.offset)
        deadline = time.monotonic() + 60
        while len(got) < 500 and time.monotonic() < deadline:
            for msgs in c.poll(timeout_ms=500, max_records=1000).values():
                got += [Msg(m.partition, m.offset, m.key, m.value,
                            tuple((hk, hv) for hk, hv in (m.headers or [])), m.timestamp)
                        for m in msgs]
    finally:
        c.close()
    recs.check(got[:500], k, k + 500, f"kafka-python from timestamp of offset {k}")


# ================================================================== S3: b. total retention


@needs_s3
def test_total_retention_expires_remote_segments(s3_broker, s3_tier, topic):
    """retention.bytes 4 MiB over both tiers, local.retention.bytes 1 MiB: after ~9 MiB the
    oldest remote segments are deleted from the bucket, the log start (ListOffsets -2) moves
    up to the first remaining remote segment, what is kept is about retention.bytes, and a
    consumer from the earliest offset reads everything kept, intact."""
    b = s3_broker
    create_topic(b.bootstrap, topic, 1, tiered_topic_config(
        **{"retention.bytes": 4 * MIB, "local.retention.bytes": MIB}))
    recs, n = Records(), 9000
    produce(b.bootstrap, topic, recs, 0, n)

    def settled() -> bool:
        o = offsets(b.bootstrap, topic)
        starts = [s for s, _ in remote_segments(s3_tier, topic)]
        return o.log_start > 0 and caught_up(b, topic) and all(s >= o.log_start for s in starts)

    wait_until(settled, 90, "remote retention", lambda: snapshot(b, topic, s3_tier))
    o = offsets(b.bootstrap, topic)
    assert o.log_end == n and o.log_start <= o.local_start <= o.tiered + 1, o
    starts = sorted(s for s, _ in remote_segments(s3_tier, topic))
    assert 0 not in starts, f"the first segment is still in the bucket: {starts}"
    assert 1 <= len(starts) <= 6, f"remote segments left: {starts}"
    kept = n - o.log_start
    assert 3 * MIB <= kept * VALUE_SIZE <= 7 * MIB, f"kept {kept} records of {n} (retention 4 MiB): {o}"
    check_finished_chain(s3_tier, topic, o.log_start, o.tiered)
    recs.check(read(b.bootstrap, topic, OFFSET_BEGINNING, kept), o.log_start, n,
               "confluent-kafka from the earliest offset")


# =================================================================== S3: c. delete topic


@needs_s3
def test_delete_topic_removes_its_objects(s3_broker, s3_tier, topic):
    """DeleteTopics on a tiered topic deletes every object under its folder in the bucket
    (segments, indexes, metadata records, markers) within a minute."""
    b = s3_broker
    create_topic(b.bootstrap, topic, 1, tiered_topic_config())
    produce(b.bootstrap, topic, Records(), 0, 3200)
    wait_until(lambda: len(finished(s3_tier, topic)) >= 2, 60, "two uploaded segments",
               lambda: snapshot(b, topic, s3_tier))
    before = topic_objects(s3_tier, topic)
    assert any(k.endswith(".log") for k in before) and any(k.endswith(".json") for k in before)
    admin(b.bootstrap).delete_topics([topic], operation_timeout=20)[topic].result(timeout=T)
    wait_until(lambda: not topic_objects(s3_tier, topic), 60, "the topic's objects to go",
               lambda: f"{len(topic_objects(s3_tier, topic))} left, e.g. {sorted(topic_objects(s3_tier, topic))[:10]}")


@needs_s3
@pytest.mark.timeout(300)
def test_delete_topic_while_s3_is_down_then_kill9_still_purges(broker_factory, s3_tier, topic):
    """The topic is deleted while S3 is unreachable (so no purge can start), the broker is
    killed with -9 right after, and restarted with S3 back: the partitions it recorded as
    to-be-deleted before the deletion committed are purged at start-up, and no incarnation
    of the topic is left in the bucket. (Without that record nothing would know the
    objects belong to a deleted topic.)"""
    proxy = S3Proxy(S3_ENDPOINT).start()
    try:
        b = broker_factory(s3_conf(s3_tier), env=s3_env(proxy.url))
        create_topic(b.bootstrap, topic, 1, tiered_topic_config())
        produce(b.bootstrap, topic, Records(), 0, 3200)
        wait_until(lambda: len(finished(s3_tier, topic)) >= 2, 60, "two uploaded segments",
                   lambda: snapshot(b, topic, s3_tier))
        proxy.stop()
        admin(b.bootstrap).delete_topics([topic], operation_timeout=20)[topic].result(timeout=T)
        time.sleep(0.5)
        b.kill9()
        assert topic_objects(s3_tier, topic), "objects went although S3 was unreachable"
        proxy.start()
        b.start()
        wait_until(lambda: not topic_objects(s3_tier, topic), 90, "the deleted topic's objects to go",
                   lambda: f"{len(topic_objects(s3_tier, topic))} left")
    finally:
        proxy.stop()


@needs_s3
@pytest.mark.timeout(300)
def test_slow_remote_reads_answer_within_remote_fetch_max_wait(broker_factory, s3_tier, topic):
    """S3 answers slowly (a proxy sleeps 0.1 s before forwarding each 64 KiB of every
    response, so a 1 MiB segment takes ~1.6 s, far more than remote.fetch.max.wait.ms, 300 ms
    here). A Fetch of a remote offset with a max_wait longer than the connection's 30 s
    timeout is answered (so by remote.fetch.max.wait.ms, not by max_wait) with no records and
    no error, as Kafka answers when its remote read outlasts that wait; the read goes on and
    fills the cache, so a later Fetch of the same offset returns its records, and a consumer
    still reads every record back. (How fast is for the benchmarks, not asserted here.)"""
    proxy = S3Proxy(S3_ENDPOINT).start()
    try:
        conf = s3_conf(s3_tier, **{"remote.fetch.max.wait.ms": 300,
                                   "remote.log.fetch.read.ahead.chunks": 0})
        b = broker_factory(conf, env=s3_env(proxy.url))
        create_topic(b.bootstrap, topic, 1, tiered_topic_config(**{"local.retention.bytes": MIB}))
        recs, n = Records(), 4000
        produce(b.bootstrap, topic, recs, 0, n)
        wait_until(lambda: caught_up(b, topic) and offsets(b.bootstrap, topic).local_start > 0,
                   60, "uploads and trimming", lambda: snapshot(b, topic, s3_tier))
        b.stop()
        shutil.rmtree(Path(b.data_dir) / "remote-cache", ignore_errors=True)
        b.start()
        offsets(b.bootstrap, topic)  # loads the remote view before the fetch below
        proxy.down_delay = 0.1
        with w.Connection.to(b.bootstrap, timeout=30) as c:
            # Answered at all (no socket timeout): the remote wait ended it, not max_wait.
            err, hw, records = fetch_v4(c, topic, 0, max_wait_ms=120_000)
            assert err == 0 and hw == n, (err, hw)
            assert records == b"", f"{len(records)} bytes came back within the wait"

            def served() -> bool:
                e, _, got = fetch_v4(c, topic, 0, max_wait_ms=10_000)
                assert e == 0, e
                return len(got) > 0
            wait_until(served, 30, "the background read to fill the cache")
        proxy.down_delay = 0.0
        recs.check(read(b.bootstrap, topic, 0, n), 0, n, "after slow remote reads")
    finally:
        proxy.stop()


def fetch_v4(c: w.Connection, topic: str, offset: int, max_wait_ms: int) -> tuple[int, int, bytes]:
    """One Fetch v4 of partition 0 at ``offset`` (min_bytes 1, 8 MiB) -> (error, hw, records)."""
    body = (w.i32(-1) + w.i32(max_wait_ms) + w.i32(1) + w.i32(8 * MIB) + w.i8(0)
            + w.i32(1) + w.string(topic) + w.i32(1) + w.i32(0) + w.i64(offset) + w.i32(8 * MIB))
    r = c.request(1, 4, body)
    r.i32()  # throttle
    assert r.i32() == 1 and r.string() == topic and r.i32() == 1
    assert r.i32() == 0
    err, hw = r.i16(), r.i64()
    r.i64()  # last stable offset
    aborted = r.i32()
    for _ in range(max(aborted, 0)):
        r.i64(), r.i64()
    size = r.i32()
    return err, hw, r._take(size) if size > 0 else b""


# ===================================================================== S3: d. S3 outage


class PacedProducer(threading.Thread):
    """Produces ``recs`` from index ``start`` on at about ``rate`` records/s until stopped
    (idempotent, acks=all); remembers when each record was acknowledged."""

    def __init__(self, bootstrap: str, topic: str, recs: Records, start: int, rate: float):
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.recs, self.rate = bootstrap, topic, recs, rate
        self.start_index = self.next = start
        self.acked: list[tuple[float, int, int]] = []  # (monotonic time, index, offset)
        self.errors: list = []
        self.stop_evt = threading.Event()
        self.unflushed = 0

    def _done(self, i: int, err, msg) -> None:
        if err is not None:
            self.errors.append((i, err))
        else:
            self.acked.append((time.monotonic(), i, msg.offset()))

    def run(self) -> None:
        p = ck_producer(self.bootstrap, acks="all", **{"enable.idempotence": True, "linger.ms": 5,
                                                       "message.timeout.ms": 120_000})
        due = time.monotonic()
        while not self.stop_evt.is_set():
            i, r = self.next, self.recs
            p.produce(self.topic, key=r.key(i), value=r.value(i), headers=list(r.headers(i)),
                      timestamp=r.ts(i), partition=0,
                      on_delivery=lambda err, msg, i=i: self._done(i, err, msg))
            self.next += 1
            due += 1.0 / self.rate
            while (left := due - time.monotonic()) > 0:
                p.poll(left)
            p.poll(0)
        self.unflushed = p.flush(60)

    def stop(self) -> None:
        self.stop_evt.set()
        self.join(timeout=90)
        assert not self.is_alive(), "producer thread did not finish"

    def acked_between(self, t0: float, t1: float) -> int:
        return sum(1 for t, _, _ in list(self.acked) if t0 <= t < t1)


@needs_s3
@pytest.mark.timeout(480)
def test_s3_outage_keeps_producing_and_keeps_local_segments(broker_factory, s3_tier, topic):
    """The broker reaches S3 through a proxy that is stopped for 60 s while a producer
    writes ~100 records/s: every record is acknowledged as usual; from 2 s into the outage
    (time for a sweep that had already finished its upload) no local segment is deleted,
    the local segment count only grows, earliest-local and latest-tiered stay put. After the
    proxy is back the uploader catches up with the last sealed segment, local retention
    trims again, and every record reads back from offset 0."""
    outage_s, grace_s, rate = 60.0, 2.0, 100.0
    proxy = S3Proxy(S3_ENDPOINT).start()
    pp = None
    try:
        b = broker_factory(s3_conf(s3_tier), env=s3_env(proxy.url))
        create_topic(b.bootstrap, topic, 1, tiered_topic_config(**{"local.retention.bytes": MIB}))
        recs, burst = Records(), 3000
        produce(b.bootstrap, topic, recs, 0, burst)
        wait_until(lambda: caught_up(b, topic) and offsets(b.bootstrap, topic).local_start > 0,
                   60, "uploads and trimming before the outage", lambda: snapshot(b, topic, s3_tier))
        assert proxy.accepted > 0 and proxy.bytes_up > MIB, "the broker did not go through the proxy"
        pp = PacedProducer(b.bootstrap, topic, recs, burst, rate)
        pp.start()
        time.sleep(2)

        proxy.stop()
        t_down = time.monotonic()
        time.sleep(grace_s)
        base = offsets(b.bootstrap, topic)
        base_segs = set(local_bases(b, topic))
        count, samples = len(base_segs), 0
        while time.monotonic() - t_down < outage_s:
            o, segs = offsets(b.bootstrap, topic), set(local_bases(b, topic))
            gone = sorted(base_segs - segs)
            assert not gone, f"local segments {gone} deleted while S3 was unreachable ({o})"
            assert len(segs) >= count, f"local segments went from {count} to {len(segs)}"
            assert (o.local_start, o.tiered) == (base.local_start, base.tiered), \
                f"earliest-local/latest-tiered moved during the outage: {base} -> {o}"
            assert not pp.errors, f"produce failed during the outage: {pp.errors[:5]}"
            count, samples = len(segs), samples + 1
            time.sleep(1.0)
        t_up = time.monotonic()
        in_outage = pp.acked_between(t_down, t_up)
        assert in_outage >= 0.7 * rate * outage_s, \
            f"only {in_outage} records acknowledged during the {outage_s:.0f} s outage"
        grown = sorted(set(local_bases(b, topic)) - base_segs)
        assert len(grown) >= 3, f"only {len(grown)} new local segments during the outage ({samples} samples)"

        proxy.start()
        time.sleep(3)
        pp.stop()
        assert not pp.errors and pp.unflushed == 0, (pp.errors[:5], pp.unflushed)
        end = pp.next
        assert sorted(off for _, _, off in pp.acked) == list(range(burst, end))
        wait_until(lambda: caught_up(b, topic) and len(local_bases(b, topic)) <= 4
                   and offsets(b.bootstrap, topic).local_start > base.local_start,
                   120, "catch-up after the outage", lambda: snapshot(b, topic, s3_tier))
        o = offsets(b.bootstrap, topic)
        assert o.log_start == 0 and o.log_end == end, o
        check_finished_chain(s3_tier, topic, 0, o.tiered)
        recs.check(read(b.bootstrap, topic, 0, end), 0, end, "after the outage, from offset 0")
    finally:
        if pp is not None and pp.is_alive():
            pp.stop_evt.set()
        proxy.stop()


# ===================================================== S3: e. kill -9 in the middle of uploads


@needs_s3
def test_kill9_mid_upload_leaves_no_duplicates_or_orphans(broker_factory, s3_tier, topic):
    """Uploads throttled to 1 MiB/s (remote.log.manager.copy.max.bytes.per.second), ~8 MiB
    produced, kill -9 while latest-tiered is past the first segment but short of the last
    sealed one. After a restart the uploader catches up; the COPY_SEGMENT_FINISHED records
    then hold each segment once, with no overlap or gap, from the log start to
    latest-tiered; within a minute every segment .log object in the bucket has such a
    record (the killed copy's leftovers are cleaned up); every record reads back."""
    conf = s3_conf(s3_tier, **{"remote.log.manager.copy.max.bytes.per.second": MIB})
    b = broker_factory(conf, env=s3_env())
    create_topic(b.bootstrap, topic, 1, tiered_topic_config(**{"local.retention.bytes": 2 * MIB}))
    recs, n = Records(), 7600
    produce(b.bootstrap, topic, recs, 0, n)
    last_sealed = local_bases(b, topic)[-1] - 1
    assert last_sealed >= 5 * (n // 8), f"expected ~8 segments: {local_bases(b, topic)}"

    t0 = time.monotonic()
    seen = []
    while True:
        tiered = offsets(b.bootstrap, topic).tiered
        seen.append(tiered)
        if 0 <= tiered < last_sealed:
            break
        assert tiered < last_sealed, \
            f"all uploads finished {time.monotonic() - t0:.1f}s after the produce; not throttled? {seen[-5:]}"
        assert time.monotonic() - t0 < 60, f"no upload finished within 60 s: {seen[-5:]}"
        time.sleep(0.05)
    b.kill9()

    b.start()
    # A client loading the remote view before the first sweep must not stop the sweep
    # from removing what the killed copy left.
    offsets(b.bootstrap, topic)
    wait_until(lambda: caught_up(b, topic), 90, "catch-up after kill -9", lambda: snapshot(b, topic, s3_tier))
    wait_until(lambda: not orphans(s3_tier, topic), 60, "orphaned segment objects to be cleaned up",
               lambda: f"orphans {orphans(s3_tier, topic)}; finished {sorted(finished(s3_tier, topic))}")
    o = offsets(b.bootstrap, topic)
    assert o.tiered >= tiered and o.log_end == n, (o, tiered)
    check_finished_chain(s3_tier, topic, o.log_start, o.tiered)
    recs.check(read(b.bootstrap, topic, 0, n), 0, n, "after kill -9 and catch-up")


# ============================================ S3: throttling and 5xx injected by a decorator


@needs_s3
def test_injected_503_and_throttling_delay_tiering_but_lose_nothing(broker_factory, s3_tier, topic):
    """Every 3rd object-store request fails (503 and SlowDown alternately), injected by the
    FlakyStore decorator under the real S3 client (STRATA_REMOTE_FAULT_EVERY). Uploads,
    local trimming, remote reads by offset and by timestamp all still complete: retries with
    backoff absorb the faults; the finished chain has no gap and no record is lost."""
    env = dict(s3_env(), STRATA_REMOTE_FAULT_EVERY="3")
    b = broker_factory(s3_conf(s3_tier), env=env)
    create_topic(b.bootstrap, topic, 1, tiered_topic_config(**{"local.retention.bytes": MIB}))
    recs, n = Records(), 5000
    produce(b.bootstrap, topic, recs, 0, n)
    wait_until(lambda: caught_up(b, topic) and offsets(b.bootstrap, topic).local_start > 0, 120,
               "uploads and local trimming under injected faults", lambda: snapshot(b, topic, s3_tier))
    o = offsets(b.bootstrap, topic)
    check_finished_chain(s3_tier, topic, o.log_start, o.tiered)
    recs.check(read(b.bootstrap, topic, 0, n), 0, n, "read back under injected faults")
    # The faults really happened (each retried attempt is logged).
    assert "injected failure" in b.log_path.read_text(errors="replace"), "no fault was injected"


# ================================================= S3: f. lose the disk, recover from the bucket


@needs_s3
@pytest.mark.parametrize("how", ["create-topics", "cli"])
def test_recover_topic_from_bucket_after_disk_loss(broker_factory, s3_tier, topic, how):
    """Every sealed segment uploaded, then kill -9 and the whole data dir deleted; a broker
    started on the empty dir with the same remote URL re-creates the topic from the bucket
    (CreateTopics with remote.storage.enable + strata.recover.from.remote, or `strata topics
    recover` with the partition count taken from the bucket): log start 0, log end and
    latest-tiered right after/at the highest uploaded offset, every uploaded record intact;
    new records continue at the next offset."""
    b = broker_factory(s3_conf(s3_tier), env=s3_env())
    create_topic(b.bootstrap, topic, 1, tiered_topic_config())
    recs, n = Records(), 4000
    produce(b.bootstrap, topic, recs, 0, n)
    wait_until(lambda: caught_up(b, topic), 60, "uploads", lambda: snapshot(b, topic, s3_tier))
    uploaded = offsets(b.bootstrap, topic).tiered
    assert 0 < uploaded < n - 1, uploaded
    b.kill9()
    shutil.rmtree(b.data_dir)
    b.data_dir.mkdir()
    b.start()

    if how == "cli":
        strata_cli("topics", "recover", topic, "--bootstrap-server", b.bootstrap)
        wait_for_topic(b.bootstrap, topic, 1)
    else:
        # A fresh client: the cached one knew the killed broker (same address) and may
        # replay its request to the new one.
        fresh = AdminClient({"bootstrap.servers": b.bootstrap})
        fs = fresh.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1, config=tiered_topic_config(
            **{"strata.recover.from.remote": "true"}))], operation_timeout=20)
        fs[topic].result(timeout=T)
        wait_for_topic(b.bootstrap, topic, 1)
    wait_until(lambda: offsets(b.bootstrap, topic).log_end == uploaded + 1, 30, "the recovered log end",
               lambda: snapshot(b, topic, s3_tier))
    o = offsets(b.bootstrap, topic)
    assert (o.log_start, o.tiered, o.log_end) == (0, uploaded, uploaded + 1), o
    recs.check(read(b.bootstrap, topic, 0, uploaded + 1), 0, uploaded + 1, "recovered records")

    more = 200
    produce(b.bootstrap, topic, recs, uploaded + 1, uploaded + 1 + more)
    recs.check(read(b.bootstrap, topic, uploaded + 1, more), uploaded + 1, uploaded + 1 + more,
               "records produced after the recovery")
    assert offsets(b.bootstrap, topic).log_end == uploaded + 1 + more


# ====================================================== folder: g. compaction and remote


def create_error(bootstrap: str, new_topic: NewTopic) -> int:
    fs = admin(bootstrap).create_topics([new_topic], operation_timeout=10)
    with pytest.raises(KafkaException) as ei:
        fs[new_topic.topic].result(timeout=T)
    return ei.value.args[0].code()


def future_error(fs: dict) -> int:
    [f] = fs.values()
    with pytest.raises(KafkaException) as ei:
        f.result(timeout=T)
    return ei.value.args[0].code()


def topic_configs(bootstrap: str, name: str) -> dict:
    res = ConfigResource(ResourceType.TOPIC, name)
    return admin(bootstrap).describe_configs([res])[res].result(timeout=T)


@pytest.mark.parametrize("policy", ["compact", "compact,delete"])
def test_compacted_topics_cannot_be_tiered(file_broker, topic, policy):
    """cleanup.policy containing compact together with remote.storage.enable=true is
    INVALID_CONFIG (40): at CreateTopics (no topic is created), at AlterConfigs and
    IncrementalAlterConfigs turning remote storage on for a compacted topic, and at
    IncrementalAlterConfigs turning compaction on for a tiered topic; configs are unchanged."""
    b = file_broker
    a = admin(b.bootstrap)
    code = create_error(b.bootstrap, NewTopic(topic, num_partitions=1, replication_factor=1, config={
        "cleanup.policy": policy, "remote.storage.enable": "true"}))
    assert code == KafkaError.INVALID_CONFIG, code
    assert topic not in a.list_topics(timeout=T).topics

    create_topic(b.bootstrap, topic, 1, {"cleanup.policy": policy})
    # AlterConfigs replaces the whole set, so cleanup.policy goes along.
    res = ConfigResource(ResourceType.TOPIC, topic,
                         set_config={"cleanup.policy": policy, "remote.storage.enable": "true"})
    assert future_error(a.alter_configs([res])) == KafkaError.INVALID_CONFIG
    inc = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("remote.storage.enable", "true", incremental_operation=AlterConfigOpType.SET)])
    assert future_error(a.incremental_alter_configs([inc])) == KafkaError.INVALID_CONFIG
    cfg = topic_configs(b.bootstrap, topic)
    assert cfg["cleanup.policy"].value == policy
    if "remote.storage.enable" in cfg:
        assert cfg["remote.storage.enable"].value != "true"

    tiered = topic + "-r"
    create_topic(b.bootstrap, tiered, 1, {"remote.storage.enable": "true"})
    inc = ConfigResource(ResourceType.TOPIC, tiered, incremental_configs=[
        ConfigEntry("cleanup.policy", policy, incremental_operation=AlterConfigOpType.SET)])
    assert future_error(a.incremental_alter_configs([inc])) == KafkaError.INVALID_CONFIG
    assert topic_configs(b.bootstrap, tiered)["cleanup.policy"].value == "delete"


# ============================================== folder: h. ListOffsets -4 (local) and -5 (tiered)


def test_list_offsets_earliest_local_and_latest_tiered(file_broker, topic):
    """Raw ListOffsets v8/v9: on a new tiered topic -2 = -4 = -1 = 0 and -5 = -1; with
    records only in the active segment -5 is still -1; once segments roll and are uploaded
    -5 is the last offset before the active segment (and < log end), -4 stays at 0 with no
    local retention. A topic without remote.storage.enable never reports a tiered offset,
    -4 = -2, and has nothing in the remote tier."""
    b = file_broker
    tier = FolderTier(Path(b.data_dir) / "remote-tier")
    create_topic(b.bootstrap, topic, 1, tiered_topic_config())
    assert offsets(b.bootstrap, topic) == Offsets(0, 0, -1, 0)
    err, _, off = list_offset(b.bootstrap, topic, EARLIEST_LOCAL, version=8)
    assert (err, off) == (0, 0)
    recs = Records()
    produce(b.bootstrap, topic, recs, 0, 10)
    time.sleep(3 * TASK_MS / 1000)
    assert offsets(b.bootstrap, topic) == Offsets(0, 0, -1, 10)

    produce(b.bootstrap, topic, recs, 10, 3000)
    wait_until(lambda: caught_up(b, topic), 60, "uploads", lambda: snapshot(b, topic, tier))
    o, bases = offsets(b.bootstrap, topic), local_bases(b, topic)
    assert (o.log_start, o.local_start, o.log_end) == (0, 0, 3000), o
    assert 0 <= o.tiered < o.log_end and o.tiered + 1 in bases, (o, bases)
    err, _, off = list_offset(b.bootstrap, topic, LATEST_TIERED, version=9)
    assert (err, off) == (0, o.tiered)

    plain = topic + "-plain"
    create_topic(b.bootstrap, plain, 1, {"segment.bytes": str(MIB)})
    produce(b.bootstrap, plain, recs, 0, 3000)
    assert len(local_bases(b, plain)) >= 3
    time.sleep(5 * TASK_MS / 1000)
    assert offsets(b.bootstrap, plain) == Offsets(0, 0, -1, 3000)
    assert topic_objects(tier, plain) == {}


# ========================================= folder: i. CLI describe, DescribeLogDirs, remote stats


DESCRIBE_COLUMNS = ("partition", "logstart", "localstart", "latesttiered", "logend", "localbytes",
                    "remotebytes")


# Other spellings of the same columns (Kafka says "local log start offset").
_ALIASES = {"locallogstart": "localstart", "earliestlocal": "localstart",
            "highesttiered": "latesttiered", "lasttiered": "latesttiered"}


def _norm(name: str) -> str:
    n = re.sub(r"[^a-z0-9]", "", name.lower())
    n = n[:-6] if n.endswith("offset") and len(n) > 6 else n
    return _ALIASES.get(n, n)


def parse_describe(out: str) -> dict[int, dict[str, str]]:
    """Per partition, the fields of ``strata topics describe`` by normalized name
    (lowercase, no separators, no trailing "offset": "log-start", "LogStartOffset" and
    "log start" are all "logstart"; "LocalLogStartOffset" is "localstart"). Accepts a table (a header line naming every column of
    DESCRIBE_COLUMNS, then one whitespace-separated row per partition) or Kafka-style
    "Name: value" pairs on one line per partition."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        for splitter in (r"\t+|\s{2,}", r"\s+"):
            hdr = [_norm(c) for c in re.split(splitter, line.strip()) if c]
            if not all(c in hdr for c in DESCRIBE_COLUMNS):
                continue
            rows: dict[int, dict[str, str]] = {}
            for row in lines[i + 1:]:
                cells = [c for c in re.split(splitter, row.strip()) if c]
                if len(cells) == len(hdr) and cells[hdr.index("partition")].isdigit():
                    d = dict(zip(hdr, cells))
                    rows[int(d["partition"])] = d
            if rows:
                return rows
    rows = {}
    for line in lines:
        d = {_norm(k): v.rstrip(",;") for k, v in re.findall(r"([A-Za-z][A-Za-z _.-]*?)\s*[:=]\s*(\S+)", line)}
        if d.get("partition", "").isdigit() and any(c in d for c in DESCRIBE_COLUMNS[1:]):
            rows[int(d["partition"])] = d
    return rows


def parse_size(s: str) -> int:
    """A byte count: an integer, or a human one ("1.5MiB", "1.5 MB", "2048B")."""
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?i?B)?", s.strip(), re.I)
    assert m, f"not a size: {s!r}"
    unit = (m.group(2) or "B").upper()
    power = "BKMGT".index(unit[0])
    return int(float(m.group(1)) * ((1024 if "I" in unit else 1000) ** power))


def remote_bytes(tier: Tier, topic: str) -> int:
    return sum(r.get("segment_size_bytes", 0) for r in finished(tier, topic).values())


def near(a: int, b: int) -> bool:
    return abs(a - b) <= max(b // 10, 64 * 1024)


def test_cli_describe_shows_both_tiers(file_broker, trimmed_topic):
    """`strata topics describe <topic> --bootstrap-server` prints, for partition 0, log
    start, local start, latest tiered and log end equal to ListOffsets -2/-4/-5/-1, and local
    and remote bytes close to the local .log files and the uploaded segments."""
    b = file_broker
    topic, n, tier = trimmed_topic
    for _ in range(5):  # the describe must see the same state as the ListOffsets around it
        before = offsets(b.bootstrap, topic)
        out = strata_cli("topics", "describe", topic, "--bootstrap-server", b.bootstrap).stdout
        if offsets(b.bootstrap, topic) == before:
            break
        time.sleep(1)
    rows = parse_describe(out)
    assert 0 in rows, f"no partition 0 row with the tiering columns {DESCRIBE_COLUMNS}:\n{out}"
    row = rows[0]
    missing = [c for c in DESCRIBE_COLUMNS if c not in row]
    assert not missing, f"columns {missing} missing:\n{out}"
    bad = [c for c in ("logstart", "localstart", "latesttiered", "logend")
           if not re.fullmatch(r"-?\d+", row[c])]
    assert not bad, f"columns {bad} are not offsets:\n{out}"
    got = {c: int(row[c]) for c in ("logstart", "localstart", "latesttiered", "logend")}
    assert got == {"logstart": before.log_start, "localstart": before.local_start,
                   "latesttiered": before.tiered, "logend": before.log_end}, f"{before}\n{out}"
    local, remote = parse_size(row["localbytes"]), parse_size(row["remotebytes"])
    assert local > 0 and near(local, local_log_bytes(b, topic)), (local, local_log_bytes(b, topic), out)
    assert remote > 0 and near(remote, remote_bytes(tier, topic)), (remote, remote_bytes(tier, topic), out)


def test_describe_log_dirs_reports_both_tiers(file_broker, trimmed_topic):
    """DescribeLogDirs answers with the local dir (partition size = local bytes) and one
    more result whose log_dir is the remote URL (here file://<data dir>/remote-tier) with
    the partition size = remote bytes."""
    b = file_broker
    topic, _, tier = trimmed_topic
    dirs = describe_log_dirs(b.bootstrap, {topic: [0]})
    remote = [d for d in dirs if "://" in d]
    local = [d for d in dirs if "://" not in d]
    assert len(remote) == 1 and len(local) == 1, dirs
    assert remote[0].startswith("file://") and remote[0].rstrip("/").endswith("/remote-tier"), remote
    for d in remote + local:
        assert dirs[d][0] == 0, dirs
    lsize = dirs[local[0]][1].get((topic, 0))
    rsize = dirs[remote[0]][1].get((topic, 0))
    assert lsize and near(lsize, local_log_bytes(b, topic)), (lsize, local_log_bytes(b, topic), dirs)
    assert rsize and near(rsize, remote_bytes(tier, topic)), (rsize, remote_bytes(tier, topic), dirs)


def test_cli_remote_stats(file_broker, trimmed_topic):
    """`strata remote stats --data-dir` exits 0 and reports copies (non-zero after
    uploads), fetches, deletes, copy lag, the cache hit ratio and remote fetch latency."""
    wait_until(lambda: (Path(file_broker.data_dir) / "remote-tier-stats.json").exists(), 30,
               "stats snapshot", lambda: "")
    out = strata_cli("remote", "stats", "--data-dir", str(file_broker.data_dir)).stdout
    low = out.lower()
    for word in ("cop", "fetch", "delet", "lag", "hit", "latency"):
        assert word in low, f"{word!r} missing from `strata remote stats`:\n{out}"
    # Where copies are reported as "name: number" on a line, something was copied.
    copied = [int(x) for line in low.splitlines() if "cop" in line and "lag" not in line
              for x in re.findall(r"\b(\d+)\b", line)]
    assert not copied or any(copied), f"nothing reported as copied:\n{out}"


# ============================================== folder: j. the default remote tier is a folder


def test_default_remote_tier_is_a_folder_under_the_data_dir(file_broker, topic):
    """With no remote.log.storage.url the remote tier is <data dir>/remote-tier: after the
    uploads it holds <topic>-<id>/0/<start:020>-<uuid32>.log for exactly the sealed local
    segments, byte for byte equal to them, each with .index and .timeindex beside it and a
    COPY_SEGMENT_FINISHED record under metadata/."""
    b = file_broker
    create_topic(b.bootstrap, topic, 1, tiered_topic_config())
    produce(b.bootstrap, topic, Records(), 0, 2500)
    root = Path(b.data_dir) / "remote-tier"
    tier = FolderTier(root)
    wait_until(lambda: caught_up(b, topic), 60, "uploads", lambda: snapshot(b, topic, tier))
    assert root.is_dir()
    dirs = {k.split("/", 1)[0] for k in topic_objects(tier, topic)}
    assert len(dirs) == 1 and re.fullmatch(_topic_re(topic), dirs.pop()), dirs
    bases = local_bases(b, topic)
    segs = remote_segments(tier, topic)
    assert sorted(s for s, _ in segs) == bases[:-1], (sorted(segs), bases)
    for suffix in ("index", "timeindex"):
        assert set(remote_segments(tier, topic, suffix=suffix)) == set(segs), suffix
    for (start, seg_id) in segs:
        [key] = [k for k in topic_objects(tier, topic) if k.endswith(f"/0/{start:020}-{seg_id}.log")]
        assert tier.get(key) == (local_dir(b, topic) / f"{start:020}.log").read_bytes(), \
            f"remote segment {start} differs from the local one"
    assert set(finished(tier, topic)) == set(segs)
    check_finished_chain(tier, topic, 0, bases[-1] - 1)
