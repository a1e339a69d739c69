"""What the resilience scenarios keep running, and how they watch it, while the suite faults servers.

* ``ProducerLoop``: the producer as a service, ``expand --repeat-until-stopped --keep-going`` in
  its own process: it writes every theme round after round, reports a failed round (a failed
  theme, the database or Redis unreachable) in its JSON report and goes on, each round on a new
  database connection. Its report lists every round (``status``, ``error``, wall-clock bounds of
  its writes), how many messages it published (``published_count``: the acknowledgement) and the
  sequence numbers of sends that raised (``unacknowledged_sequences``: Redis may or may not have
  applied them before the fault, so they are neither owed nor unexpected).
* ``UniversePoller``: a TickStockApp client asking for one universe (``GET
  /api/universes/<theme>``) again and again, recording when each query was sent, when it
  finished and its HTTP status.
* ``DurableRedis``: makes the run's own Redis durable for one scenario (``CONFIG SET appendonly
  yes``, ``appendfsync always``, once its AOF rewrite is done; every restart of the server in the
  scenario starts it with ``--appendonly yes --appendfsync always``) and restores it afterwards.
  The run's Redis is not durable otherwise: fsync on every write would slow every other feature.
* ``bad_notifications`` / ``inject``: malformed and failing notifications the suite injects on
  the live universe channel and on its stream (fault injection into TickStockApp, not a delivery
  check), each carrying a marker so its dead letter can be found.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import uuid
from dataclasses import dataclass, field

import redis

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.messaging import STREAM_DB, UNIVERSE_CHANNEL, live, namespaced, stream_key
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import BackgroundCommand, ProducerController, ProducerRun
from tickstock_acceptance.sut.subscriber import Received, decode
from tickstock_acceptance.sut.tickstock_app import TickStockAppController

DEAD_LETTER_STREAM = "tickstock_app:dead_letters"   # TickStockApp's dead letters (flows database)
APP_GROUP = "tickstock_app"                          # TickStockApp's consumer group on the universe stream
ETF_MANAGER_SERVICE = "tickstock_pl.etf_universe_manager"


def entry_ms(entry_id: str) -> int:
    """The server time (epoch ms) a stream entry was added, from its id."""
    return int(str(entry_id).partition("-")[0])


def stream_entries_after(client: redis.Redis, key: str, after_id: str = "0-0") -> list[tuple[str, Received]]:
    """The entries of ``key`` after ``after_id`` (exclusive), decoded."""
    return [(eid, decode(key, fields.get("data", ""), entry_ms(eid) / 1000.0))
            for eid, fields in client.xrange(key, min=f"({after_id}" if after_id != "0-0" else "-")]


def last_entry_id(client: redis.Redis, key: str) -> str:
    last = client.xrevrange(key, count=1)
    return last[0][0] if last else "0-0"


# -- the producer as a service ------------------------------------------------------------------
@dataclass
class LoopReport:
    """What the background producer reported when it was stopped."""

    run: ProducerRun

    @property
    def producer_id(self) -> str:
        return str(self.run.report.get("producer_id") or "")

    @property
    def rounds(self) -> list[dict]:
        return [r for r in self.run.report.get("rounds", []) if isinstance(r, dict)]

    @property
    def published_count(self) -> int:
        return int(self.run.report.get("published_count") or 0)

    @property
    def unacknowledged(self) -> set[int]:
        return {int(s) for s in self.run.report.get("unacknowledged_sequences") or []}

    def acknowledged(self) -> dict[str, set[int]]:
        """Producer id → the sequences it acknowledged: every number it took, but those whose send raised."""
        if not self.producer_id:
            return {}
        taken = range(1, self.published_count + len(self.unacknowledged) + 1)
        return {self.producer_id: {s for s in taken if s not in self.unacknowledged}}


class ProducerLoop:
    """``expand --repeat-until-stopped --keep-going`` of every theme, in its own process."""

    def __init__(self, system: AcceptanceSystem, producer: ProducerController) -> None:
        self.system = system
        self.command = BackgroundCommand(
            producer, "expand", "--repeat-until-stopped", "--keep-going",
            "--retry-interval", f"{M.RECOVERY_RETRY_INTERVAL_S:g}",
            "--max-seconds", f"{M.deadline(M.RECOVERY_PRODUCER_MAX_S):g}")
        self.report: LoopReport | None = None

    def start(self) -> ProducerLoop:
        """Start it; returns once its first round's notification is on the universe stream."""
        client = self.system.redis_client(STREAM_DB)
        key = stream_key(UNIVERSE_CHANNEL)
        try:
            before = last_entry_id(client, key)

            def first_round_announced() -> bool:
                return any(r.event_type == "universe_expansion_complete"
                           and (r.message or {}).get("service") == ETF_MANAGER_SERVICE
                           and r.received_at >= self.command.started_at - 1
                           for _eid, r in stream_entries_after(client, key, before))

            self.command.start(first_round_announced,
                               "the background producer's first round on the universe stream")
        finally:
            client.close()
        return self

    @property
    def running(self) -> bool:
        return self.command.running

    def stop(self) -> LoopReport | None:
        run = self.command.stop()
        if run is not None and self.report is None:
            self.report = LoopReport(run)
        return self.report


