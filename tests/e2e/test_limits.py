"""Resource bounds set by configuration: connections beyond max.connections are closed
at once, and the broker keeps serving the ones it accepted."""

from __future__ import annotations

import socket
import time

import kafka_wire as w


def api_versions_ok(conn: w.Connection) -> bool:
    try:
        return w.api_versions(conn, 0).error_code == 0
    except (OSError, ConnectionError):
        return False


def closed_by_peer(conn: w.Connection, timeout: float = 5.0) -> bool:
    conn.sock.settimeout(timeout)
    try:
        return conn.sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def connect_served(b, timeout: float = 10.0) -> w.Connection:
    """A connection the broker answers. The broker frees a slot only once it has seen a
    closed connection's EOF (the readiness probe's, say), so this retries briefly."""
    deadline = time.time() + timeout
    while True:
        c = w.Connection.to(b.bootstrap)
        if api_versions_ok(c):
            return c
        c.close()
        assert time.time() < deadline, "broker did not serve a connection within its limit"
        time.sleep(0.1)


def test_max_connections(broker_factory):
    """With max.connections = 3, a fourth connection is closed without an answer; once
    one of the three goes away, a new connection is served."""
    b = broker_factory({"max.connections": 3})
    held = [connect_served(b) for _ in range(3)]
    extra = w.Connection.to(b.bootstrap)
    assert closed_by_peer(extra), "connection over max.connections was not closed"
    extra.close()
    held.pop().close()
    held.append(connect_served(b))
    for c in held:
        assert api_versions_ok(c)
        c.close()
