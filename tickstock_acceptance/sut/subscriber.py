"""A TickStockApp-like consumer: what the consumer side of the message contract observes.

``AppSubscriber`` subscribes to channels (or patterns) on the run's Redis and records every
message with its receive time (wall clock, taken as the message is read off the socket by a
dedicated thread). Delivery latency = receive time - the producer's ``timestamp``.

``StreamCatchUp`` is an offline TickStockApp instance: it registers a consumer group on a
channel's stream (``stream:<channel>`` in the flows database, DB 14), may stay away while the
producer works, and later catches up with XREADGROUP/XACK — the contract's persistence path.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import redis
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tickstock_acceptance.config.paths import ROOT
from tickstock_acceptance.contract import CHANNEL_NAMING_PATTERN, CHANNELS, REDIS_DB_FLOWS
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem

# Contract facts shared with the producer (tickstock_producer.events; a unit test keeps them equal).
STREAM_KEY_PREFIX = "stream:"
UNIVERSE_CHANNEL = CHANNELS["universe_updated"]
# What RED-1's observer listens to: every channel whose name starts with "tickstock", so a misnamed
# TickStock channel (``tickstock:cache:x``) is still seen and judged, while unrelated traffic on a
# shared Redis (another application's channels) is not.
TICKSTOCK_CHANNEL_PATTERN = "tickstock*"


def stream_key(channel: str) -> str:
    return STREAM_KEY_PREFIX + channel


def parse_timestamp(text: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp that carries an offset (naive ones are rejected)."""
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return ts.timestamp()


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

    def latency_ms(self) -> float:
        return (self.received_at - parse_timestamp(self.message["timestamp"])) * 1000.0


def decode(channel: str, raw: str, received_at: float) -> Received:
    try:
        message = json.loads(raw)
        if not isinstance(message, dict):
            return Received(channel, raw, received_at, None, "not a JSON object")
        return Received(channel, raw, received_at, message)
    except json.JSONDecodeError as exc:
        return Received(channel, raw, received_at, None, f"not JSON: {exc}")


class AppSubscriber:
    """Subscribes like TickStockApp and records every message it receives."""

    def __init__(self, system: AcceptanceSystem, channels=(UNIVERSE_CHANNEL,), patterns=()) -> None:
        self.client = system.redis_client(REDIS_DB_FLOWS, socket_timeout=None)
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
            ps.subscribe(*self.channels)
        if self.patterns:
            ps.psubscribe(*self.patterns)
        wanted = len(self.channels) + len(self.patterns)
        confirmed = 0
        deadline = time.monotonic() + 5
        while confirmed < wanted and time.monotonic() < deadline:
            m = ps.get_message(timeout=0.5)
            if m and m["type"] in ("subscribe", "psubscribe"):
                confirmed += 1
        if confirmed < wanted:
            raise AssertionError("the consumer's subscription was not confirmed by Redis within 5 s")
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
            rec = decode(m["channel"], m["data"], now)
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


class StreamReader:
    """Reads a channel's stream in the flows database (what the producer persisted)."""

    def __init__(self, system: AcceptanceSystem, channel: str = UNIVERSE_CHANNEL) -> None:
        self.client = system.redis_client(REDIS_DB_FLOWS)
        self.channel = channel
        self.key = stream_key(channel)

    def all(self) -> list[Received]:
        out = []
        for _id, fields in self.client.xrange(self.key):
            out.append(decode(self.channel, fields.get("data", ""), 0.0))
        return out

    def from_producer(self, producer_id: str) -> list[Received]:
        return [r for r in self.all() if r.producer_id == producer_id]

    def length(self) -> int:
        return int(self.client.xlen(self.key))

    def stream_keys(self) -> list[str]:
        return sorted(self.client.scan_iter(match=STREAM_KEY_PREFIX + "*", _type="stream"))

    def everything(self) -> list[Received]:
        """Every message kept on every ``stream:<channel>`` of the flows database."""
        out = []
        for key in self.stream_keys():
            channel = key[len(STREAM_KEY_PREFIX):]
            out += [decode(channel, fields.get("data", ""), 0.0) for _id, fields in self.client.xrange(key)]
        return out


class StreamCatchUp:
    """An offline TickStockApp instance: a consumer group on the channel's stream."""

    def __init__(self, system: AcceptanceSystem, group: str, consumer: str = "app-1",
                 channel: str = UNIVERSE_CHANNEL) -> None:
        self.client = system.redis_client(REDIS_DB_FLOWS)
        self.key = stream_key(channel)
        self.channel = channel
        self.group = group
        self.consumer = consumer

    def register(self) -> None:
        """Join at the stream's current end (only what is published from now on is ours)."""
        try:
            self.client.xgroup_create(self.key, self.group, id="$", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def catch_up(self, batch: int = 100) -> list[Received]:
        """Read everything new for the group, acknowledging as it goes."""
        got: list[Received] = []
        while True:
            reply = self.client.xreadgroup(self.group, self.consumer, {self.key: ">"}, count=batch)
            entries = reply[0][1] if reply else []
            if not entries:
                return got
            for entry_id, fields in entries:
                got.append(decode(self.channel, fields.get("data", ""), time.time()))
                self.client.xack(self.key, self.group, entry_id)

    def pending(self) -> int:
        return int(self.client.xpending(self.key, self.group)["pending"])


def observe_tickstock_channels(system: AcceptanceSystem) -> AppSubscriber:
    """An observer of every TickStock channel (``TICKSTOCK_CHANNEL_PATTERN``), started."""
    return AppSubscriber(system, channels=(), patterns=(TICKSTOCK_CHANNEL_PATTERN,)).start()


def channel_follows_convention(channel: str) -> bool:
    return bool(CHANNEL_NAMING_PATTERN.match(channel))


# -- JSON Schemas of the messages (the contract files kept in the repo) ------------------------
SCHEMA_DIR = ROOT / "tickstock_producer" / "schemas"
SCHEMA_BASE = "https://schemas.tickstock.local/events/"


@cache
def _schema_registry() -> Registry:
    return Registry().with_resources(
        (SCHEMA_BASE + p.name, Resource.from_contents(json.loads(p.read_text())))
        for p in sorted(SCHEMA_DIR.glob("*.json")))


def schema_problems(rec: Received) -> list[str]:
    """Why a received message does not match the JSON Schema of its event type ([] if it does)."""
    if rec.message is None:
        return [rec.error or "not a JSON object"]
    event_type = rec.event_type
    if not isinstance(event_type, str):
        return ["no event_type"]
    uri = SCHEMA_BASE + f"{event_type}.json"
    try:
        schema = _schema_registry()[uri].contents
    except Exception:  # referencing.exceptions.NoSuchResource
        return [f"no JSON Schema for event type {event_type!r} in {SCHEMA_DIR}"]
    validator = Draft202012Validator(schema, registry=_schema_registry(),
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in validator.iter_errors(rec.message)]
    try:
        parse_timestamp(rec.message.get("timestamp", ""))
    except (TypeError, ValueError) as exc:
        problems.append(f"timestamp: {exc}")
    return problems
