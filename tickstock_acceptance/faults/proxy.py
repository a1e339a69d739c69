"""A TCP fault proxy the run owns, put between a consumer and a server (e.g. TickStockApp and Redis).

The consumer connects to ``proxy.port`` on 127.0.0.1; each accepted connection gets its own
connection to the upstream server and two pump threads, one per direction. Modes (``set_mode``),
which apply to open and new connections alike:

* ``pass``      — bytes are forwarded both ways as they arrive.
* ``latency``   — every chunk is forwarded ``latency_ms`` after it arrived (both ways, order kept):
  a slow link, not a broken one.
* ``blackhole`` — nothing is forwarded either way and nothing is closed: requests go unanswered and
  the server hears nothing (a dead link, a frozen peer). What arrives meanwhile is dropped. New
  connections are accepted and held silent too. Only a client that watches for silence notices.
* ``reset()``   — an event, not a mode: every open connection is closed on both sides with a TCP
  reset (``SO_LINGER`` 0), then the proxy goes on forwarding new connections in its current mode.

``heal()`` returns to ``pass`` and resets the connections a blackhole held (their data is gone; a
client that declared them dead has already dropped them). ``close()`` stops listening and resets
everything. The proxy never touches the server itself.

Written here rather than taken from a library: Toxiproxy, the usual tool, is a Go server that
neither PyPI nor this machine's Debian packages; these three modes need an accept loop and two
pump threads per connection.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

MODES = ("pass", "latency", "blackhole")
CHUNK = 65536
POLL_S = 0.05


@dataclass
class _Link:
    client: socket.socket
    upstream: socket.socket
    closed: bool = False

    def reset(self) -> None:
        """Close both sockets with an RST (linger on, timeout 0)."""
        if self.closed:
            return
        self.closed = True
        for s in (self.client, self.upstream):
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass


@dataclass
class ProxyStats:
    accepted: int = 0
    resets: int = 0
    mode_changes: list[tuple[float, str]] = field(default_factory=list)  # (wall clock, mode)


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, name: str = "proxy") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.name = name
        self.mode = "pass"
        self.latency_ms = 0.0
        self.stats = ProxyStats()
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name=f"{name}-accept", daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    # -- faults ---------------------------------------------------------------------------------
    def set_mode(self, mode: str, latency_ms: float = 0.0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown proxy mode {mode!r} (modes: {', '.join(MODES)})")
        self.latency_ms = float(latency_ms)
        self.mode = mode
        self.stats.mode_changes.append((time.time(), mode))

    def reset(self) -> int:
        """Reset every open connection; returns how many."""
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.reset()
        self.stats.resets += len(links)
        return len(links)

    def heal(self) -> None:
        held = self.mode == "blackhole"
        self.set_mode("pass")
        if held:
            self.reset()

    def open_connections(self) -> int:
        with self._lock:
            return sum(1 for link in self._links if not link.closed)

    def close(self) -> None:
        self._stop.set()
        try:
            self._listener.close()
        except OSError:
            pass
        self.reset()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    # -- forwarding -------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            link = _Link(client, upstream)
            with self._lock:
                self._links.append(link)
            self.stats.accepted += 1
            for src, dst, way in ((client, upstream, "up"), (upstream, client, "down")):
                threading.Thread(
                    target=self._pump, args=(link, src, dst), name=f"{self.name}-{way}", daemon=True
                ).start()

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket) -> None:
        # Waits in select() with a short timeout, never in a blocking recv(): a socket closed by reset()
        # while a thread sits in recv() would only really close (and send its RST) once that recv returned.
        while not link.closed:
            try:
                ready, _, _ = select.select([src], [], [], POLL_S)
                if not ready:
                    continue
                data = src.recv(CHUNK)
            except (OSError, ValueError):
                break
            if not data:  # the sender closed its side: pass the end of file on
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                break
            mode = self.mode
            if mode == "blackhole":
                continue
            if mode == "latency" and self.latency_ms > 0:
                time.sleep(self.latency_ms / 1000.0)
            try:
                dst.sendall(data)
            except OSError:
                break
