"""The suite's TCP fault proxy against a local echo server: pass, latency, blackhole, reset, heal."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tickstock_acceptance.faults.proxy import FaultProxy


@pytest.fixture
def echo_server():
    """A TCP echo server on a free port (threads, closed at the end)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn):
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:  # the proxy reset the connection: what a reset is
                pass

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


@pytest.fixture
def proxy(echo_server):
    p = FaultProxy("127.0.0.1", echo_server).start()
    yield p
    p.close()


def _client(proxy: FaultProxy, timeout: float = 1.0) -> socket.socket:
    c = socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)
    return c


def test_pass_forwards_both_ways(proxy):
    with _client(proxy) as c:
        c.sendall(b"ping")
        assert c.recv(16) == b"ping"
    assert proxy.stats.accepted == 1


def test_latency_delays_each_way(proxy):
    proxy.set_mode("latency", 100)
    with _client(proxy) as c:
        t0 = time.perf_counter()
        c.sendall(b"slow")
        assert c.recv(16) == b"slow"
        assert time.perf_counter() - t0 >= 0.2  # 100 ms up and 100 ms down


def test_blackhole_answers_nothing_and_closes_nothing_until_healed(proxy):
    with _client(proxy, timeout=0.3) as c:
        proxy.set_mode("blackhole")
        c.sendall(b"anyone?")
        with pytest.raises(TimeoutError):
            c.recv(16)  # no answer, and no end of file either (that would return b"")
        proxy.heal()  # the held connection is reset ...
        with pytest.raises(ConnectionResetError):
            c.recv(16)
    with _client(proxy) as c2:  # ... and a new one works
        c2.sendall(b"back")
        assert c2.recv(16) == b"back"


def test_reset_closes_open_connections_with_a_reset_and_keeps_accepting(proxy):
    c = _client(proxy)
    c.sendall(b"hi")
    assert c.recv(16) == b"hi"
    assert proxy.reset() == 1
    with pytest.raises(ConnectionResetError):
        c.sendall(b"again")
        c.recv(16)
    c.close()
    with _client(proxy) as c2:
        c2.sendall(b"new")
        assert c2.recv(16) == b"new"


def test_an_unknown_mode_is_refused(proxy):
    with pytest.raises(ValueError, match="unknown proxy mode"):
        proxy.set_mode("flaky")
