"""EventPublisher: every TickStockPL event goes to pub-sub AND to a bounded Redis Stream.

Delivery contract (the contract in ``contract/``):

* ``PUBLISH <channel> <json>`` for live subscribers (at-most-once, server-wide).
* ``XADD stream:<channel> MAXLEN ~ STREAM_MAXLEN * data <json>`` in the flows database
  (Redis DB 14 by default) so an offline TickStockApp can catch up with a consumer group
  (XREADGROUP/XACK). ``STREAM_MAXLEN`` is 10 000: approximate trimming (``~``) keeps *at least*
  the newest 10 000 entries per channel, so memory stays bounded under any publish rate.
* Both commands go in one MULTI/EXEC, so a message is on the stream iff it was published.
* An event type listed in ``ALSO_PUBLISHED_ON`` goes, as the SAME message (one message_id, one
  sequence number), to its primary channel (``EVENT_CHANNELS``) and to each extra channel and its
  stream, all in that one MULTI/EXEC (``daily_sync_complete``: the cache channel and the automation
  channel). ``Published.channel``/``stream_id`` are the primary's.

Every message is one JSON object: ``timestamp`` (ISO-8601 with UTC offset, taken immediately
before the publish, so ``receive time - timestamp`` is the delivery latency), ``service``,
``event_type``, a unique ``message_id``, ``producer_id`` and a per-producer monotonic
``sequence`` (1, 2, 3, ... for one EventPublisher), plus the event's ``data``. Each message is
validated against its JSON Schema (``contract/schemas/<event_type>.json``) before it leaves.

``publish_many`` sends a batch the same way in one round trip (the tick processor's path: at
thousands of ticks per second the per-message round trip, not the work, would set the latency).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import redis
from jsonschema import Draft202012Validator
from redis.cluster import RedisCluster
from referencing import Registry, Resource

# The JSON Schemas are the contract's (``contract/schemas``, owned by the acceptance suite); the
# reference producer validates against the same files before publishing.
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "contract" / "schemas"
SCHEMA_BASE = "https://schemas.tickstock.local/events/"
STREAM_PREFIX = "stream:"
STREAM_MAXLEN = 10_000
REDIS_DB_FLOWS = 14

# The producer's channel configuration (the original's REDIS_CHANNELS): what TickStockApp
# subscribes to. The suite's environment validation (ENV-3) reads it from the producer.
CHANNELS = {
    "universe_updated": "tickstock.universe.updated",
    "cache_sync_complete": "tickstock.cache.sync_complete",
    "etf_correlation_update": "tickstock.etf.correlation_update",
    "ipo_assignment": "tickstock.cache.ipo_assignment",
    "delisting_cleanup": "tickstock.cache.delisting_cleanup",
    "pattern_detected": "tickstock.patterns.detected",
    "realtime_bar": "tickstock.realtime.bar",
    "realtime_threshold": "tickstock.realtime.threshold",
    "eod_completion": "tickstock.eod.completion",
    "automation_events": "tickstock.automation.events",
}
CHANNEL_UNIVERSE_UPDATED = CHANNELS["universe_updated"]
CHANNEL_PATTERN_DETECTED = CHANNELS["pattern_detected"]
CHANNEL_REALTIME_BAR = CHANNELS["realtime_bar"]
CHANNEL_REALTIME_THRESHOLD = CHANNELS["realtime_threshold"]
CHANNEL_CACHE_SYNC_COMPLETE = CHANNELS["cache_sync_complete"]
CHANNEL_ETF_CORRELATION = CHANNELS["etf_correlation_update"]
CHANNEL_IPO_ASSIGNMENT = CHANNELS["ipo_assignment"]
CHANNEL_DELISTING_CLEANUP = CHANNELS["delisting_cleanup"]
CHANNEL_EOD_COMPLETION = CHANNELS["eod_completion"]
CHANNEL_AUTOMATION = CHANNELS["automation_events"]

# Which channel each event type travels on.
EVENT_CHANNELS = {
    "universe_expansion_complete": CHANNEL_UNIVERSE_UPDATED,
    "theme_updated": CHANNEL_UNIVERSE_UPDATED,
    "pattern_detected": CHANNEL_PATTERN_DETECTED,
    "minute_bar": CHANNEL_REALTIME_BAR,
    "price_threshold_crossed": CHANNEL_REALTIME_THRESHOLD,
    "eod_complete": CHANNEL_EOD_COMPLETION,
    "ipo_listed": CHANNEL_AUTOMATION,
    "daily_sync_complete": CHANNEL_CACHE_SYNC_COMPLETE,
    "universe_synchronized": CHANNEL_UNIVERSE_UPDATED,
    "ipo_assignment": CHANNEL_IPO_ASSIGNMENT,
    "delisting_cleanup": CHANNEL_DELISTING_CLEANUP,
    "etf_correlation_update": CHANNEL_ETF_CORRELATION,
}

# Event types that ALSO travel on further channels: the same message (message_id, sequence), sent to
# the primary channel and these in one MULTI/EXEC (PUBLISH + XADD each).
ALSO_PUBLISHED_ON: dict[str, tuple[str, ...]] = {
    "daily_sync_complete": (CHANNEL_AUTOMATION,),
}


class InvalidEvent(ValueError):
    """An event does not match its JSON Schema (a producer bug: it is never published)."""


def stream_key(channel: str) -> str:
    return STREAM_PREFIX + channel


CHANNEL_PREFIX_PATTERN = re.compile(r"^[a-z0-9_]{1,32}[.:]$")


def check_channel_prefix(prefix: str) -> str:
    """A channel namespace: empty (the spec's names) or up to 32 of a-z 0-9 _ ending in '.' or ':'."""
    if prefix and not CHANNEL_PREFIX_PATTERN.match(prefix):
        raise ValueError(f"channel prefix {prefix!r}: give up to 32 of a-z, 0-9, _ ending in '.' or ':' "
                         f"(e.g. w1.), or nothing for the spec's channel names")
    return prefix


def namespaced_stream(key: str, prefix: str) -> str:
    """The stream of a channel in a namespace: ``stream:<channel>`` becomes ``stream:<prefix><channel>``."""
    return STREAM_PREFIX + prefix + key[len(STREAM_PREFIX):] if prefix else key


def channels_of(event_type: str) -> tuple[str, ...]:
    """Every channel an event type is published on: its primary channel first (KeyError if unknown)."""
    return (EVENT_CHANNELS[event_type], *ALSO_PUBLISHED_ON.get(event_type, ()))


@cache
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        resources.append((SCHEMA_BASE + path.name, Resource.from_contents(json.loads(path.read_text()))))
    return Registry().with_resources(resources)


@cache
def validator(event_type: str) -> Draft202012Validator:
    """The validator for one event type (raises KeyError for an unknown type)."""
    uri = SCHEMA_BASE + f"{event_type}.json"
    try:
        schema = _registry()[uri].contents
    except Exception:  # referencing raises its own NoSuchResource
        raise KeyError(f"no JSON Schema for event type {event_type!r} in {SCHEMA_DIR}") from None
    return Draft202012Validator(schema, registry=_registry())


def schema_errors(message: dict) -> list[str]:
    """Why ``message`` does not match the schema of its ``event_type`` (empty list: it matches)."""
    event_type = message.get("event_type") if isinstance(message, dict) else None
    if not isinstance(event_type, str):
        return ["message has no string event_type"]
    try:
        v = validator(event_type)
    except KeyError as exc:
        return [str(exc)]
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in v.iter_errors(message)]


