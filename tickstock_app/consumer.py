"""What TickStockApp consumes, and what it keeps: validation, dead letters, the view, the listeners.

Two paths, both on the contract's channel names (``contract/messaging.json``):

* **live** — a pub-sub subscription to every channel of the contract. Each valid message is
  announced once: pushed to the server-sent-events hub, counted in ``consumed``.
* **durable** — the consumer group ``tickstock_app`` (consumer = the instance name) on
  ``stream:tickstock.universe.updated`` (XREADGROUP; the group is created with MKSTREAM at ``$``
  when missing, at ``0`` when it vanished while running, e.g. a Redis restarted without
  persistence). A ``theme_updated`` / ``universe_expansion_complete`` entry makes the app re-read
  the universe(s) with ``SELECT get_etf_universe(theme, false)`` and update its view; the entry is
  XACKed only after that (never before). While the database is down the entry stays pending and
  is retried (own pending entries, ``XREADGROUP ... 0``) once the database answers again. A
  message seen on both paths (the producer sends each to both) is announced once (by message_id).

Every message is checked before anything else: size (> 64 KiB is refused unread), UTF-8, JSON,
an object, a string ``event_type`` with a schema in ``contract/schemas`` (the app loads the
contract itself with jsonschema + referencing: it is a separate system and imports nothing of the
producer), and the schema. A message that fails, or whose processing raises, goes to the
dead-letter stream ``tickstock_app:dead_letters`` (flows DB; fields ``channel``, ``reason`` (one
line), ``payload`` (first 4 KiB), ``received_at``) and consumption goes on. Dead letters that
cannot be written while Redis is down are kept (bounded) and written when it is back.

Each listener reconnects by itself after any Redis fault, with backoff (0.1 s doubling to 0.5 s),
and logs one line when it loses the connection and one when it is back. A silent connection (a
frozen server, a blackholed link) is detected by a PING on the idle subscription: no answer within
``DEAD_AFTER_S`` counts as a lost connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import redis.asyncio as aioredis
from jsonschema import Draft202012Validator
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from referencing import Registry, Resource

from .config import AppConfig
from .database import Database, DatabaseUnavailable, one_line

log = logging.getLogger("tickstock_app")

CONTRACT_DIR = Path(__file__).resolve().parents[1] / "contract"
SCHEMA_BASE = "https://schemas.tickstock.local/events/"
ENVELOPE = "envelope"
GROUP = "tickstock_app"
UNIVERSE_CHANNEL_KEY = "universe_updated"
DEAD_LETTER_STREAM = "tickstock_app:dead_letters"
DEAD_LETTER_MAXLEN = 10_000
DEAD_LETTER_BACKLOG = 1_000
MAX_PAYLOAD_BYTES = 64 * 1024
PAYLOAD_KEEP_BYTES = 4 * 1024
REASON_MAX = 500
VIEW_EVENTS = ("theme_updated", "universe_expansion_complete")
BACKOFF_START_S = 0.1
BACKOFF_MAX_S = 0.5
IDLE_PING_S = 1.0
DEAD_AFTER_S = 3.0
STREAM_BLOCK_MS = 1000
STREAM_COUNT = 100
PENDING_RETRY_S = 1.0
SEEN_IDS = 50_000
SOCKET_CONNECT_TIMEOUT_S = 1.0
SOCKET_TIMEOUT_S = 5.0  # above XREADGROUP's BLOCK


# -- the contract ---------------------------------------------------------------------------------

@cache
def contract_channels() -> dict[str, str]:
    """The contract's channels (name -> channel), from contract/messaging.json."""
    return dict(json.loads((CONTRACT_DIR / "messaging.json").read_text())["channels"])


def stream_prefix() -> str:
    return json.loads((CONTRACT_DIR / "messaging.json").read_text())["streams"]["key_prefix"]


@cache
def _registry() -> Registry:
    resources = [(SCHEMA_BASE + p.name, Resource.from_contents(json.loads(p.read_text())))
                 for p in sorted((CONTRACT_DIR / "schemas").glob("*.json"))]
    return Registry().with_resources(resources)


@cache
def known_event_types() -> frozenset[str]:
    return frozenset(p.stem for p in (CONTRACT_DIR / "schemas").glob("*.json") if p.stem != ENVELOPE)


@cache
def _validator(event_type: str) -> Draft202012Validator:
    schema = _registry()[SCHEMA_BASE + f"{event_type}.json"].contents
    return Draft202012Validator(schema, registry=_registry())


