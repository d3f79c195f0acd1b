"""A tiny, dependency-free Kafka wire-protocol helper for tests.

It builds request frames by hand with ``struct`` so tests can send exactly the
bytes they want (including broken ones), and decodes the few responses the
tests look at. Only what the end-to-end tests need is here:

* ApiVersions v0..v4 (request and response; v3+ is flexible),
* Metadata v0..v13 (request and response),
* Produce v3 (request and response),
* record batch v2 builder with CRC-32C (pure Python, table driven).

Responses are read by the 4-byte length prefix; the correlation id is checked.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

# --------------------------------------------------------------------------
# CRC-32C (Castagnoli), reflected polynomial 0x82F63B78.
# --------------------------------------------------------------------------

_CRC32C_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)
del _i, _c


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C of ``data``; crc32c(b"123456789") == 0xE3069283."""
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --------------------------------------------------------------------------
# Primitive encoders.
# --------------------------------------------------------------------------

API_PRODUCE = 0
API_FETCH = 1
API_LIST_OFFSETS = 2
API_METADATA = 3
API_API_VERSIONS = 18

# Error codes the tests look at.
NONE = 0
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
INVALID_TOPIC_EXCEPTION = 17
UNSUPPORTED_VERSION = 35


def zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(n: int) -> bytes:
    """Signed zig-zag varint (also used for varlong)."""
    return uvarint(zigzag(n) & 0xFFFFFFFFFFFFFFFF)


def i8(n: int) -> bytes:
    return struct.pack(">b", n)


def i16(n: int) -> bytes:
    return struct.pack(">h", n)


def i32(n: int) -> bytes:
    return struct.pack(">i", n)


def i64(n: int) -> bytes:
    return struct.pack(">q", n)


def string(s: str | None) -> bytes:
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def compact_string(s: str | None) -> bytes:
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def nbytes(b: bytes | None) -> bytes:
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


EMPTY_TAGS = uvarint(0)


# --------------------------------------------------------------------------
# Primitive decoder.
# --------------------------------------------------------------------------


class Reader:
    """Sequential big-endian reader over a response body."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"short read: want {n} at {self.pos} of {len(self.data)}")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def i8(self) -> int:
        return struct.unpack(">b", self._take(1))[0]

    def bool(self) -> bool:
        return self.i8() != 0

    def i16(self) -> int:
        return struct.unpack(">h", self._take(2))[0]

    def i32(self) -> int:
        return struct.unpack(">i", self._take(4))[0]

    def i64(self) -> int:
        return struct.unpack(">q", self._take(8))[0]

    def uuid(self) -> bytes:
        return self._take(16)

    def uvarint(self) -> int:
        shift = 0
        result = 0
        for _ in range(10):
            b = self._take(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
        raise ValueError("varint too long")

    def string(self) -> str | None:
        n = self.i16()
        return None if n < 0 else self._take(n).decode()

    def compact_string(self) -> str | None:
        n = self.uvarint()
        return None if n == 0 else self._take(n - 1).decode()

    def array_len(self, flexible: bool) -> int:
        if flexible:
            return self.uvarint() - 1  # -1 means null
        return self.i32()

    def str_(self, flexible: bool) -> str | None:
        return self.compact_string() if flexible else self.string()

    def tags(self, flexible: bool) -> None:
        if not flexible:
            return
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self._take(self.uvarint())

    def remaining(self) -> int:
        return len(self.data) - self.pos


# --------------------------------------------------------------------------
# Framing.
# --------------------------------------------------------------------------


def request_header(api_key: int, api_version: int, correlation_id: int,
                   client_id: str | None = "strata-e2e", flexible: bool = False) -> bytes:
    """Request header v1 (or v2 when ``flexible``: v1 plus empty tagged fields)."""
    h = i16(api_key) + i16(api_version) + i32(correlation_id) + string(client_id)
    return h + (EMPTY_TAGS if flexible else b"")


def frame(payload: bytes) -> bytes:
    return i32(len(payload)) + payload


class Connection:
    """One TCP connection to a broker; send raw bytes, read length-prefixed frames."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self._next_corr = 1

    @classmethod
    def to(cls, bootstrap: str, timeout: float = 10.0) -> "Connection":
        host, port = bootstrap.rsplit(":", 1)
        return cls(host, int(port), timeout)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def next_correlation_id(self) -> int:
        c = self._next_corr
        self._next_corr += 1
        return c

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        deadline = time.monotonic() + self.timeout
        while len(buf) < n:
            if time.monotonic() > deadline:
                raise socket.timeout("timed out reading response")
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def recv_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self._recv_exact(4))
        if size < 4 or size > 256 * 1024 * 1024:
            raise ValueError(f"bad response size {size}")
        return self._recv_exact(size)

    def request(self, api_key: int, api_version: int, body: bytes,
                flexible_header: bool = False, flexible_response_header: bool = False) -> Reader:
        """Send one request and return a Reader positioned at the response body."""
        corr = self.next_correlation_id()
        self.send_raw(frame(request_header(api_key, api_version, corr, flexible=flexible_header) + body))
        resp = self.recv_frame()
        r = Reader(resp)
        got = r.i32()
        if got != corr:
            raise ValueError(f"correlation id mismatch: sent {corr}, got {got}")
        r.tags(flexible_response_header)
        return r

    def is_closed_by_peer(self, wait: float = 5.0) -> bool:
        """True if the peer closes (EOF or reset) within ``wait`` seconds.

        Any bytes that arrive first are read and discarded (bounded)."""
        deadline = time.monotonic() + wait
        self.sock.settimeout(0.2)
        try:
            for _ in range(10_000):
                if time.monotonic() > deadline:
                    return False
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    return True
                if not chunk:
                    return True
            return False
        finally:
            self.sock.settimeout(self.timeout)