def _entry_id(value) -> str:
    """A stream entry id as text (a client without decode_responses returns bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Published:
    message_id: str
    sequence: int
    channel: str
    stream_id: str
    receivers: int
    also: tuple[tuple[str, str], ...] = ()  # (channel, stream_id) of each extra channel (ALSO_PUBLISHED_ON)


class EventPublisher:
    """Publishes schema-valid events for one producer instance (thread-safe)."""

    def __init__(self, client: redis.Redis, service: str, producer_id: str | None = None,
                 channel_prefix: str = "") -> None:
        self.client = client
        self.service = service
        # A namespace before every channel (and so every stream) name: two runs, or a run and a staging
        # TickStockApp, on one Redis server do not hear each other (pub-sub ignores the logical database).
        self.channel_prefix = check_channel_prefix(channel_prefix)
        self.producer_id = producer_id or (
            f"{service}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
        self._sequence = itertools.count(1)
        self.published_count = 0  # messages that went out (PUBLISH + XADD both done): the acknowledgement
        # Sequence numbers taken by a send that raised (Redis unreachable, connection lost): never
        # acknowledged; whether Redis applied them before the fault is unknown (indeterminate).
        self.unacknowledged: list[int] = []
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Open the Redis connection now (best effort: a failure is reported by the first publish).

        redis-py connects on the first command, and a message's timestamp is taken just before its
        send: a command's first message then carried the TCP connect and the client handshake, about
        2 ms here against about 0.2 ms for the messages after it, which alone made the p99 of a
        burst's delivery several times raw pub-sub's (found by timing delivery by position in the
        burst). A command calls this before its real work, so the connection is ready by then.
        """
        try:
            self.client.ping()
        except (redis.RedisError, OSError):
            pass

    def build(self, event_type: str, data: dict) -> dict:
        return {
            "event_type": event_type,
            "service": self.service,
            "producer_id": self.producer_id,
            "message_id": uuid.uuid4().hex,
            "sequence": 0,
            "timestamp": "",
            "data": data,
        }

    def publish(self, event_type: str, data: dict) -> Published:
        """Validate, then PUBLISH + XADD in one transaction; raises InvalidEvent or redis errors."""
        channel = EVENT_CHANNELS.get(event_type)
        if channel is None:
            raise InvalidEvent(f"unknown event type {event_type!r}")
        channel = self.channel_prefix + channel
        with self._lock:  # sequence order == publish order
            message = self.build(event_type, data)
            message["sequence"] = next(self._sequence)
            message["timestamp"] = now_iso()
            self.validate(message)
            message["timestamp"] = now_iso()  # the publish time, after the validation cost
            payload = json.dumps(message, separators=(",", ":"))
            extra = tuple(self.channel_prefix + c for c in ALSO_PUBLISHED_ON.get(event_type, ()))
            try:
                if extra:  # the same message on every channel, in one MULTI/EXEC
                    results = self.send_many([(c, payload) for c in (channel, *extra)])
                    receivers, stream_id = results[0]
                else:
                    receivers, stream_id = self.send(channel, payload)
            except Exception:
                self.unacknowledged.append(message["sequence"])
                raise
            self.published_count += 1
        also = tuple((c, str(r[1])) for c, r in zip(extra, results[1:], strict=True)) if extra else ()
        return Published(message["message_id"], message["sequence"], channel, str(stream_id), int(receivers),
                         also)

    def publish_many(self, events: list[tuple[str, dict]]) -> list[Published]:
        """Publish several events (in order) with one round trip: what a high-rate producer uses.

        Every message is validated first (any invalid one raises InvalidEvent and NOTHING of the
        batch goes out, no sequence number is used); then all get consecutive sequence numbers and
        one publish timestamp (taken after the validation cost, immediately before the send) and go
        out in one MULTI/EXEC (``send_many``): each message is on its stream iff it was published.
        """
        if not events:
            return []
        if type(self).publish is not EventPublisher.publish:  # a variant's publish holds for batches too
            return [self.publish(event_type, data) for event_type, data in events]
        channels = []
        for event_type, _data in events:
            channel = EVENT_CHANNELS.get(event_type)
            if channel is None:
                raise InvalidEvent(f"unknown event type {event_type!r}")
            channels.append(self.channel_prefix + channel)
        with self._lock:
            messages = [self.build(event_type, data) for event_type, data in events]
            stamp = now_iso()
            for message in messages:
                message["sequence"] = 1  # provisional: the real one is taken once all are valid
                message["timestamp"] = stamp
                self.validate(message)
            stamp = now_iso()
            for message in messages:
                message["sequence"] = next(self._sequence)
                message["timestamp"] = stamp
            items, spans = [], []
            for channel, message in zip(channels, messages, strict=True):
                payload = json.dumps(message, separators=(",", ":"))
                targets = (channel, *(self.channel_prefix + c
                                      for c in ALSO_PUBLISHED_ON.get(message["event_type"], ())))
                spans.append((len(items), targets))
                items.extend((c, payload) for c in targets)
            try:
                results = self.send_many(items)
            except Exception:
                self.unacknowledged.extend(m["sequence"] for m in messages)
                raise
            self.published_count += len(messages)
        out = []
        for m, (start, targets) in zip(messages, spans, strict=True):
            receivers, stream_id = results[start]
            also = tuple((c, str(results[start + k][1])) for k, c in enumerate(targets[1:], 1))
            out.append(Published(m["message_id"], m["sequence"], targets[0], str(stream_id), int(receivers),
                                 also))
        return out

    def validate(self, message: dict) -> None:
        """A message that does not match its JSON Schema is a producer bug: it is never published."""
        errors = schema_errors(message)
        if errors:
            raise InvalidEvent(f"{message['event_type']} does not match its schema: {'; '.join(errors)}")

    def transaction(self, key: str):
        """A MULTI/EXEC pipeline where ``key`` lives: on one server the client's own; on a Redis Cluster
        a plain connection to the node owning ``key``'s slot (redis-py's cluster pipeline refuses
        PUBLISH, and a PUBLISH on any node reaches subscribers on every node)."""
        client = self.client
        if isinstance(client, RedisCluster):
            client = client.get_redis_connection(client.get_node_from_key(key))
        return client.pipeline(transaction=True)

    def send(self, channel: str, payload: str) -> tuple[int, str]:
        """PUBLISH for live subscribers and XADD (bounded) for offline ones, atomically."""
        pipe = self.transaction(stream_key(channel))
        pipe.publish(channel, payload)
        pipe.xadd(stream_key(channel), {"data": payload}, maxlen=STREAM_MAXLEN, approximate=True)
        receivers, stream_id = pipe.execute()
        return int(receivers), _entry_id(stream_id)

    def send_many(self, items: list[tuple[str, str]]) -> list[tuple[int, str]]:
        """``send`` for several (channel, payload) pairs in one MULTI/EXEC (one round trip).

        A publisher whose ``send`` is overridden (a variant that changes how one message is
        delivered) gets its own ``send`` per message here, so the override holds for batches too.
        """
        if type(self).send is not EventPublisher.send or not self._one_slot(items):
            # (on a Redis Cluster, streams in different slots cannot share a MULTI: each message
            # goes out with its own, PUBLISH + XADD still atomic per channel)
            return [self.send(channel, payload) for channel, payload in items]
        pipe = self.transaction(stream_key(items[0][0]))
        for channel, payload in items:
            pipe.publish(channel, payload)
            pipe.xadd(stream_key(channel), {"data": payload}, maxlen=STREAM_MAXLEN, approximate=True)
        replies = pipe.execute()
        return [(int(replies[i]), _entry_id(replies[i + 1])) for i in range(0, len(replies), 2)]

    def _one_slot(self, items: list[tuple[str, str]]) -> bool:
        """Every stream of ``items`` can be written in one MULTI (always, outside a cluster)."""
        if not isinstance(self.client, RedisCluster):
            return True
        return len({self.client.keyslot(stream_key(channel)) for channel, _ in items}) == 1