def clip(text: str, limit: int = REASON_MAX) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def check_message(raw: bytes | str) -> tuple[dict | None, str | None]:
    """``(message, None)`` for a valid notification, ``(None, reason)`` (one line) otherwise."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if len(data) > MAX_PAYLOAD_BYTES:
        return None, f"oversized: {len(data)} bytes > {MAX_PAYLOAD_BYTES}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, clip(f"not UTF-8: {exc}")
    try:
        message = json.loads(text)
    except ValueError as exc:
        return None, clip(f"not JSON: {exc}")
    if not isinstance(message, dict):
        return None, f"not a JSON object: {type(message).__name__}"
    if "event_type" not in message:
        return None, "missing required field: event_type"
    event_type = message["event_type"]
    if not isinstance(event_type, str):
        return None, f"wrong type: event_type is {type(event_type).__name__}, expected string"
    if event_type not in known_event_types():
        return None, clip(f"unknown event_type: {event_type!r}")
    errors = sorted(_validator(event_type).iter_errors(message), key=lambda e: list(e.absolute_path))
    if errors:
        parts = []
        for e in errors[:3]:
            where = "/".join(map(str, e.absolute_path)) or "<root>"
            kind = ("missing required field" if e.validator == "required"
                    else "wrong type" if e.validator == "type" else "invalid")
            parts.append(f"{kind}: {where}: {e.message}")
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        return None, clip(f"schema {event_type}: " + "; ".join(parts) + more)
    return message, None


# -- the view -------------------------------------------------------------------------------------

def themes_to_refresh(message: dict) -> list[str]:
    """The themes whose universe a (valid) message says changed."""
    data = message.get("data") or {}
    if message.get("event_type") == "theme_updated":
        return [data["theme"]]
    if message.get("event_type") == "universe_expansion_complete":
        return [t["theme"] for t in data.get("themes", []) if t.get("status") == "completed"]
    return []


def view_entry(universe: dict, message: dict) -> dict | None:
    """The view's entry for one theme from ``get_etf_universe``'s answer (None: not found)."""
    if not isinstance(universe, dict) or "error" in universe:
        return None
    symbols = list(universe.get("symbols") or [])
    return {"symbols": symbols, "symbol_count": len(symbols),
            "last_update": universe.get("last_updated") or message.get("timestamp"),
            "source_message_id": message.get("message_id")}


class View:
    """{theme: {symbols, symbol_count, last_update, source_message_id}}, built from notifications."""

    def __init__(self) -> None:
        self.themes: dict[str, dict] = {}
        self.updated_at: str | None = None

    def apply(self, theme: str, universe: dict, message: dict) -> dict | None:
        entry = view_entry(universe, message)
        if entry is None:
            self.themes.pop(theme, None)
        else:
            self.themes[theme] = entry
        self.updated_at = now_iso()
        return entry

    def as_dict(self) -> dict:
        return {"themes": dict(sorted(self.themes.items())), "updated_at": self.updated_at}


# -- server-sent events ---------------------------------------------------------------------------

@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class Hub:
    """Fans valid notifications out to the server-sent-events clients (a slow client is dropped)."""

    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()

    def subscribe(self) -> Subscriber:
        sub = Subscriber()
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def push(self, text: str) -> None:
        for sub in list(self.subscribers):
            try:
                sub.queue.put_nowait(text)
            except asyncio.QueueFull:
                log.warning("sse: a client fell 1000 notifications behind: disconnected")
                self.unsubscribe(sub)
                sub.closed.set()

    def close(self) -> None:
        """End every stream (the app is stopping)."""
        for sub in list(self.subscribers):
            sub.closed.set()
            try:
                sub.queue.put_nowait(None)
            except asyncio.QueueFull:
                pass  # the stream sees ``closed`` at its next item
        self.subscribers.clear()


# -- dead letters ---------------------------------------------------------------------------------

def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def dead_letter_fields(channel: str, reason: str, payload: bytes | str) -> dict[str, bytes | str]:
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else bytes(payload)
    return {"channel": channel, "reason": clip(reason), "payload": data[:PAYLOAD_KEEP_BYTES],
            "received_at": now_iso()}


class DeadLetters:
    """Writes dead letters to ``tickstock_app:dead_letters``; keeps them while Redis is down."""

    def __init__(self, client: aioredis.Redis, stream: str = DEAD_LETTER_STREAM) -> None:
        self.client = client
        self.stream = stream
        self.count = 0
        self.backlog: deque[dict] = deque(maxlen=DEAD_LETTER_BACKLOG)
        self._lock: asyncio.Lock | None = None

    async def record(self, channel: str, reason: str, payload: bytes | str) -> None:
        fields = dead_letter_fields(channel, reason, payload)
        self.count += 1
        log.warning("dead letter from %s: %s", channel, fields["reason"])
        self.backlog.append(fields)
        await self.flush()

    async def flush(self) -> None:
        """Write the backlog in order (one writer at a time: the listeners and the health loop call it)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            while self.backlog:
                try:
                    await self.client.xadd(self.stream, self.backlog[0], maxlen=DEAD_LETTER_MAXLEN,
                                           approximate=True)
                except (RedisError, OSError):
                    return  # kept; written when Redis answers again (the health loop calls flush)
                self.backlog.popleft()


