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


def test_max_connections(broker_factory):
    """With max.connections = 3, a fourth connection is closed without an answer; once
    one of the three goes away, a new connection is served."""
    b = broker_factory({"max.connections": 3})
    held = [w.Connection.to(b.bootstrap) for _ in range(3)]
    for c in held:
        assert api_versions_ok(c)
    extra = w.Connection.to(b.bootstrap)
    assert closed_by_peer(extra), "connection over max.connections was not closed"
    extra.close()
    held.pop().close()
    deadline = time.time() + 10
    while True:
        c = w.Connection.to(b.bootstrap)
        if api_versions_ok(c):
            held.append(c)
            break
        c.close()
        assert time.time() < deadline, "no slot freed after a connection closed"
        time.sleep(0.1)
    for c in held:
        assert api_versions_ok(c)
        c.close()
