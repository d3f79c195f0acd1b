"""Raw consumer-group requests for the error-code tests (on top of ``kafka_wire``).

Only non-flexible versions, which are enough to reach every error the tests look at:
FindCoordinator v2, JoinGroup v0–v5, SyncGroup v3, Heartbeat v3, LeaveGroup v3,
OffsetCommit v2–v7, OffsetFetch v5. Plus the "consumer" protocol subscription and
assignment blobs (version 0) a leader hands out.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka_wire import Connection, Reader, i8, i16, i32, i64, nbytes, string

API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
API_FIND_COORDINATOR = 10
API_JOIN_GROUP = 11
API_HEARTBEAT = 12
API_LEAVE_GROUP = 13
API_SYNC_GROUP = 14

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
MEMBER_ID_REQUIRED = 79
GROUP_ID_NOT_FOUND = 69


def array(items: list[bytes]) -> bytes:
    return i32(len(items)) + b"".join(items)


def subscription(topics: list[str]) -> bytes:
    """ConsumerProtocolSubscription v0: version, topics, user data (null)."""
    return i16(0) + array([string(t) for t in topics]) + nbytes(None)


def assignment(parts: dict[str, list[int]]) -> bytes:
    """ConsumerProtocolAssignment v0: version, [topic, [partition]], user data (null)."""
    return i16(0) + array([string(t) + array([i32(p) for p in ps]) for t, ps in parts.items()]) \
        + nbytes(None)


# ------------------------------------------------------------ FindCoordinator


@dataclass
class Coordinator:
    error_code: int
    node_id: int
    host: str
    port: int


def find_coordinator(conn: Connection, key: str, key_type: int = 0) -> Coordinator:
    r = conn.request(API_FIND_COORDINATOR, 2, string(key) + i8(key_type))
    r.i32()  # throttle
    err = r.i16()
    r.string()  # error message
    return Coordinator(err, r.i32(), r.string(), r.i32())


# ------------------------------------------------------------------ JoinGroup


@dataclass
class JoinResult:
    error_code: int
    generation_id: int
    protocol_name: str | None
    leader: str | None
    member_id: str | None
    members: list[tuple[str, str | None, bytes]]


def join_group(conn: Connection, group: str, member_id: str = "", version: int = 5,
               session_timeout_ms: int = 10_000, rebalance_timeout_ms: int = 10_000,
               instance_id: str | None = None, topics: list[str] | None = None,
               protocol: str = "range", protocol_type: str = "consumer") -> JoinResult:
    """JoinGroup v0..v5; blocks until the coordinator answers (may take a rebalance)."""
    assert 0 <= version <= 5
    body = string(group) + i32(session_timeout_ms)
    if version >= 1:
        body += i32(rebalance_timeout_ms)
    body += string(member_id)
    if version >= 5:
        body += string(instance_id)
    body += string(protocol_type)
    body += array([string(protocol) + nbytes(subscription(topics or []))])
    return decode_join(conn.request(API_JOIN_GROUP, version, body), version)


def send_join_group(conn: Connection, group: str, member_id: str, version: int = 5,
                    session_timeout_ms: int = 10_000, rebalance_timeout_ms: int = 10_000,
                    topics: list[str] | None = None) -> None:
    """Send a JoinGroup v5 without waiting for the answer (to abandon it)."""
    from kafka_wire import frame, request_header
    body = (string(group) + i32(session_timeout_ms) + i32(rebalance_timeout_ms)
            + string(member_id) + string(None) + string("consumer")
            + array([string("range") + nbytes(subscription(topics or []))]))
    conn.send_raw(frame(request_header(API_JOIN_GROUP, version, conn.next_correlation_id()) + body))


def decode_join(r: Reader, version: int) -> JoinResult:
    if version >= 2:
        r.i32()  # throttle
    err = r.i16()
    gen = r.i32()
    proto = r.string()
    leader = r.string()
    member = r.string()
    members = []
    for _ in range(max(r.i32(), 0)):
        mid = r.string()
        inst = r.string() if version >= 5 else None
        n = r.i32()
        meta = r._take(n) if n >= 0 else b""
        members.append((mid, inst, meta))
    return JoinResult(err, gen, proto, leader, member, members)


# ------------------------------------------------------------------ SyncGroup


def sync_group(conn: Connection, group: str, generation: int, member_id: str,
               assignments: dict[str, bytes] | None = None,
               instance_id: str | None = None) -> tuple[int, bytes]:
    """SyncGroup v3 → (error_code, assignment bytes)."""
    body = string(group) + i32(generation) + string(member_id) + string(instance_id)
    body += array([string(m) + nbytes(a) for m, a in (assignments or {}).items()])
    r = conn.request(API_SYNC_GROUP, 3, body)
    r.i32()  # throttle
    err = r.i16()
    n = r.i32()
    return err, (r._take(n) if n > 0 else b"")


# ------------------------------------------------------------------ Heartbeat


def heartbeat(conn: Connection, group: str, generation: int, member_id: str,
              instance_id: str | None = None) -> int:
    """Heartbeat v3 → error_code."""
    r = conn.request(API_HEARTBEAT, 3, string(group) + i32(generation) + string(member_id)
                     + string(instance_id))
    r.i32()  # throttle
    return r.i16()


# ----------------------------------------------------------------- LeaveGroup


def leave_group(conn: Connection, group: str, member_id: str) -> int:
    """LeaveGroup v3 (batch form) for one member → the top-level error, or the member's."""
    r = conn.request(API_LEAVE_GROUP, 3, string(group) + array([string(member_id) + string(None)]))
    r.i32()  # throttle
    err = r.i16()
    for _ in range(max(r.i32(), 0)):
        r.string()
        r.string()
        merr = r.i16()
        err = err or merr
    return err