# --------------------------------------------------------------------------
# ApiVersions.
# --------------------------------------------------------------------------


@dataclass
class ApiVersionsResponse:
    error_code: int
    api_keys: dict[int, tuple[int, int]]  # key -> (min, max)
    throttle_time_ms: int = 0


def api_versions_body(version: int) -> bytes:
    if version >= 3:
        return compact_string("strata-e2e") + compact_string("0.1") + EMPTY_TAGS
    return b""


def decode_api_versions(r: Reader, version: int) -> ApiVersionsResponse:
    flexible = version >= 3
    error_code = r.i16()
    keys = {}
    n = r.array_len(flexible)
    for _ in range(max(n, 0)):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        r.tags(flexible)
        keys[k] = (lo, hi)
    throttle = r.i32() if version >= 1 else 0
    r.tags(flexible)
    return ApiVersionsResponse(error_code, keys, throttle)


def api_versions(conn: Connection, version: int = 3) -> ApiVersionsResponse:
    """ApiVersions round trip. The response header is always v0 (KIP-511)."""
    r = conn.request(API_API_VERSIONS, version, api_versions_body(version),
                     flexible_header=version >= 3)
    return decode_api_versions(r, version)


def api_versions_unsupported(conn: Connection, version: int = 999) -> ApiVersionsResponse:
    """ApiVersions at an unknown version: Kafka answers with a v0 body and error 35."""
    r = conn.request(API_API_VERSIONS, version, api_versions_body(3), flexible_header=True)
    return decode_api_versions(r, 0)


# --------------------------------------------------------------------------
# Metadata (v0..v13).
# --------------------------------------------------------------------------


@dataclass
class MetadataPartition:
    error_code: int
    index: int
    leader: int
    replicas: list[int]
    isr: list[int]


@dataclass
class MetadataTopic:
    error_code: int
    name: str | None
    is_internal: bool
    partitions: list[MetadataPartition]


@dataclass
class MetadataResponse:
    brokers: list[tuple[int, str, int]]
    cluster_id: str | None
    controller_id: int
    topics: list[MetadataTopic] = field(default_factory=list)
    error_code: int = 0


def metadata_body(version: int, topics: list[str] | None, allow_auto_create: bool = False) -> bytes:
    flexible = version >= 9
    out = b""
    if topics is None and version == 0:
        topics = []  # v0: empty array means all topics
    if topics is None:
        out += uvarint(0) if flexible else i32(-1)
    else:
        out += uvarint(len(topics) + 1) if flexible else i32(len(topics))
        for t in topics:
            if version >= 10:
                out += b"\x00" * 16 + compact_string(t) + EMPTY_TAGS
            elif flexible:
                out += compact_string(t) + EMPTY_TAGS
            else:
                out += string(t)
    if version >= 4:
        out += i8(1 if allow_auto_create else 0)
    if 8 <= version <= 10:
        out += i8(0)  # include_cluster_authorized_operations
    if version >= 8:
        out += i8(0)  # include_topic_authorized_operations
    if flexible:
        out += EMPTY_TAGS
    return out


def decode_metadata(r: Reader, version: int) -> MetadataResponse:
    flex = version >= 9

    def int_array() -> list[int]:
        n = r.array_len(flex)
        return [r.i32() for _ in range(max(n, 0))]

    if version >= 3:
        r.i32()  # throttle_time_ms
    brokers = []
    for _ in range(max(r.array_len(flex), 0)):
        node = r.i32()
        host = r.str_(flex)
        port = r.i32()
        if version >= 1:
            r.str_(flex)  # rack
        r.tags(flex)
        brokers.append((node, host, port))
    cluster_id = r.str_(flex) if version >= 2 else None
    controller = r.i32() if version >= 1 else -1
    topics = []
    for _ in range(max(r.array_len(flex), 0)):
        err = r.i16()
        name = r.str_(flex)
        if version >= 10:
            r.uuid()
        internal = r.bool() if version >= 1 else False
        parts = []
        for _ in range(max(r.array_len(flex), 0)):
            perr = r.i16()
            idx = r.i32()
            leader = r.i32()
            if version >= 7:
                r.i32()  # leader_epoch
            replicas = int_array()
            isr = int_array()
            if version >= 5:
                int_array()  # offline replicas
            r.tags(flex)
            parts.append(MetadataPartition(perr, idx, leader, replicas, isr))
        if version >= 8:
            r.i32()  # topic_authorized_operations
        r.tags(flex)
        topics.append(MetadataTopic(err, name, internal, parts))
    if 8 <= version <= 10:
        r.i32()  # cluster_authorized_operations
    top_err = r.i16() if version >= 13 else 0
    r.tags(flex)
    return MetadataResponse(brokers, cluster_id, controller, topics, top_err)