# -- a TickStockApp client --------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    sent_at: float      # wall clock, epoch s
    done_at: float
    status: int         # HTTP status; 0 when no answer came
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


class UniversePoller:
    """Asks TickStockApp for one universe again and again (``GET /api/universes/<theme>``)."""

    def __init__(self, app: TickStockAppController, theme: str = M.RECOVERY_THEME) -> None:
        self.app = app
        self.theme = theme
        self.queries: list[Query] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> UniversePoller:
        self._thread = threading.Thread(target=self._loop, name="tickstock-app-poller", daemon=True)
        self._thread.start()
        return self

    def wait_for_an_answer(self) -> None:
        """Until TickStockApp has answered one query (the universe exists once the producer wrote it)."""
        wait_until(lambda: any(q.ok for q in self.snapshot()), M.deadline(M.ISOLATION_DEADLINE_S),
                   f"TickStockApp answering GET /api/universes/{self.theme}")

    def _loop(self) -> None:
        while not self._stop.is_set():
            sent = time.time()
            try:
                status, body = self.app.get_json(f"/api/universes/{self.theme}",
                                                 timeout_s=M.RECOVERY_QUERY_TIMEOUT_S)
                error = "" if status == 200 else str(body)[:200]
            except (OSError, urllib.error.URLError) as exc:
                status, error = 0, f"{type(exc).__name__}: {exc}"[:200]
            with self._lock:
                self.queries.append(Query(sent, time.time(), status, error))
            self._stop.wait(M.RECOVERY_POLL_S)

    def snapshot(self) -> list[Query]:
        with self._lock:
            return list(self.queries)

    def stop(self) -> list[Query]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=M.RECOVERY_QUERY_TIMEOUT_S + 2)
        return self.snapshot()


# -- a durable Redis for one scenario -----------------------------------------------------------
class DurableRedis:
    """The run's Redis with ``appendonly yes`` and ``appendfsync always`` until ``restore``."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.server = system.redis
        self.enabled = False

    def _client(self) -> redis.Redis:
        return self.system.redis_client(STREAM_DB)

    def enable(self) -> None:
        client = self._client()
        try:
            self.enabled = True
            self.server.durable = True  # every restart from now on: --appendonly yes --appendfsync always
            client.config_set("appendfsync", "always")
            client.config_set("appendonly", "yes")

            def rewritten() -> bool:
                info = client.info("persistence")
                return (int(info.get("aof_enabled", 0)) == 1
                        and not int(info.get("aof_rewrite_in_progress", 0))
                        and not int(info.get("aof_rewrite_scheduled", 0)))

            wait_until(rewritten, M.deadline(M.REDIS_DURABLE_DEADLINE_S),
                       "Redis writing its append-only file")
        finally:
            client.close()

    def settings(self) -> dict[str, str]:
        client = self._client()
        try:
            return {k: str(v) for k, v in client.config_get("append*").items()
                    if k in ("appendonly", "appendfsync")}
        finally:
            client.close()

    def restore(self) -> None:
        """Back to the run's usual non-durable Redis (the server keeps running)."""
        if not self.enabled:
            return
        self.enabled = False
        self.server.durable = False
        if self.server.running:
            client = self._client()
            try:
                client.config_set("appendonly", "no")
                client.config_set("appendfsync", "everysec")
            finally:
                client.close()


# -- malformed and failing notifications ------------------------------------------------------
BAD_KINDS = ("malformed JSON", "missing required fields", "wrong types", "oversized", "unknown event type")
OVERSIZE_BYTES = 80 * 1024   # above TickStockApp's 64 KiB limit


