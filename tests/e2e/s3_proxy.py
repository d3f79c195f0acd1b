"""A tiny threaded TCP forwarder on 127.0.0.1, put in front of the S3 emulator so a test
can take "S3" away and bring it back without losing the emulator's in-memory data.

    proxy = S3Proxy("http://127.0.0.1:4599").start()   # listens on a free port
    env = {"AWS_ENDPOINT_URL": proxy.url}               # point the broker at it
    proxy.stop()    # listening socket and every open connection closed: connection refused
    proxy.start()   # listening again on the SAME port
    proxy.close()   # for good (also what the context manager does)
    proxy.down_delay = 0.1   # sleep 0.1 s before forwarding each read of a response (a slow S3)

Bytes are forwarded as they are (HTTP keep-alive, chunked bodies, anything). ``stop()``
closes both sides of every forwarded connection, so requests in flight fail and pooled
connections are dead; new connections are refused until ``start()``.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse

_BUF = 64 * 1024


class S3Proxy:
    def __init__(self, target: str, host: str = "127.0.0.1", port: int = 0):
        """``target``: the upstream endpoint, ``http://host:port`` or ``host:port``."""
        if "://" not in target:
            target = "http://" + target
        u = urllib.parse.urlsplit(target)
        self.target = (u.hostname or "127.0.0.1", u.port or 80)
        self.host = host
        self.port = port  # fixed by the first start() when 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._running = threading.Event()
        self._pairs: set[_Pair] = set()
        self._threads: set[threading.Thread] = set()
        self.accepted = 0  # connections accepted since creation
        self.bytes_up = 0  # client -> upstream
        self.bytes_down = 0  # upstream -> client
        self.down_delay = 0.0  # seconds slept before forwarding each upstream read

    # ---------------------------------------------------------------- control

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._running.is_set()

    def start(self) -> "S3Proxy":
        """Listen (again) on the same port; a no-op when already listening."""
        if self.running:
            return self
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.host, self.port))
        ls.listen(128)
        ls.settimeout(0.1)
        self.port = ls.getsockname()[1]
        self._listener = ls
        self._running.set()
        t = threading.Thread(target=self._accept_loop, args=(ls,), name=f"s3proxy-accept-{self.port}",
                             daemon=True)
        self._accept_thread = t
        t.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every forwarded connection (both sides)."""
        self._running.clear()
        t, self._accept_thread = self._accept_thread, None
        if t is not None:
            t.join(timeout=5)
        ls, self._listener = self._listener, None
        if ls is not None:
            ls.close()
        with self._lock:
            pairs = list(self._pairs)
            self._pairs.clear()
            threads = list(self._threads)
        for pair in pairs:
            pair.close()
        for th in threads:
            th.join(timeout=5)

    close = stop

    def __enter__(self) -> "S3Proxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --------------------------------------------------------------- plumbing

    def _accept_loop(self, ls: socket.socket) -> None:
        while self._running.is_set():
            try:
                client, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if not self._running.is_set():
                _hard_close(client)
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                _hard_close(client)  # upstream down: the client sees a reset
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(client, upstream)
            with self._lock:
                if not self._running.is_set():
                    pair.close()
                    return
                self.accepted += 1
                self._pairs.add(pair)
                for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                    th = threading.Thread(target=self._pump, args=(pair, src, dst, up),
                                          name=f"s3proxy-pump-{self.port}", daemon=True)
                    self._threads.add(th)
                    th.start()

    def _pump(self, pair: "_Pair", src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while True:
                data = src.recv(_BUF)
                if not data:
                    break
                if not up and self.down_delay > 0:
                    time.sleep(self.down_delay)
                dst.sendall(data)
                with self._lock:
                    if up:
                        self.bytes_up += len(data)
                    else:
                        self.bytes_down += len(data)
            try:
                dst.shutdown(socket.SHUT_WR)  # pass the half-close on
            except OSError:
                pass
        except OSError:
            pair.close()  # a reset on one side resets the other
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())
                pair.done += 1
                if pair.done == 2:  # both directions finished: release the sockets
                    self._pairs.discard(pair)
                    pair.close()


class _Pair:
    """A client connection and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket):
        self.socks = (client, upstream)
        self.done = 0

    def close(self) -> None:
        for s in self.socks:
            _hard_close(s)


def _hard_close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
