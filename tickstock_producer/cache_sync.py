"""CacheSynchronizer: TickStockPL's end-of-day cache synchronization (the five tasks, the service loop).

The rules are the contract's (``contract/reference/cache_sync.json``, ``contract/messaging.json`` →
``cache_sync``); this module reads them from there.

**The EOD signal.** The EOD job (``automation.EodJob``) publishes one ``eod_complete``
``{trading_date, symbols_processed}`` on ``tickstock.eod.completion``; the publisher appends it to
``stream:tickstock.eod.completion`` (flows database). The synchronizer reads that stream with the
consumer group ``cache_synchronizer`` (consumer ``cache_synchronizer``; created with ``XGROUP CREATE
... 0 MKSTREAM`` at start, so a signal sent while it was down is still read): its own pending entries
first (``XREADGROUP ... 0``: a signal it read but did not finish before a crash or a fault), then new
ones (``>``). A sync NEVER starts without a signal. Per signal:

* a message that is not a schema-valid ``eod_complete`` is logged and acknowledged (XACK), nothing runs;
* ``INSERT INTO cache_sync_runs (scope, trading_date, ...) ON CONFLICT (scope, trading_date) DO
  NOTHING``: when nothing is inserted the day already ran in this scope: a **duplicate** is logged
  (one line), acknowledged and does nothing else (no task, no message). Exception: a run row of the
  SAME signal still ``running`` (an earlier attempt died half-way: the entry stayed pending) is taken
  over and the tasks run again (they are idempotent; the change rows already committed stay);
* otherwise the five tasks run (below), the run row gets ``finished_at``, ``status`` (``failed`` if
  any task failed), ``task_summary`` and ``total_changes``, the messages go out, and only THEN is the
  signal acknowledged. A database or Redis fault in between leaves it pending: it is retried.

Syncs of one scope are serialized across processes by a session advisory lock on the scope.

**Scope.** ``universe_prefix`` U (production ``''``) and ``symbol_prefix`` P (production ``''``):
only ``symbols`` rows whose symbol starts with P are read, only universes whose name starts with U
are written (ETF universes are only read). A *scoped universe* is a ``cache_entries`` row of type
``stock_universe`` or ``theme_universe`` whose name starts with U (``key = name``, environment
``DEFAULT``). Every row written has ``key = name``, ``value = {"symbols": [sorted]}`` and is written
only when its member set changed (or it is new), with ``last_universe_update = now()``.

**Tiers** (min <= cap < max): large_cap >= 10e9, mid_cap 2e9..10e9, small_cap 300e6..2e9,
micro_cap below 300e6 (no tier universe; only in IPO universe names). **Seasoned** symbol: active,
``market_cap`` not null, ``list_date`` null or <= trading_date - 30 days. Ordering "by market cap":
market_cap descending, ties by symbol (code point order).

**Tasks**, in this order, each in its own transaction (its cache_entries writes and its change rows
commit together; a task that raises is rolled back and reported ``failed`` with its error's first
line; the later tasks still run):

1. ``market_cap_recalculation``: U+large_cap / mid_cap / small_cap (seasoned symbols by tier) and
   U+top_100 / top_500 (the largest seasoned symbols). Refuses (raises ``no active symbols in scope
   ...: refusing to empty the universes``) when the scope has no active symbol.
2. ``ipo_universe_assignment``: reads the ``ipo_listed`` entries of ``stream:tickstock.automation.events``
   with the group ``cache_synchronizer`` (own pending first, then new ones, non-blocking). Each announced
   symbol that starts with P, exists, is active and is in no scoped universe goes into
   U+ipo_{tier}_{sector_slug} (tier of ``symbols.market_cap``, else of the announcement's, else
   micro_cap; a sector that is not one of the 11 → ``other``); a symbol announced twice counts once
   (first announcement). Every entry read (also the automation stream's other messages) is
   acknowledged after the task's transaction committed; then one ``ipo_assignment`` per symbol.
3. ``delisted_cleanup``: removes from every scoped universe each member starting with P that is
   inactive (``reason: inactive``) or has no ``symbols`` row (``missing``); members outside P are left
   alone. Refuses (``symbols has no rows in scope ...: refusing to remove every member``) when no
   symbol starts with P: an empty table must not wipe the universes. After commit one
   ``delisting_cleanup`` per removed symbol (every universe it left).
4. ``theme_rebalancing``: for each of the 11 sectors, U+theme_{sector_slug} = the 25 largest
   seasoned symbols of that sector (an empty list when it has none); seasoned symbols of any other
   (or no) sector make U+theme_other. Same refusal as task 1.
5. ``etf_universe_maintenance`` (**the correlation rule**): for every ``etf_universe`` row (any
   name, read only; theme = its name without a leading ``etf_``, cache_key its key ``etf_<theme>``):
   D = the last 31 (window_days + 1) distinct dates <= trading_date on which ``ohlcv_daily`` has a
   bar of any member; included = the members with a bar on EVERY date of D whose returns have non-zero
   variance. If len(D) < 11 (min_common_days + 1) or fewer than 2 members are included the theme is
   skipped (no row, no message). Returns r_t = close_t / close_{t-1} - 1 over consecutive dates of D;
   Pearson correlation (``statistics.correlation``) of every pair (a, b), a < b, rounded to 4
   decimals; average_correlation = mean of the rounded values, rounded to 4. Stored as
   U+etf_correlation_{theme} (type ``etf_correlation``, category ``ETF_CORRELATION``, value = the
   message's data) and published as one ``etf_correlation_update`` when the stored value is new or its
   symbols, pairs or average changed (run_id and trading_date do not count as a change). P does not
   apply to ETF members.

**Change log** (``cache_sync_changes``): one ``added`` / ``removed`` row per member, one ``created``
row (symbol NULL) per universe row created — the ETF correlation rows included — and one
``correlation_updated`` row (symbol NULL, detail ``{pairs: n}``) per ETF correlation row written.

**Messages** (through ``EventPublisher``, each validated against its schema): ``ipo_assignment`` and
``delisting_cleanup`` right after their task commits, ``etf_correlation_update`` after task 5, then
one ``daily_sync_complete`` (on ``tickstock.cache.sync_complete`` AND ``tickstock.automation.events``,
the same message), then one ``universe_synchronized`` per universe with a change row (on
``tickstock.universe.updated``).

**Service** (``serve``): faults of the database or Redis are logged (one line), the connections are
reset and the loop goes on after 0.5 s; it never dies. SIGTERM/SIGINT finish the current sync.
``sync_once`` handles the signals pending or arriving within a timeout and returns.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg2
import redis
from psycopg2.extras import Json, execute_values

from .events import EventPublisher, namespaced_stream, now_iso, schema_errors
from .market import REFERENCE, tier_of

CONTRACT_DIR = Path(__file__).resolve().parents[1] / "contract"
CACHE_SYNC = json.loads((CONTRACT_DIR / "messaging.json").read_text())["cache_sync"]
EOD = CACHE_SYNC["eod_signal"]
AUTOMATION = CACHE_SYNC["automation"]
EOD_STREAM: str = EOD["stream"]
AUTOMATION_STREAM: str = AUTOMATION["stream"]
GROUP: str = EOD["consumer_group"]
CONSUMER: str = EOD["consumer"]
IPO_GROUP: str = AUTOMATION["ipo_consumer_group"]
SIGNAL_EVENT: str = EOD["event_type"]
IPO_EVENT: str = AUTOMATION["ipo_event"]
SYNC_EVENT: str = AUTOMATION["sync_event"]
SERVICE = "tickstock_pl.cache_synchronizer"

TASKS: tuple[str, ...] = tuple(REFERENCE["tasks"])
TIER_UNIVERSES: tuple[str, ...] = tuple(REFERENCE["tier_universes"])
TOP_N: tuple[int, ...] = tuple(REFERENCE["top_n"])
SECTOR_LEADERS = int(REFERENCE["sector_leaders"])
IPO_WINDOW_DAYS = int(REFERENCE["ipo_window_days"])
WINDOW_DAYS = int(REFERENCE["correlation"]["window_days"])
MIN_COMMON_DAYS = int(REFERENCE["correlation"]["min_common_days"])
DECIMALS = int(REFERENCE["correlation"]["decimals"])
SECTOR_SLUGS: dict[str, str] = dict(REFERENCE["sectors"])
OTHER_SECTOR = "other"
NAMES = REFERENCE["universes"]
CHANGE_TYPES = ("added", "removed", "created", "correlation_updated")
SCOPED_TYPES = ("stock_universe", "theme_universe")
THEME_NAME = re.compile(r"^[a-z][a-z_]*$")  # an ETF theme name (update_etf_universe's rule)

BLOCK_MS = 100                 # the service's XREADGROUP BLOCK on the EOD stream
RETRY_S = 0.5                  # pause after a database or Redis fault
IPO_READ_COUNT = 10_000        # announcements read per XREADGROUP
LOCK_CLASS = 73_142_026        # pg_advisory_lock(class, hashtext(scope)): one sync per scope at a time

# Members of a universe row, whatever its value holds (a malformed value reads as no members).
MEMBERS_SQL = ("jsonb_array_elements_text(CASE WHEN jsonb_typeof(e.value -> 'symbols') = 'array' "
               "THEN e.value -> 'symbols' ELSE '[]'::jsonb END)")


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def log(line: str) -> None:
    print(f"cache_sync: {line}", file=sys.stderr, flush=True)


def universe_name(kind: str, prefix: str = "", **parts) -> str:
    return NAMES[kind].format(prefix=prefix, **parts)


def sector_slug(sector: str | None) -> str:
    return SECTOR_SLUGS.get(sector or "", OTHER_SECTOR)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ---- the correlation rule (pure) ------------------------------------------------------------------

def returns_of(closes: list[float]) -> list[float]:
    return [b / a - 1 for a, b in zip(closes, closes[1:], strict=False)]


def correlations(closes: dict[str, list[float]], decimals: int = DECIMALS):
    """(included symbols, [[a, b, r], ...], average) for series of closes on the same dates.

    Included: the symbols whose returns have non-zero variance (sorted). Pairs a < b with the Pearson
    correlation of their returns rounded to ``decimals``; the average of the rounded values, rounded.
    Fewer than 2 included: ``(included, [], None)``.
    """
    rets = {s: returns_of(c) for s, c in closes.items()}
    included = sorted(s for s, r in rets.items() if len(r) >= 2 and len(set(r)) > 1)
    pairs = []
    for i, a in enumerate(included):
        for b in included[i + 1:]:
            pairs.append([a, b, round(statistics.correlation(rets[a], rets[b]), decimals)])
    if not pairs:
        return included, [], None
    return included, pairs, round(sum(p[2] for p in pairs) / len(pairs), decimals)


# ---- what a run handles ------------------------------------------------------------------------

@dataclass
class Change:
    task: str
    change_type: str
    universe: str
    symbol: str | None = None
    detail: dict | None = None


@dataclass
class TaskOutput:
    changes: list[Change] = field(default_factory=list)
    notices: list[tuple[str, dict]] = field(default_factory=list)  # published after the commit
    ack_ids: list[str] = field(default_factory=list)  # automation stream entries, XACKed after the commit


@dataclass
class TaskResult:
    task: str
    status: str  # completed | failed
    changes: int = 0
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Signal:
    stream_id: str
    message: dict | None
    problem: str | None = None

    @property
    def data(self) -> dict:
        return (self.message or {}).get("data") or {}

    @property
    def trading_date(self) -> date:
        return date.fromisoformat(self.data["trading_date"])


@dataclass
class SyncContext:
    run_id: int
    trading_date: date
    universe_prefix: str
    symbol_prefix: str
    signal: Signal

    @property
    def seasoned_by(self) -> date:
        return self.trading_date - timedelta(days=IPO_WINDOW_DAYS)

    def scope_text(self) -> str:
        return f"(symbol prefix {self.symbol_prefix!r}, universe prefix {self.universe_prefix!r})"


class TaskRefused(RuntimeError):
    """A task that would do harm on this data (an empty scope) refuses and fails."""


REDIS_FAULTS = (redis.ConnectionError, redis.TimeoutError)
FAULTS = (psycopg2.OperationalError, psycopg2.InterfaceError, *REDIS_FAULTS, OSError)


class CacheSynchronizer:
    """Runs the day's cache sync for one scope once per EOD signal (see the module docstring).

    Variants override ``next_signal``, ``run_sync``, the five task methods (``<task>(cur, ctx) ->
    TaskOutput``), ``summarize``, ``publish_results`` and ``publish_ipo_assignment``.
    """

    def __init__(self, connect: Callable[[], psycopg2.extensions.connection], client: redis.Redis,
                 publisher: EventPublisher, universe_prefix: str = "", symbol_prefix: str = "") -> None:
        self.connect = connect
        self.client = client
        self.publisher = publisher
        self.universe_prefix = universe_prefix
        self.symbol_prefix = symbol_prefix
        # the signal streams in the publisher's channel namespace (the spec's names without one)
        prefix = getattr(publisher, "channel_prefix", "")
        self.eod_stream = namespaced_stream(EOD_STREAM, prefix)
        self.automation_stream = namespaced_stream(AUTOMATION_STREAM, prefix)
        self._conn = None
        self._check_pending = True

    # ---- connections and groups ------------------------------------------------------------------

    def db(self):
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
        return self._conn

    def reset(self) -> None:
        """Forget the connections after a fault (the next use reconnects); re-read own pending entries."""
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                pass
        self._conn = None
        self._check_pending = True
        try:
            self.client.connection_pool.disconnect()
        except (redis.RedisError, OSError):
            pass

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def setup(self) -> None:
        """XGROUP CREATE on the EOD and the automation stream (id 0, MKSTREAM; BUSYGROUP ignored)."""
        for stream, group in ((self.eod_stream, GROUP), (self.automation_stream, IPO_GROUP)):
            try:
                self.client.xgroup_create(stream, group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def _readgroup(self, stream: str, group: str, start: str, count: int, block_ms: int | None = None):
        kwargs = {"block": block_ms} if block_ms else {}  # no BLOCK at all when 0: BLOCK 0 waits forever
        try:
            reply = self.client.xreadgroup(group, CONSUMER, {stream: start}, count=count, **kwargs)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log(f"group {group} on {stream} is missing (Redis restarted?): created again from id 0")
            self.setup()
            reply = self.client.xreadgroup(group, CONSUMER, {stream: start}, count=count, **kwargs)
        return reply[0][1] if reply else []

    # ---- signals -----------------------------------------------------------------------------------

    def next_signal(self, block_ms: int = BLOCK_MS) -> Signal | None:
        """The next EOD signal: own pending entries first, then a new one (waiting up to block_ms)."""
        if self._check_pending:
            entries = self._readgroup(self.eod_stream, GROUP, "0", 1)
            if entries:
                return self.parse_signal(*entries[0])
            self._check_pending = False
        entries = self._readgroup(self.eod_stream, GROUP, ">", 1, block_ms)
        return self.parse_signal(*entries[0]) if entries else None

    @staticmethod
    def parse_signal(entry_id, fields) -> Signal:
        stream_id = _text(entry_id)
        raw = (fields or {}).get(b"data", (fields or {}).get("data"))
        if raw is None:
            return Signal(stream_id, None, "stream entry has no data field (trimmed or foreign)")
        try:
            message = json.loads(raw)
        except ValueError as exc:
            return Signal(stream_id, None, f"not JSON: {exc}")
        problems = schema_errors(message)
        if not problems and message.get("event_type") != SIGNAL_EVENT:
            problems = [f"event_type {message.get('event_type')!r}, expected {SIGNAL_EVENT}"]
        if not problems:
            try:
                date.fromisoformat(message["data"]["trading_date"])
            except ValueError as exc:
                problems = [f"data/trading_date: {exc}"]
        return Signal(stream_id, message, "; ".join(problems) if problems else None)

    def ack_signal(self, signal: Signal) -> None:
        self.client.xack(self.eod_stream, GROUP, signal.stream_id)

    def handle(self, signal: Signal) -> dict:
        """Handle one signal and acknowledge it; the event line the service prints."""
        if signal.problem is not None:
            log(f"invalid signal {signal.stream_id} acknowledged, nothing run: {signal.problem}")
            self.ack_signal(signal)
            return {"event": "invalid", "stream_id": signal.stream_id, "reason": signal.problem}
        event = self.run_sync(signal)
        self.ack_signal(signal)
        return event

    # ---- one sync ----------------------------------------------------------------------------------

    def run_sync(self, signal: Signal) -> dict:
        conn = self.db()
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, self.universe_prefix))
        try:
            claimed = self.claim_run(conn, signal)
            if isinstance(claimed, dict):  # a duplicate
                log(f"duplicate signal {signal.data.get('trading_date')} (message {claimed['signal_id']}): "
                    f"run {claimed['run_id']} already {claimed['status']} for this scope; acknowledged, "
                    f"nothing run")
                return claimed
            ctx = SyncContext(claimed, signal.trading_date, self.universe_prefix, self.symbol_prefix, signal)
            results = [self.run_task(conn, name, ctx) for name in TASKS]
            counts = self.change_counts(conn, ctx.run_id)
            for r in results:
                r.changes = counts["by_task"].get(r.task, 0)
            summary = self.summarize(results)
            with conn, conn.cursor() as cur:
                cur.execute("""UPDATE cache_sync_runs
                                  SET finished_at = clock_timestamp(), status = %s, task_summary = %s,
                                      total_changes = %s
                                WHERE run_id = %s RETURNING started_at, finished_at""",
                            (summary["status"], Json(summary["task_summary"]), counts["total"], ctx.run_id))
                started_at, finished_at = cur.fetchone()
            duration = round((finished_at - started_at).total_seconds(), 6)
            report = {
                "run_id": ctx.run_id, "trading_date": ctx.trading_date.isoformat(),
                "scope": self.universe_prefix, "status": summary["status"],
                "total_changes": counts["total"], "task_summary": summary["task_summary"],
                "changes_by_type": counts["by_type"], "universes_changed": len(counts["universes"]),
                "started_at": started_at.isoformat(), "finished_at": finished_at.isoformat(),
                "duration_s": duration, "signal_id": signal.message["message_id"],
            }
            self.publish_results(ctx, report, counts["universes"])
            return {"event": "sync", "trading_date": report["trading_date"], "run_id": ctx.run_id,
                    "status": report["status"], "duration_s": duration, "total_changes": counts["total"],
                    "failed_tasks": [r.task for r in results if r.status == "failed"]}
        finally:
            if not conn.closed:
                try:
                    with conn, conn.cursor() as cur:
                        cur.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))",
                                    (LOCK_CLASS, self.universe_prefix))
                except psycopg2.Error:
                    pass

    def claim_run(self, conn, signal: Signal) -> int | dict:
        """The run id to sync under, or the duplicate's event line when the day already ran."""
        message = signal.message
        with conn, conn.cursor() as cur:
            cur.execute("""INSERT INTO cache_sync_runs (scope, trading_date, signal_id, signal_stream_id,
                                                        signal_sent_at)
                           VALUES (%s, %s, %s, %s, %s)
                           ON CONFLICT (scope, trading_date) DO NOTHING RETURNING run_id""",
                        (self.universe_prefix, signal.trading_date, message["message_id"], signal.stream_id,
                         message["timestamp"]))
            row = cur.fetchone()
            if row is not None:
                return row[0]
            cur.execute("""SELECT run_id, status, signal_id FROM cache_sync_runs
                           WHERE scope = %s AND trading_date = %s""",
                        (self.universe_prefix, signal.trading_date))
            run_id, status, signal_id = cur.fetchone()
            if status == "running" and signal_id == message["message_id"]:
                log(f"run {run_id} of signal {signal_id} was left running (an earlier attempt failed): "
                    f"running its tasks again")
                return run_id
        return {"event": "duplicate", "trading_date": signal.trading_date.isoformat(), "run_id": run_id,
                "status": status, "signal_id": message["message_id"], "first_signal_id": signal_id}

    def run_task(self, conn, name: str, ctx: SyncContext) -> TaskResult:
        """One task in its own transaction, its change rows with it; then its acks and messages."""
        t0 = time.perf_counter()
        try:
            with conn, conn.cursor() as cur:
                out = getattr(self, name)(cur, ctx) or TaskOutput()
                self.write_changes(cur, ctx, out.changes)
                for event_type, data in out.notices:  # a message that could not go out fails the task
                    self.check_notice(event_type, data)
        except Exception as exc:  # noqa: BLE001 - a failing task is reported, the others still run
            if conn.closed or isinstance(exc, (psycopg2.InterfaceError, *REDIS_FAULTS)):
                raise  # the connection is gone: the sync stops here and is retried (signal still pending)
            log(f"run {ctx.run_id} task {name} failed: {first_line(exc)}")
            return TaskResult(name, "failed", 0, first_line(exc), time.perf_counter() - t0)
        self.after_commit(name, ctx, out)
        return TaskResult(name, "completed", len(out.changes), None, time.perf_counter() - t0)

    def after_commit(self, task: str, ctx: SyncContext, out: TaskOutput) -> None:
        if out.ack_ids:
            self.client.xack(self.automation_stream, IPO_GROUP, *out.ack_ids)
        other = []
        for event_type, data in out.notices:
            if event_type == "ipo_assignment":
                self.publish_ipo_assignment(data)
            else:
                other.append((event_type, data))
        if other:
            self.publisher.publish_many(other)

    def check_notice(self, event_type: str, data: dict) -> None:
        """Raise InvalidEvent, before the task commits, for a message that would fail its schema."""
        message = self.publisher.build(event_type, data)
        message.update(sequence=1, timestamp=now_iso())
        self.publisher.validate(message)

    def publish_ipo_assignment(self, data: dict) -> None:
        self.publisher.publish("ipo_assignment", data)

    @staticmethod
    def write_changes(cur, ctx: SyncContext, changes: list[Change]) -> None:
        if changes:
            execute_values(cur, """INSERT INTO cache_sync_changes
                                   (run_id, task, change_type, universe, symbol, detail) VALUES %s""",
                           [(ctx.run_id, c.task, c.change_type, c.universe, c.symbol,
                             Json(c.detail) if c.detail is not None else None) for c in changes],
                           page_size=2000)

    def change_counts(self, conn, run_id: int) -> dict:
        """The run's change rows, counted: total, by task, by type, and per universe (category,
        actions, member count now)."""
        with conn, conn.cursor() as cur:
            cur.execute("""SELECT task, change_type, universe, count(*) FROM cache_sync_changes
                           WHERE run_id = %s GROUP BY 1, 2, 3""", (run_id,))
            rows = cur.fetchall()
            names = sorted({r[2] for r in rows})
            cur.execute(f"""SELECT e.name, e.universe_category, (SELECT count(*) FROM {MEMBERS_SQL})
                            FROM cache_entries e
                            WHERE e.type IN ('stock_universe', 'theme_universe', 'etf_correlation')
                              AND e.name = ANY(%s) AND e.key = e.name AND e.environment = 'DEFAULT'""",
                        (names,))
            rows_now = {name: (category, int(n)) for name, category, n in cur.fetchall()}
        by_task, by_type = Counter(), Counter()
        universes: dict[str, dict] = {}
        for task, change_type, universe, n in rows:
            by_task[task] += n
            by_type[change_type] += n
            u = universes.setdefault(universe, {"actions": dict.fromkeys(CHANGE_TYPES, 0)})
            u["actions"][change_type] = u["actions"].get(change_type, 0) + n
        for name, u in universes.items():
            category, members = rows_now.get(name, ("STOCK", 0))
            u.update(universe=name, universe_category=category, symbol_count=members,
                     change_count=sum(u["actions"].values()))
        return {"total": sum(by_type.values()), "by_task": dict(by_task),
                "by_type": dict(sorted(by_type.items())),
                "universes": [universes[n] for n in sorted(universes)]}

    def summarize(self, results: list[TaskResult]) -> dict:
        """``{status, task_summary}``: failed when any task failed; every task with status and changes."""
        summary = {}
        for r in results:
            entry = {"status": r.status, "changes": r.changes}
            if r.error is not None:
                entry["error"] = r.error
            summary[r.task] = entry
        status = "completed" if all(r.status == "completed" for r in results) else "failed"
        return {"status": status, "task_summary": summary}

    def publish_results(self, ctx: SyncContext, report: dict, universes: list[dict]) -> None:
        """``daily_sync_complete`` (both channels), then a ``universe_synchronized`` per changed universe."""
        self.publisher.publish(SYNC_EVENT, report)
        self.publisher.publish_many([("universe_synchronized", {
            "run_id": ctx.run_id, "trading_date": ctx.trading_date.isoformat(), "universe": u["universe"],
            "universe_category": u["universe_category"], "change_count": u["change_count"],
            "actions": {k: u["actions"].get(k, 0) for k in CHANGE_TYPES}, "symbol_count": u["symbol_count"],
        }) for u in universes])

    # ---- shared reads and writes ------------------------------------------------------------------

    def _scope_counts(self, cur) -> tuple[int, int]:
        cur.execute("""SELECT count(*), count(*) FILTER (WHERE active) FROM symbols
                       WHERE starts_with(symbol, %s)""", (self.symbol_prefix,))
        total, active = cur.fetchone()
        return int(total), int(active)

    def _require_active(self, cur, ctx: SyncContext) -> None:
        if self._scope_counts(cur)[1] == 0:
            raise TaskRefused(f"no active symbols in scope {ctx.scope_text()}: "
                              "refusing to empty the universes")

    def _seasoned(self, cur, ctx: SyncContext) -> list[tuple[str, Decimal, str | None]]:
        """(symbol, market_cap, sector) of the seasoned symbols in scope, by market cap (desc), symbol."""
        cur.execute("""SELECT symbol, market_cap, sector FROM symbols
                       WHERE starts_with(symbol, %s) AND active AND market_cap IS NOT NULL
                         AND (list_date IS NULL OR list_date <= %s)""",
                    (self.symbol_prefix, ctx.seasoned_by))
        rows = cur.fetchall()
        rows.sort(key=lambda r: (-r[1], r[0]))
        return rows

    def _existing(self, cur, type_: str, names: list[str]) -> dict[str, list[str]]:
        cur.execute("""SELECT name, value -> 'symbols' FROM cache_entries
                       WHERE type = %s AND name = ANY(%s) AND key = name AND environment = 'DEFAULT'""",
                    (type_, list(names)))
        return {name: [str(s) for s in members] if isinstance(members, list) else []
                for name, members in cur.fetchall()}

    def _write_universes(self, cur, ctx: SyncContext, task: str, type_: str, category: str,
                         targets: dict[str, list[str]], existing: dict[str, list[str]] | None = None,
                         detail: Callable[[str, str, str], dict | None] = lambda _t, _u, _s: None,
                         ) -> list[Change]:
        """Write each target universe whose member set changed (or that is new); its change rows."""
        existing = self._existing(cur, type_, list(targets)) if existing is None else existing
        changes, rows = [], []
        for name, members in targets.items():
            new = set(members)
            old = existing.get(name)
            if old is not None and set(old) == new:
                continue
            if old is None:
                changes.append(Change(task, "created", name))
            old_set = set(old or ())
            changes += [Change(task, "added", name, s, detail("added", name, s))
                        for s in sorted(new - old_set)]
            changes += [Change(task, "removed", name, s, detail("removed", name, s))
                        for s in sorted(old_set - new)]
            rows.append((type_, name, name, Json({"symbols": sorted(new)}), category,
                         Json({"maintained_by": SERVICE, "task": task, "run_id": ctx.run_id,
                               "trading_date": ctx.trading_date.isoformat()})))
        self._upsert(cur, rows)
        return changes

    @staticmethod
    def _upsert(cur, rows: list[tuple]) -> None:
        if rows:
            execute_values(cur, """
                INSERT INTO cache_entries (type, name, key, value, universe_category, universe_metadata,
                                           last_universe_update) VALUES %s
                ON CONFLICT (type, name, key, environment) DO UPDATE
                   SET value = EXCLUDED.value, universe_category = EXCLUDED.universe_category,
                       universe_metadata = EXCLUDED.universe_metadata, updated_at = now(),
                       last_universe_update = now()""",
                           rows, template="(%s, %s, %s, %s, %s, %s, now())", page_size=500)

    # ---- the five tasks ---------------------------------------------------------------------------

    def market_cap_recalculation(self, cur, ctx: SyncContext) -> TaskOutput:
        self._require_active(cur, ctx)
        seasoned = self._seasoned(cur, ctx)
        u = self.universe_prefix
        targets: dict[str, list[str]] = {universe_name("tier", u, tier=t): [] for t in TIER_UNIVERSES}
        for symbol, cap, _sector in seasoned:
            tier = tier_of(cap)
            if tier in TIER_UNIVERSES:
                targets[universe_name("tier", u, tier=tier)].append(symbol)
        for n in TOP_N:
            targets[universe_name("top", u, n=n)] = [r[0] for r in seasoned[:n]]
        return TaskOutput(self._write_universes(cur, ctx, "market_cap_recalculation", "stock_universe",
                                                "STOCK", targets))

    def _read_announcements(self) -> list[tuple[str, dict | None]]:
        """(entry id, ipo_listed message or None) of the automation stream: own pending, then new."""
        seen: dict[str, dict | None] = {}
        for start in ("0", ">"):
            while True:
                entries = self._readgroup(self.automation_stream, IPO_GROUP, start, IPO_READ_COUNT)
                for entry_id, fields in entries:
                    raw = (fields or {}).get(b"data", (fields or {}).get("data"))
                    message = None
                    if raw is not None:
                        try:
                            candidate = json.loads(raw)
                        except ValueError:
                            candidate = None
                        if (isinstance(candidate, dict) and candidate.get("event_type") == IPO_EVENT
                                and not schema_errors(candidate)):
                            message = candidate
                    seen.setdefault(_text(entry_id), message)
                if start == "0" or len(entries) < IPO_READ_COUNT:
                    break
        return list(seen.items())

    def ipo_universe_assignment(self, cur, ctx: SyncContext) -> TaskOutput:
        entries = self._read_announcements()
        out = TaskOutput(ack_ids=[entry_id for entry_id, _ in entries])
        announced: dict[str, dict] = {}
        for _entry_id, message in entries:
            if message is not None:
                symbol = message["data"]["symbol"]
                if symbol.startswith(self.symbol_prefix):
                    announced.setdefault(symbol, message)
        if not announced:
            return out
        symbols = list(announced)
        cur.execute("SELECT symbol, active, market_cap, sector FROM symbols WHERE symbol = ANY(%s)",
                    (symbols,))
        facts = {r[0]: r[1:] for r in cur.fetchall()}
        cur.execute(f"""SELECT DISTINCT m.sym FROM cache_entries e, LATERAL {MEMBERS_SQL} AS m(sym)
                        WHERE e.type IN ('stock_universe', 'theme_universe') AND starts_with(e.name, %s)
                          AND e.key = e.name AND e.environment = 'DEFAULT' AND m.sym = ANY(%s)""",
                    (self.universe_prefix, symbols))
        placed = {r[0] for r in cur.fetchall()}
        additions: dict[str, list[tuple[str, str, str | None, dict]]] = defaultdict(list)
        for symbol, message in announced.items():
            if symbol not in facts or not facts[symbol][0] or symbol in placed:
                continue
            _active, cap, sector = facts[symbol]
            tier = tier_of(cap if cap is not None else message["data"].get("market_cap"))
            sector = sector if sector is not None else message["data"].get("sector")
            name = universe_name("ipo", self.universe_prefix, tier=tier, sector=sector_slug(sector))
            additions[name].append((symbol, tier, sector, message))
        if not additions:
            return out
        existing = self._existing(cur, "stock_universe", list(additions))
        targets = {name: [*existing.get(name, []), *(a[0] for a in added)]
                   for name, added in additions.items()}
        by_symbol = {a[0]: a for added in additions.values() for a in added}
        out.changes = self._write_universes(
            cur, ctx, "ipo_universe_assignment", "stock_universe", "IPO", targets, existing,
            lambda _t, _u, s: {"announcement_id": by_symbol[s][3]["message_id"]} if s in by_symbol else None)
        for name, added in sorted(additions.items()):
            for symbol, tier, sector, message in added:
                out.notices.append(("ipo_assignment", {
                    "run_id": ctx.run_id, "trading_date": ctx.trading_date.isoformat(), "symbol": symbol,
                    "universe": name, "tier": tier, "sector": sector,
                    "announcement_id": message["message_id"]}))
        return out

    def delisted_cleanup(self, cur, ctx: SyncContext) -> TaskOutput:
        if self._scope_counts(cur)[0] == 0:
            raise TaskRefused(f"symbols has no rows in scope {ctx.scope_text()}: "
                              "refusing to remove every member")
        cur.execute(f"""SELECT e.type, e.name, e.universe_category, m.sym,
                               CASE WHEN s.symbol IS NULL THEN 'missing' ELSE 'inactive' END
                        FROM cache_entries e
                        CROSS JOIN LATERAL {MEMBERS_SQL} AS m(sym)
                        LEFT JOIN symbols s ON s.symbol = m.sym
                        WHERE e.type IN ('stock_universe', 'theme_universe') AND starts_with(e.name, %s)
                          AND e.key = e.name AND e.environment = 'DEFAULT'
                          AND starts_with(m.sym, %s) AND (s.symbol IS NULL OR NOT s.active)""",
                    (self.universe_prefix, self.symbol_prefix))
        found = cur.fetchall()
        out = TaskOutput()
        if not found:
            return out
        by_row: dict[tuple[str, str], set[str]] = defaultdict(set)
        category: dict[tuple[str, str], str] = {}
        reasons: dict[str, str] = {}
        left: dict[str, set[str]] = defaultdict(set)
        for type_, name, cat, symbol, reason in found:
            by_row[(type_, name)].add(symbol)
            category[(type_, name)] = cat
            reasons[symbol] = reason
            left[symbol].add(name)
        for (type_, name), gone in sorted(by_row.items()):
            existing = self._existing(cur, type_, [name])
            targets = {name: [s for s in existing.get(name, []) if s not in gone]}
            out.changes += self._write_universes(cur, ctx, "delisted_cleanup", type_,
                                                 category[(type_, name)] or "STOCK", targets, existing,
                                                 lambda _t, _u, s: {"reason": reasons.get(s)})
        for symbol in sorted(left):
            out.notices.append(("delisting_cleanup", {
                "run_id": ctx.run_id, "trading_date": ctx.trading_date.isoformat(), "symbol": symbol,
                "reason": reasons[symbol], "universes": sorted(left[symbol])}))
        return out

    def theme_rebalancing(self, cur, ctx: SyncContext) -> TaskOutput:
        self._require_active(cur, ctx)
        seasoned = self._seasoned(cur, ctx)
        by_slug: dict[str, list[str]] = {slug: [] for slug in SECTOR_SLUGS.values()}
        for symbol, _cap, sector in seasoned:  # already by market cap, ties by symbol
            by_slug.setdefault(sector_slug(sector), []).append(symbol)
        targets = {universe_name("theme", self.universe_prefix, sector=slug): members[:SECTOR_LEADERS]
                   for slug, members in by_slug.items()}
        return TaskOutput(self._write_universes(cur, ctx, "theme_rebalancing", "theme_universe", "THEME",
                                                targets))

    def etf_universe_maintenance(self, cur, ctx: SyncContext) -> TaskOutput:
        cur.execute("""SELECT name, key, value -> 'symbols' FROM cache_entries
                       WHERE type = 'etf_universe' AND environment = 'DEFAULT' ORDER BY name, key""")
        universes = cur.fetchall()
        out = TaskOutput()
        found: dict[str, dict] = {}
        themes: set[str] = set()
        for name, _key, members in universes:
            theme = name[4:] if name.startswith("etf_") else name
            members = sorted({str(s) for s in members}) if isinstance(members, list) else []
            if len(members) < 2 or theme in themes or not THEME_NAME.match(theme):
                continue
            themes.add(theme)
            data = self.etf_correlation(cur, ctx, theme, f"etf_{theme}", members)
            if data is not None:
                found[universe_name("etf_correlation", self.universe_prefix, theme=theme)] = data
        if not found:
            return out
        cur.execute("""SELECT name, value FROM cache_entries
                       WHERE type = 'etf_correlation' AND name = ANY(%s) AND key = name
                         AND environment = 'DEFAULT'""", (list(found),))
        stored = dict(cur.fetchall())
        rows = []
        for name, data in found.items():
            old = stored.get(name)
            same = ("symbols", "pairs", "average_correlation", "window_days", "cache_key", "theme")
            if isinstance(old, dict) and all(old.get(k) == data[k] for k in same):
                continue
            if old is None:
                out.changes.append(Change("etf_universe_maintenance", "created", name))
            out.changes.append(Change("etf_universe_maintenance", "correlation_updated", name, None,
                                      {"pairs": len(data["pairs"])}))
            rows.append(("etf_correlation", name, name, Json(data), "ETF_CORRELATION",
                         Json({"maintained_by": SERVICE, "task": "etf_universe_maintenance",
                               "run_id": ctx.run_id, "trading_date": ctx.trading_date.isoformat()})))
            out.notices.append(("etf_correlation_update", data))
        self._upsert(cur, rows)
        return out

    def etf_correlation(self, cur, ctx: SyncContext, theme: str, cache_key: str,
                        members: list[str]) -> dict | None:
        """The message data of one theme's correlations (the rule in the module docstring), or None."""
        cur.execute("""SELECT DISTINCT date FROM ohlcv_daily WHERE symbol = ANY(%s) AND date <= %s
                       ORDER BY date DESC LIMIT %s""", (members, ctx.trading_date, WINDOW_DAYS + 1))
        dates = sorted(r[0] for r in cur.fetchall())
        if len(dates) < MIN_COMMON_DAYS + 1:
            return None
        cur.execute("SELECT symbol, date, close FROM ohlcv_daily WHERE symbol = ANY(%s) AND date = ANY(%s)",
                    (members, dates))
        bars: dict[str, dict[date, float]] = defaultdict(dict)
        for symbol, day, close in cur.fetchall():
            bars[symbol][day] = float(close)
        closes = {s: [b[d] for d in dates] for s, b in bars.items() if len(b) == len(dates)}
        included, pairs, average = correlations(closes)
        if len(included) < 2:
            return None
        return {"run_id": ctx.run_id, "trading_date": ctx.trading_date.isoformat(), "theme": theme,
                "cache_key": cache_key, "window_days": WINDOW_DAYS,
                "symbols": included, "pairs": pairs, "average_correlation": average}