def bad_notifications(marker: str) -> dict[str, str]:
    """One payload of each bad kind, each starting with its own marker (kept in the dead letter's
    first 4 KiB)."""
    stamp = "2026-01-01T00:00:00.000000+00:00"

    def envelope(kind: str, **over) -> dict:
        message = {"injected": f"{marker}:{kind}", "event_type": "theme_updated",
                   "service": "suite-fault-injection", "producer_id": "suite-fault-injection",
                   "message_id": uuid.uuid4().hex, "sequence": 1,
                   "timestamp": stamp, "data": {"theme": "sectors", "symbol_count": 1, "action": "updated",
                                                "cache_key": "etf_sectors"}}
        message.update(over)
        return message

    return {
        "malformed JSON": '{"injected": "' + marker + ':malformed JSON", "event_type": "theme_updated", '
                          '"data": {',
        "missing required fields": json.dumps({"injected": f"{marker}:missing required fields",
                                               "event_type": "theme_updated", "timestamp": stamp}),
        "wrong types": json.dumps(envelope("wrong types", sequence="one", data={
            "theme": "sectors", "symbol_count": "many", "action": "updated", "cache_key": "etf_sectors"})),
        "oversized": json.dumps(envelope("oversized", padding="x" * OVERSIZE_BYTES)),
        "unknown event type": json.dumps(envelope("unknown event type", event_type="res_unknown_event")),
    }


@dataclass(frozen=True)
class Injected:
    kind: str
    path: str         # the channel, or the stream key
    marker: str       # "<marker>:<kind>", found at the start of the dead letter's payload
    stream_id: str = ""


@dataclass
class Injection:
    """What the suite injected, and the stream entries it must remove again."""

    items: list[Injected] = field(default_factory=list)

    def stream_ids(self) -> list[str]:
        return [i.stream_id for i in self.items if i.stream_id]


def inject(client: redis.Redis, marker: str, channel: str = UNIVERSE_CHANNEL) -> Injection:
    """Publish each bad notification on ``channel`` and append it to the channel's stream."""
    injection = Injection()
    key = stream_key(channel)
    for kind, payload in bad_notifications(marker).items():
        client.publish(live(channel), payload)
        injection.items.append(Injected(kind, channel, f"{marker}:{kind}"))
        entry = client.xadd(key, {"data": payload})
        injection.items.append(Injected(kind, key, f"{marker}:{kind}", str(entry)))
    return injection


def dead_letters_after(client: redis.Redis, after_id: str) -> list[dict]:
    """TickStockApp's dead letters written after ``after_id``: {id, channel, reason, payload}."""
    out = []
    start = f"({after_id}" if after_id != "0-0" else "-"
    for eid, fields in client.xrange(namespaced(DEAD_LETTER_STREAM), min=start):
        out.append({"id": eid, **{k: (v if isinstance(v, str) else str(v)) for k, v in fields.items()}})
    return out


def app_group_last_delivered(client: redis.Redis, key: str | None = None) -> str:
    """The last entry TickStockApp's consumer group was given ("0-0" when there is no group); ``key``
    defaults to the universe stream."""
    key = key or stream_key(UNIVERSE_CHANNEL)
    try:
        groups = client.xinfo_groups(key)
    except redis.ResponseError:
        return "0-0"
    for g in groups:
        if g.get("name") == APP_GROUP:
            return str(g.get("last-delivered-id") or "0-0")
    return "0-0"


def app_group_position(client: redis.Redis, key: str | None = None,
                       consumer: str | None = None) -> dict:
    """Where TickStockApp's consumer group stands: entries pending (the group's, or one consumer's), the
    last entry it was given, and the stream's last entry. Judged on positions, not on XINFO's ``lag``
    (which stays above zero after a restart from the append-only file, and after XDEL, although the
    group has read to the end)."""
    key = key or stream_key(UNIVERSE_CHANNEL)
    groups = {g.get("name"): g for g in client.xinfo_groups(key)} if client.exists(key) else {}
    group = groups.get(APP_GROUP) or {}
    pending = int(group.get("pending") or 0)
    if group and consumer is not None:
        consumers = {c.get("name"): c for c in client.xinfo_consumers(key, APP_GROUP)}
        pending = int((consumers.get(consumer) or {}).get("pending") or 0)
    return {"group": bool(group), "pending": pending,
            "last_delivered": str(group.get("last-delivered-id") or "0-0"),
            "last_entry": last_entry_id(client, key)}


def app_group_at_end(position: dict) -> bool:
    """The group has been given the stream's last entry and acknowledged everything it was given."""
    return (position["group"] and not position["pending"]
            and position["last_delivered"] == position["last_entry"])
