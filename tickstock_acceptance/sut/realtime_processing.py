"""The producer's real-time path as the suite drives and observes it: tick stream in, events out.

* ``TickProcessor``: the producer's ``process-ticks`` command as a background process
  (``BackgroundCommand``). It counts as started once its Redis connection, named
  ``tickstock_pl.tick_processor`` (CLIENT SETNAME), shows in CLIENT LIST; it is stopped with
  SIGTERM and prints its JSON report (``ticks_processed``, ``published_count``, ...).
* ``RawObserver``: a TickStockApp-like subscriber to the realtime channels that does as little as
  possible per event (it records the channel, the raw payload and the wall time it read it off the
  socket, nothing else), so that a busy suite does not add to the latency it measures; payloads
  are parsed after the measurement (``parsed``).
* ``clean_realtime_streams``: removes the contract's tick stream and the realtime event streams
  (``stream:<channel>``) in the flows database, and nothing else.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import redis

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.messaging import (
    BAR_CHANNEL,
    STREAM_DB,
    THRESHOLD_CHANNEL,
    TICK_STREAM,
    contract_name,
    live,
    namespaced,
    stream_key,
)
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import BackgroundCommand, ProducerController, ProducerRun

PROCESSOR_CLIENT_NAME = "tickstock_pl.tick_processor"
REALTIME_CHANNELS = (BAR_CHANNEL, THRESHOLD_CHANNEL)


def realtime_keys() -> list[str]:
    """The keys a real-time measurement owns in the flows database."""
    return [namespaced(TICK_STREAM), *(stream_key(c) for c in REALTIME_CHANNELS)]


def clean_realtime_streams(client: redis.Redis) -> int:
    """Delete the tick stream and the realtime event streams (only those keys); how many existed."""
    return int(client.delete(*realtime_keys()))


class TickProcessor:
    """The producer's tick processor, running in its own process until stopped."""

    def __init__(self, system: AcceptanceSystem, producer: ProducerController) -> None:
        self.system = system
        self.command = BackgroundCommand(producer, "process-ticks", "--max-seconds",
                                         f"{M.deadline(M.REALTIME_PROCESSOR_MAX_S):g}")

    def connected(self) -> bool:
        """Its named connection is in the server's client list."""
        admin = self.system.redis_client(STREAM_DB)
        try:
            return any(c.get("name") == PROCESSOR_CLIENT_NAME for c in admin.client_list())
        finally:
            admin.close()

    def start(self) -> TickProcessor:
        self.command.start(self.connected, f"the tick processor's Redis client {PROCESSOR_CLIENT_NAME} "
                                           "in CLIENT LIST")
        return self

    @property
    def running(self) -> bool:
        return self.command.running

    def stop(self) -> ProducerRun | None:
        """SIGTERM and its report (safe to call twice)."""
        return self.command.stop()


@dataclass(frozen=True, slots=True)
class RawEvent:
    channel: str
    payload: str
    received_at: float   # epoch seconds, taken as the message came off the socket


class RawObserver:
    """Subscribed to the realtime channels; records raw payloads and receive times only."""

    def __init__(self, system: AcceptanceSystem, channels=REALTIME_CHANNELS) -> None:
        self.client = system.redis_client(STREAM_DB, socket_timeout=None)
        self.channels = tuple(channels)
        self.events: list[RawEvent] = []   # appended by one thread only (list.append is atomic)
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pubsub = None

    def start(self) -> RawObserver:
        ps = self._pubsub = self.client.pubsub(ignore_subscribe_messages=False)
        ps.subscribe(*(live(c) for c in self.channels))
        confirmed = set()
        wait_s = M.deadline(M.SUBSCRIBE_DEADLINE_S)

        def all_confirmed() -> bool:
            m = ps.get_message(timeout=0.1)
            if m and m["type"] == "subscribe":
                confirmed.add(contract_name(m["channel"]))
            return confirmed >= set(self.channels)

        wait_until(all_confirmed, wait_s, f"Redis confirming the subscription to {', '.join(self.channels)}")
        self._thread = threading.Thread(target=self._loop, name="realtime-observer", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        ps, events, stop = self._pubsub, self.events, self._stop
        while not stop.is_set():
            try:
                m = ps.get_message(timeout=0.05)
            except (redis.ConnectionError, ValueError) as exc:
                if not stop.is_set():
                    self.error = f"{type(exc).__name__}: {exc}"
                return
            if m is not None and m["type"] == "message":
                events.append(RawEvent(contract_name(m["channel"]), m["data"], time.time()))

    def count(self) -> int:
        return len(self.events)

    def stop(self) -> list[RawEvent]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None
        self.client.close()
        return list(self.events)


def parsed(event: RawEvent) -> dict | None:
    """The event's JSON object, or None when it is not one."""
    try:
        value = json.loads(event.payload)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