def metadata(conn: Connection, version: int = 1, topics: list[str] | None = None,
             allow_auto_create: bool = False) -> MetadataResponse:
    flex = version >= 9
    r = conn.request(API_METADATA, version, metadata_body(version, topics, allow_auto_create),
                     flexible_header=flex, flexible_response_header=flex)
    resp = decode_metadata(r, version)
    if r.remaining():
        raise ValueError(f"{r.remaining()} trailing bytes in Metadata v{version} response")
    return resp


# --------------------------------------------------------------------------
# Record batch v2.
# --------------------------------------------------------------------------


@dataclass
class Record:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    timestamp_delta: int = 0


def encode_record(rec: Record, offset_delta: int) -> bytes:
    body = i8(0) + varint(rec.timestamp_delta) + varint(offset_delta)
    body += varint(-1) if rec.key is None else varint(len(rec.key)) + rec.key
    body += varint(-1) if rec.value is None else varint(len(rec.value)) + rec.value
    body += varint(len(rec.headers))
    for hk, hv in rec.headers:
        kb = hk.encode()
        body += varint(len(kb)) + kb
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + body


def build_batch(records: list[Record], base_timestamp: int | None = None, base_offset: int = 0,
                producer_id: int = -1, producer_epoch: int = -1, base_sequence: int = -1,
                attributes: int = 0, partition_leader_epoch: int = -1) -> bytes:
    """An uncompressed magic-2 record batch with a correct CRC-32C."""
    if base_timestamp is None:
        base_timestamp = int(time.time() * 1000)
    recs = b"".join(encode_record(r, i) for i, r in enumerate(records))
    max_ts = base_timestamp + max((r.timestamp_delta for r in records), default=0)
    after_crc = (i16(attributes) + i32(len(records) - 1) + i64(base_timestamp) + i64(max_ts)
                 + i64(producer_id) + i16(producer_epoch) + i32(base_sequence)
                 + i32(len(records)) + recs)
    crc = crc32c(after_crc)
    after_length = i32(partition_leader_epoch) + i8(2) + struct.pack(">I", crc) + after_crc
    return i64(base_offset) + i32(len(after_length)) + after_length


# Byte offsets inside a v2 batch header.
BATCH_LENGTH_OFFSET = 8
BATCH_CRC_OFFSET = 17
BATCH_ATTRIBUTES_OFFSET = 21


def corrupt_crc(batch: bytes) -> bytes:
    """Flip bits in the stored CRC so it no longer matches."""
    b = bytearray(batch)
    b[BATCH_CRC_OFFSET] ^= 0xFF
    return bytes(b)


def corrupt_payload(batch: bytes) -> bytes:
    """Flip a byte in the last record, leaving the (now wrong) CRC in place."""
    b = bytearray(batch)
    b[-1] ^= 0x5A
    return bytes(b)


def with_batch_length(batch: bytes, length: int) -> bytes:
    """Overwrite the batchLength field with a lie."""
    return batch[:BATCH_LENGTH_OFFSET] + i32(length) + batch[BATCH_LENGTH_OFFSET + 4:]


# --------------------------------------------------------------------------
# Produce v3.
# --------------------------------------------------------------------------


@dataclass
class ProducePartitionResponse:
    index: int
    error_code: int
    base_offset: int
    log_append_time_ms: int


def produce_body(topic_data: dict[str, dict[int, bytes | None]], acks: int = -1,
                 timeout_ms: int = 10_000, transactional_id: str | None = None) -> bytes:
    out = string(transactional_id) + i16(acks) + i32(timeout_ms) + i32(len(topic_data))
    for topic, parts in topic_data.items():
        out += string(topic) + i32(len(parts))
        for idx, records in parts.items():
            out += i32(idx) + nbytes(records)
    return out


def decode_produce_v3(r: Reader) -> dict[str, dict[int, ProducePartitionResponse]]:
    result: dict[str, dict[int, ProducePartitionResponse]] = {}
    for _ in range(max(r.i32(), 0)):
        name = r.string()
        parts = {}
        for _ in range(max(r.i32(), 0)):
            idx = r.i32()
            parts[idx] = ProducePartitionResponse(idx, r.i16(), r.i64(), r.i64())
        result[name] = parts
    r.i32()  # throttle_time_ms
    return result


def produce_v3(conn: Connection, topic: str, partition: int, records: bytes | None,
               acks: int = -1, timeout_ms: int = 10_000) -> ProducePartitionResponse:
    """Produce one batch blob to one partition; return that partition's response."""
    r = conn.request(API_PRODUCE, 3, produce_body({topic: {partition: records}}, acks, timeout_ms))
    resp = decode_produce_v3(r)
    return resp[topic][partition]