# -- the consumer ---------------------------------------------------------------------------------

def redis_client(config: AppConfig) -> aioredis.Redis:
    """A client named ``tickstock_app.<instance>`` that fails fast (the listeners reconnect); with
    ``TICKSTOCK_APP_REDIS_CLUSTER=1`` a Redis Cluster client (its pub-sub hears a PUBLISH made on any
    node; each stream command goes to the node owning the stream's slot)."""
    if config.redis_cluster:
        return aioredis.RedisCluster(host=config.redis_host, port=config.redis_port,
                                     client_name=config.redis_client_name, retry=Retry(NoBackoff(), 0),
                                     socket_connect_timeout=SOCKET_CONNECT_TIMEOUT_S,
                                     socket_timeout=SOCKET_TIMEOUT_S, socket_keepalive=True)
    return aioredis.Redis(host=config.redis_host, port=config.redis_port, db=config.redis_db,
                          client_name=config.redis_client_name, retry=Retry(NoBackoff(), 0),
                          socket_connect_timeout=SOCKET_CONNECT_TIMEOUT_S, socket_timeout=SOCKET_TIMEOUT_S,
                          socket_keepalive=True)


REDIS_FAULTS = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)


class LostConnection(Exception):
    pass


class Consumer:
    """The pub-sub listener and the consumer-group reader, with dead letters and the view.

    Variants (``tests/broken/``) override ``handle_valid``, ``handle_invalid``, ``refresh_view``.
    """

    def __init__(self, config: AppConfig, database: Database, hub: Hub,
                 database_up: Callable[[], bool] = lambda: True) -> None:
        self.config = config
        self.database = database
        self.hub = hub
        self.database_up = database_up
        self.client = redis_client(config)
        self.dead_letters = DeadLetters(self.client, config.channel_prefix + DEAD_LETTER_STREAM)
        self.view = View()
        # The contract's names in the configured channel namespace (TICKSTOCK_APP_CHANNEL_PREFIX, the
        # producer's namespace; empty: the spec's names).
        prefix = config.channel_prefix
        self.channels = sorted({prefix + c for c in contract_channels().values()})
        self.stream = stream_prefix() + prefix + contract_channels()[UNIVERSE_CHANNEL_KEY]
        self.consumed = 0
        self.acked = 0
        self.last_notification_at: str | None = None
        self._announced: OrderedDict[str, None] = OrderedDict()
        self._tasks: list[asyncio.Task] = []
        self.listening = {"pubsub": False, "stream": False}
        self._lost_since: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._supervise("pubsub", self._listen_pubsub)),
                       asyncio.create_task(self._supervise("stream", self._read_stream))]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()

    async def _supervise(self, name: str, run: Callable) -> None:
        """Run a listener forever: on a fault log one line, back off, reconnect, log one line."""
        backoff = BACKOFF_START_S
        while True:
            try:
                await run(lambda: self._connected(name))
                return
            except asyncio.CancelledError:
                raise
            except (*REDIS_FAULTS, LostConnection, ResponseError) as exc:
                problem = one_line(exc) or type(exc).__name__
            except Exception as exc:  # noqa: BLE001 - a listener must never die
                problem = f"{type(exc).__name__}: {one_line(exc)}"
            if self.listening[name] or name not in self._lost_since:
                log.warning("redis %s: %s (%s); reconnecting", name,
                            "connection lost" if self.listening[name] else "cannot connect", problem)
                self._lost_since[name] = time.monotonic()
                backoff = BACKOFF_START_S
            self.listening[name] = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _connected(self, name: str) -> None:
        if not self.listening[name]:
            self.listening[name] = True
            lost_since = self._lost_since.pop(name, None)
            if lost_since is not None:
                log.warning("redis %s: reconnected after %.2f s", name, time.monotonic() - lost_since)

    # -- live: pub-sub ---------------------------------------------------------------------------

    async def _listen_pubsub(self, connected: Callable[[], None]) -> None:
        if isinstance(self.client, aioredis.RedisCluster):
            await self.client.initialize()  # the slot map first: a cluster pub-sub picks its node from it
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(*self.channels)
            last_heard = time.monotonic()
            pinged = False
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=False, timeout=IDLE_PING_S)
                now = time.monotonic()
                if msg is None:
                    if now - last_heard > DEAD_AFTER_S:
                        raise LostConnection(f"no answer to PING within {DEAD_AFTER_S:g} s")
                    if not pinged:
                        await pubsub.ping()
                        pinged = True
                    continue
                last_heard, pinged = now, False
                kind = msg.get("type")
                if kind == "subscribe" and msg.get("data") == len(self.channels):
                    connected()
                if kind != "message":
                    continue
                channel = msg["channel"].decode() if isinstance(msg["channel"], bytes) else msg["channel"]
                await self.receive(channel, msg["data"], durable=False)
        finally:
            try:
                await asyncio.wait_for(pubsub.aclose(), 1.0)
            except Exception:  # noqa: BLE001 - the connection is gone anyway
                pass

    # -- durable: the consumer group -------------------------------------------------------------

    async def _create_group(self, start_id: str) -> None:
        try:
            await self.client.xgroup_create(self.stream, GROUP, id=start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read_stream(self, connected: Callable[[], None]) -> None:
        await self._create_group("$")
        connected()
        check_pending = True  # after every (re)connect: entries delivered before a fault come first
        next_retry = 0.0
        while True:
            try:
                if check_pending and time.monotonic() >= next_retry:
                    reply = await self.client.xreadgroup(GROUP, self.config.instance, {self.stream: "0"},
                                                         count=STREAM_COUNT)
                    entries = reply[0][1] if reply else []
                    if not entries:
                        check_pending = False
                        continue
                else:
                    reply = await self.client.xreadgroup(GROUP, self.config.instance, {self.stream: ">"},
                                                         count=STREAM_COUNT, block=STREAM_BLOCK_MS)
                    entries = reply[0][1] if reply else []
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("redis stream: group %s on %s vanished (Redis restarted without persistence?); "
                            "recreated from the start of the stream", GROUP, self.stream)
                await self._create_group("0")
                continue
            left_pending = False
            for entry_id, fields in entries:
                done = await self._process_entry(entry_id, fields)
                if done:
                    await self.client.xack(self.stream, GROUP, entry_id)
                    self.acked += 1
                else:
                    left_pending = True
            if left_pending:
                check_pending = True
                next_retry = time.monotonic() + PENDING_RETRY_S

    async def _process_entry(self, entry_id, fields) -> bool:
        """True when the entry is done with (processed or dead-lettered): it may be acknowledged."""
        if not fields:  # trimmed away (MAXLEN) while pending: nothing left to process
            return True
        raw = fields.get(b"data", fields.get("data"))
        if raw is None:
            await self.handle_invalid(self.stream, "stream entry has no data field",
                                      json.dumps({k.decode() if isinstance(k, bytes) else k: (
                                          v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
                                          for k, v in fields.items()}))
            return True
        return await self.receive(self.stream, raw, durable=True)

    # -- one message -----------------------------------------------------------------------------

    async def receive(self, channel: str, raw: bytes | str, durable: bool) -> bool:
        """Check and handle one message; False only when it must be retried (database down)."""
        message, reason = check_message(raw)
        if message is None:
            await self.handle_invalid(channel, reason, raw)
            return True
        try:
            await self.handle_valid(channel, message, durable)
        except DatabaseUnavailable as exc:  # not the message's fault: retried from the pending entries
            log.debug("view update of %s deferred: %s", message.get("message_id"), exc)
            return not durable
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing notification must not take the app down
            reason = f"processing failed: {type(exc).__name__}: {one_line(exc)}"
            await self.handle_invalid(channel, reason, raw)
        return True

    async def handle_invalid(self, channel: str, reason: str, raw: bytes | str) -> None:
        await self.dead_letters.record(channel, reason, raw)

    async def handle_valid(self, channel: str, message: dict, durable: bool) -> None:
        self.announce(message)
        if durable and message["event_type"] in VIEW_EVENTS:
            await self.refresh_view(message)

    def announce(self, message: dict) -> None:
        """Count and push a valid notification once, whichever path brought it first."""
        message_id = message["message_id"]
        if message_id in self._announced:
            return
        self._announced[message_id] = None
        if len(self._announced) > SEEN_IDS:
            self._announced.popitem(last=False)
        self.consumed += 1
        self.last_notification_at = now_iso()
        self.hub.push(json.dumps(message, separators=(",", ":")))

    async def refresh_view(self, message: dict) -> None:
        """Re-read the universes the message names (as the app's identity) and update the view."""
        themes = themes_to_refresh(message)
        if themes and not self.database_up():
            raise DatabaseUnavailable("the database is down")
        for theme in themes:
            universe = await self.database.universe(theme, False)
            self.view.apply(theme, universe, message)