# ---- the service and the one-shot ------------------------------------------------------------------

@dataclass
class ServiceReport:
    syncs: list[dict] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    invalid: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    published_count: int = 0
    seconds: float = 0.0

    def record(self, event: dict) -> None:
        {"sync": self.syncs, "duplicate": self.duplicates}.get(event["event"], self.invalid).append(event)

    @property
    def failed(self) -> list[dict]:
        return [s for s in self.syncs if s["status"] != "completed"]

    def as_dict(self) -> dict:
        out = asdict(self)
        out["failed_count"] = len(self.failed)
        return out


def _emit(event: dict) -> None:
    print(json.dumps(event, default=str), flush=True)


def serve(sync: CacheSynchronizer, stop: threading.Event, max_seconds: float | None = None,
          emit: Callable[[dict], None] = _emit) -> ServiceReport:
    """The long-running synchronizer: until ``stop`` is set (SIGTERM/SIGINT) or ``max_seconds`` pass.

    Never dies of a database or Redis fault: logs one line, resets the connections, retries after
    ``RETRY_S``; a sync in progress when ``stop`` is set finishes first.
    """
    t0 = time.monotonic()
    deadline = None if max_seconds is None else t0 + max_seconds
    report = ServiceReport()

    def running() -> bool:
        return not stop.is_set() and (deadline is None or time.monotonic() < deadline)

    down = False
    while running():  # the groups first (Redis may not be up yet)
        try:
            sync.setup()
            break
        except FAULTS as exc:
            if not down:
                log(f"cannot create the consumer groups yet: {first_line(exc)}; retrying every {RETRY_S:g} s")
                report.errors.append(first_line(exc))
            down = True
            sync.reset()
            stop.wait(RETRY_S)
    else:
        report.seconds = time.monotonic() - t0
        return report
    emit({"event": "ready", "pid": os.getpid()})
    down = False
    while running():
        try:
            signal = sync.next_signal(BLOCK_MS)
            if signal is None:
                if down:
                    log("connections are back")
                    down = False
                continue
            event = sync.handle(signal)
            down = False
        except Exception as exc:  # noqa: BLE001 - the service never dies; the signal stays pending
            line = f"{type(exc).__name__}: {first_line(exc)}"
            log(f"{line}; reconnecting, retry in {RETRY_S:g} s")
            report.errors.append(line)
            down = True
            sync.reset()
            stop.wait(RETRY_S)
            continue
        report.record(event)
        emit(event)
    report.published_count = sync.publisher.published_count
    report.seconds = time.monotonic() - t0
    return report


def sync_once(sync: CacheSynchronizer, timeout: float = 0.0,
              emit: Callable[[dict], None] = _emit) -> ServiceReport:
    """Handle the signals already pending or new (and those arriving within ``timeout`` s), then return.
    Database or Redis faults propagate (the command line reports them, exit 3)."""
    t0 = time.monotonic()
    deadline = t0 + max(0.0, timeout)
    report = ServiceReport()
    sync.setup()
    while True:
        remaining = deadline - time.monotonic()
        block = int(min(BLOCK_MS, remaining * 1000)) if remaining > 0.001 else 0
        signal = sync.next_signal(block)
        if signal is None:
            if remaining <= 0.001:
                break
            continue
        event = sync.handle(signal)
        report.record(event)
        emit(event)
    report.published_count = sync.publisher.published_count
    report.seconds = time.monotonic() - t0
    return report