# --------------------------------------------------------------- OffsetCommit


def offset_commit(conn: Connection, group: str, generation: int, member_id: str,
                  offsets: dict[str, dict[int, int]], version: int = 7,
                  instance_id: str | None = None) -> dict[tuple[str, int], int]:
    """OffsetCommit v2..v7 → {(topic, partition): error_code}."""
    assert 2 <= version <= 7
    body = string(group) + i32(generation) + string(member_id)
    if version >= 7:
        body += string(instance_id)
    if 2 <= version <= 4:
        body += i64(-1)  # retention_time_ms: broker default
    topics = []
    for t, parts in offsets.items():
        ps = []
        for p, off in parts.items():
            e = i32(p) + i64(off)
            if version >= 6:
                e += i32(-1)  # committed_leader_epoch
            ps.append(e + string(None))
        topics.append(string(t) + array(ps))
    body += array(topics)
    r = conn.request(API_OFFSET_COMMIT, version, body)
    if version >= 3:
        r.i32()  # throttle
    out = {}
    for _ in range(max(r.i32(), 0)):
        t = r.string()
        for _ in range(max(r.i32(), 0)):
            p = r.i32()
            out[(t, p)] = r.i16()
    return out


# ---------------------------------------------------------------- OffsetFetch


def offset_fetch(conn: Connection, group: str, topics: dict[str, list[int]]
                 ) -> tuple[int, dict[tuple[str, int], tuple[int, int]]]:
    """OffsetFetch v5 → (top-level error, {(topic, partition): (offset, error)})."""
    body = string(group) + array([string(t) + array([i32(p) for p in ps])
                                  for t, ps in topics.items()])
    r = conn.request(API_OFFSET_FETCH, 5, body)
    r.i32()  # throttle
    out = {}
    for _ in range(max(r.i32(), 0)):
        t = r.string()
        for _ in range(max(r.i32(), 0)):
            p = r.i32()
            off = r.i64()
            r.i32()  # leader epoch
            r.string()  # metadata
            out[(t, p)] = (off, r.i16())
    return r.i16(), out
