"""A TickStockApp-like consumer: what the consumer side of the message contract observes.

``AppSubscriber`` subscribes to channels (or patterns) on the run's Redis and records every
message with its receive time (wall clock, taken as the message is read off the socket by a
dedicated thread). Delivery latency = receive time - the producer's ``timestamp``.

What the producer keeps on its streams, and consumer groups on them, are in ``sut.streams``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass

import redis

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.events import message_problems, parse_timestamp
from tickstock_acceptance.contract.messaging import (
    STREAM_DB,
    TICKSTOCK_CHANNEL_PATTERN,
    UNIVERSE_CHANNEL,
    contract_name,
    live,
)
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem


@dataclass
class Received:
    channel: str
    raw: str
    received_at: float  # epoch seconds
    message: dict | None = None
    error: str | None = None

    @property
    def event_type(self) -> str | None:
        return self.message.get("event_type") if isinstance(self.message, dict) else None

    @property
    def producer_id(self) -> str | None:
        return self.message.get("producer_id") if isinstance(self.message, dict) else None

    @property
    def message_id(self) -> str | None:
        return self.message.get("message_id") if isinstance(self.message, dict) else None

    def latency_ms(self) -> float:
        return (self.received_at - parse_timestamp(self.message["timestamp"])) * 1000.0

    def problems(self) -> list[str]:
        """Why this message breaks the contract's schema for its event type ([] if it does not)."""
        return [self.error] if self.message is None else message_problems(self.message)


def decode(channel: str, raw: str, received_at: float) -> Received:
    try:
        message = json.loads(raw)
        if not isinstance(message, dict):
            return Received(channel, raw, received_at, None, "not a JSON object")
        return Received(channel, raw, received_at, message)
    except json.JSONDecodeError as exc:
        return Received(channel, raw, received_at, None, f"not JSON: {exc}")


class AppSubscriber:
    """Subscribes like TickStockApp and records every message it receives. Channels and patterns are
    the contract's names: subscribed in the run's namespace, recorded under the contract's name."""

    def __init__(self, system: AcceptanceSystem, channels=(UNIVERSE_CHANNEL,), patterns=()) -> None:
        self.client = system.redis_client(STREAM_DB, socket_timeout=None)
        self.channels = tuple(channels)
        self.patterns = tuple(patterns)
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pubsub = None

    def start(self) -> AppSubscriber:
        ps = self._pubsub = self.client.pubsub()
        if self.channels:
            ps.subscribe(*(live(c) for c in self.channels))
        if self.patterns:
            ps.psubscribe(*(live(p) for p in self.patterns))
        wanted = len(self.channels) + len(self.patterns)
        confirmed = 0
        wait_s = M.deadline(M.SUBSCRIBE_DEADLINE_S)
        deadline = time.monotonic() + wait_s
        while confirmed < wanted and time.monotonic() < deadline:
            m = ps.get_message(timeout=0.5)
            if m and m["type"] in ("subscribe", "psubscribe"):
                confirmed += 1
        if confirmed < wanted:
            raise AssertionError("the consumer's subscription was not confirmed by Redis "
                                 f"within {wait_s:g} s")
        self._thread = threading.Thread(target=self._loop, name="app-subscriber", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        ps = self._pubsub
        while not self._stop.is_set():
            try:
                m = ps.get_message(timeout=0.1)
            except (redis.ConnectionError, ValueError):
                break
            if not m or m["type"] not in ("message", "pmessage"):
                continue
            now = time.time()
            rec = decode(contract_name(m["channel"]), m["data"], now)
            with self._lock:
                self.received.append(rec)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._pubsub is not None:
            self._pubsub.close()
        self.client.close()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def from_producer(self, producer_id: str) -> list[Received]:
        return [r for r in self.snapshot() if r.producer_id == producer_id]

    def wait_for_count(self, producer_id: str, count: int, deadline_s: float) -> list[Received]:
        wait_until(lambda: len(self.from_producer(producer_id)) >= count, deadline_s,
                   f"the consumer receiving {count} messages from producer {producer_id}")
        return self.from_producer(producer_id)

    def settle(self, producer_id: str, persisted: int, deadline_s: float = 5.0) -> list[Received]:
        """Wait until everything the producer persisted to its stream has arrived live too.

        Returns what arrived even when the deadline passes (the caller judges completeness).
        """
        try:
            return self.wait_for_count(producer_id, persisted, deadline_s)
        except AssertionError:
            return self.from_producer(producer_id)


def observe_tickstock_channels(system: AcceptanceSystem) -> AppSubscriber:
    """An observer of every TickStock channel (``TICKSTOCK_CHANNEL_PATTERN``), started."""
    return AppSubscriber(system, channels=(), patterns=(TICKSTOCK_CHANNEL_PATTERN,)).start()


class SlowSubscriber:
    """A TickStockApp instance subscribed to a channel that never reads what arrives (stuck, or far
    too slow). The server queues its messages in the client's output buffer and, past
    ``client-output-buffer-limit pubsub``, closes the connection. A plain socket with a small
    receive buffer (what redis-py would read into memory stays in the kernel instead) keeps the
    server's buffer growing; ``cut_off`` notices the close the way the instance itself would (its
    socket reaches end of file, or is reset) after seeing it gone from the server's client list."""

    RECEIVE_BUFFER = 4096

    def __init__(self, system: AcceptanceSystem, name: str, channel: str = UNIVERSE_CHANNEL) -> None:
        self.system = system
        self.name = name
        endpoint = system.redis_endpoint
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RECEIVE_BUFFER)
        self.sock.settimeout(M.deadline(M.SUBSCRIBE_DEADLINE_S))
        self.sock.connect((endpoint.host, endpoint.port))
        self.sock.sendall(_resp("SELECT", str(STREAM_DB)) + _resp("CLIENT", "SETNAME", name)
                          + _resp("SUBSCRIBE", channel))
        wait_until(self.connected_on_server, M.deadline(M.SUBSCRIBE_DEADLINE_S),
                   f"the slow subscriber {name} connected")
        self.reported: str | None = None

    def connected_on_server(self) -> bool:
        admin = self.system.redis_client(STREAM_DB)
        try:
            return any(c.get("name") == self.name for c in admin.client_list())
        finally:
            admin.close()

    def cut_off(self) -> bool:
        """True once the server has closed the connection and the subscriber has noticed it."""
        if self.reported is not None:
            return True
        if self.connected_on_server():
            return False
        self.sock.settimeout(2)
        try:
            while self.sock.recv(65536):
                pass  # what the server sent before it closed the connection
            self.reported = "the server closed the connection (end of file)"
        except OSError as exc:  # reset by the server, or no end of file within the timeout
            self.reported = f"the connection failed: {type(exc).__name__}: {exc}"
        return True

    def close(self) -> None:
        self.sock.close()


def _resp(*parts: str) -> bytes:
    """One Redis command in the wire protocol (RESP)."""
    out = f"*{len(parts)}\r\n".encode()
    for part in parts:
        data = part.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out
