"""TickStockPL's cache synchronizer and its automation services, as the suite drives and observes them.

* ``SyncService`` — the synchronizer, a long-running producer process (``sync-service``) started and
  stopped by the suite; it prints one JSON line per event (``ready``, ``sync``, ``duplicate``), read
  by a thread so its pipes never fill.
* The producer's one-shot commands: the test market (``load-market``), the end-of-day job
  (``end-of-day``, which sends the completion signal) and the IPO monitor (``monitor-ipos``).
* ``SyncDatabase`` — what the synchronizer left in PostgreSQL (runs, change log, universes), read as
  TickStockApp (the consumer role); and the suite's own test-data writes as the market-data feed
  (the producer role, ``TEST_M`` symbols only).
* ``SignalStream`` and ``AutomationGroup`` — the signal's consumer group and an automation
  consumer group of the suite's own on the automation stream (flows database).
* ``MarketNeighbours`` — TickStockApp readers and real-time writers on the tables the sync touches.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

import psycopg2
from psycopg2.extras import execute_values

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.cache_sync import (
    AUTOMATION_CHANNEL,
    AUTOMATION_STREAM,
    EOD_CHANNEL,
    EOD_GROUP,
    SymbolRow,
)
from tickstock_acceptance.contract.messaging import STREAM_DB, stream_key
from tickstock_acceptance.core.errors import first_line
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import ProducerController, ProducerRun
from tickstock_acceptance.sut.subscriber import Received, decode
from tickstock_acceptance.sut.ui_clients import LoadResult, PacedQuerySampler, Sample

SYNC_SCOPE = "test_sync_"  # the universes the suite's synchronizer owns (a test_ prefix)


def _after(a: str, b: str) -> bool:
    """Stream id ``a`` is at or after ``b``."""
    ta, _, sa = str(a).partition("-")
    tb, _, sb = str(b).partition("-")
    return (int(ta), int(sa or 0)) >= (int(tb), int(sb or 0))


# -- the synchronizer process -------------------------------------------------------------------
class SyncService:
    """``sync-service`` in its own process; ``start`` returns once it says it is ready."""

    def __init__(self, producer: ProducerController, scope: str, symbol_prefix: str) -> None:
        self.producer, self.scope, self.symbol_prefix = producer, scope, symbol_prefix
        self.args = ("sync-service", "--universe-prefix", scope, "--symbol-prefix", symbol_prefix)
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.lines: list[dict] = []
        self.stderr: list[str] = []
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        self.returncode: int | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _read(self, stream, sink: str) -> None:
        for line in stream:
            line = self.producer._redact(line.rstrip("\n"))
            with self._lock:
                if sink == "stderr":
                    self.stderr.append(line)
                    del self.stderr[:-200]
                    continue
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(doc, dict):
                    self.lines.append(doc)

    def events(self, kind: str | None = None) -> list[dict]:
        with self._lock:
            return [d for d in self.lines if kind is None or d.get("event") == kind]

    def start(self) -> SyncService:
        self.proc, self.started_at = self.producer.start(*self.args)
        self.returncode = None
        for stream, sink in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr")):
            t = threading.Thread(target=self._read, args=(stream, sink), daemon=True)
            t.start()
            self._readers.append(t)
        wait_until(
            lambda: not self.running or self.events("ready"),
            M.deadline(M.BACKGROUND_START_DEADLINE_S),
            "the cache synchronizer saying it is ready",
        )
        if not self.running:
            self.stop()
            raise AssertionError(
                f"the cache synchronizer ended at start (exit {self.returncode}): "
                f"{self.last_error() or 'no output'}"
            )
        return self

    def last_error(self) -> str:
        with self._lock:
            lines = [ln.strip() for ln in self.stderr if ln.strip() and not ln.startswith("Traceback")]
        return lines[-1] if lines else ""

    def stop(self) -> int | None:
        """SIGTERM (it finishes the sync in hand), then wait; kill after the stop deadline."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=M.deadline(M.PRODUCER_STOP_DEADLINE_S))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._readers:
            t.join(timeout=2)
        self._readers.clear()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
        self.returncode, self.proc = self.proc.returncode, None
        return self.returncode


# -- the producer's one-shot commands -----------------------------------------------------------
def require_success(run: ProducerRun, what: str) -> ProducerRun:
    if run.returncode != 0 or not run.report:
        raise AssertionError(f"{what} failed: {run.describe()}")
    return run


def load_market(producer: ProducerController, count: int, prefix: str, as_of: date) -> ProducerRun:
    return require_success(
        producer.run("load-market", "--count", str(count), "--prefix", prefix, "--as-of", as_of.isoformat()),
        "the producer's test market load",
    )


def end_of_day(producer: ProducerController, trading_date: date) -> ProducerRun:
    return require_success(
        producer.run("end-of-day", "--date", trading_date.isoformat()), "the end-of-day job"
    )


def monitor_ipos(producer: ProducerController, as_of: date, symbol_prefix: str) -> ProducerRun:
    return require_success(
        producer.run("monitor-ipos", "--as-of", as_of.isoformat(), "--symbol-prefix", symbol_prefix),
        "the IPO monitor",
    )


# -- the database -------------------------------------------------------------------------------
@dataclass
class SyncRunRow:
    run_id: int
    trading_date: date
    started_at: datetime
    finished_at: datetime | None
    status: str
    task_summary: dict | None
    total_changes: int | None
    signal_id: str | None

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else (self.finished_at - self.started_at).total_seconds()


@dataclass
class ChangeRow:
    task: str
    change_type: str
    universe: str
    symbol: str | None


@dataclass
class StoredUniverse:
    type: str
    category: str | None
    symbols: list[str]
    value: dict


class SyncDatabase:
    def __init__(self, system: AcceptanceSystem, scope: str = SYNC_SCOPE) -> None:
        self.system, self.scope = system, scope

    def _rows(self, sql: str, args=(), role: str = "consumer") -> list[tuple]:
        with self.system.session(role) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    # -- runs and the change log --------------------------------------------------------------
    def runs(self) -> list[SyncRunRow]:
        return [
            SyncRunRow(*r)
            for r in self._rows(
                """SELECT run_id, trading_date, started_at, finished_at, status, task_summary, total_changes,
                      signal_id FROM cache_sync_runs WHERE scope = %s ORDER BY run_id""",
                (self.scope,),
            )
        ]

    def runs_of(self, trading_date: date) -> list[SyncRunRow]:
        return [r for r in self.runs() if r.trading_date == trading_date]

    def changes(self, run_id: int | None = None) -> list[ChangeRow]:
        """The change log of one run (or of every run in the scope)."""
        if run_id is None:
            return [
                ChangeRow(*r)
                for r in self._rows(
                    """SELECT c.task, c.change_type, c.universe, c.symbol FROM cache_sync_changes c
                   JOIN cache_sync_runs r USING (run_id) WHERE r.scope = %s ORDER BY c.change_id""",
                    (self.scope,),
                )
            ]
        return [
            ChangeRow(*r)
            for r in self._rows(
                "SELECT task, change_type, universe, symbol FROM cache_sync_changes WHERE run_id = %s "
                "ORDER BY change_id",
                (run_id,),
            )
        ]

    def change_count(self) -> int:
        return int(
            self._rows(
                """SELECT count(*) FROM cache_sync_changes c JOIN cache_sync_runs r USING (run_id)
                                 WHERE r.scope = %s""",
                (self.scope,),
            )[0][0]
        )

    def last_trading_date(self) -> date | None:
        return self._rows("SELECT max(trading_date) FROM cache_sync_runs WHERE scope = %s", (self.scope,))[0][
            0
        ]

    # -- universes and symbols ----------------------------------------------------------------
    def universes(self) -> dict[str, StoredUniverse]:
        """Every cache entry in the synchronizer's scope (name starts with the scope prefix)."""
        out = {}
        for name, typ, category, value in self._rows(
            r"SELECT name, type, universe_category, value FROM cache_entries WHERE name LIKE %s",
            (self.scope.replace("_", r"\_") + "%",),
        ):
            value = value if isinstance(value, dict) else {}
            symbols = value.get("symbols")
            out[name] = StoredUniverse(
                typ, category, list(symbols) if isinstance(symbols, list) else [], value
            )
        return out

    def symbol_rows(self, prefix: str) -> list[SymbolRow]:
        return [
            SymbolRow(s, a, None if c is None else float(c), sec, ld)
            for s, a, c, sec, ld in self._rows(
                r"SELECT symbol, active, market_cap, sector, list_date FROM symbols WHERE symbol LIKE %s",
                (prefix.replace("_", r"\_") + "%",),
            )
        ]

    def symbol_count(self, prefix: str) -> int:
        return int(
            self._rows(
                r"SELECT count(*) FROM symbols WHERE symbol LIKE %s", (prefix.replace("_", r"\_") + "%",)
            )[0][0]
        )

    def etf_closes(self, trading_date: date) -> dict[str, dict[str, dict[date, float]]]:
        """Theme → member → date → close, for every ETF universe (the correlation oracle's input)."""
        themes = {}
        for name, value in self._rows("SELECT name, value FROM cache_entries WHERE type = 'etf_universe'"):
            members = (value or {}).get("symbols") if isinstance(value, dict) else None
            if isinstance(members, list) and members:
                themes[name.removeprefix("etf_")] = sorted(set(members))
        wanted = sorted({s for members in themes.values() for s in members})
        bars: dict[str, dict[date, float]] = {}
        for symbol, day, close in self._rows(
            "SELECT symbol, date, close FROM ohlcv_daily WHERE symbol = ANY(%s) AND date <= %s",
            (wanted, trading_date),
        ):
            bars.setdefault(symbol, {})[day] = float(close)
        return {theme: {s: bars.get(s, {}) for s in members} for theme, members in themes.items()}

    def deadlocks(self) -> int:
        return int(
            self._rows("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")[0][0]
        )

    # -- the suite's test-data writes (as the market-data feed: producer role, TEST_ symbols) ----
    def move_market(self, prefix: str, count: int, seed: str) -> int:
        """Change the market caps of ``count`` active symbols (a day's moves: x0.5 .. x2)."""
        rng = random.Random(seed)
        with self.system.session("producer") as conn, conn.cursor() as cur:
            cur.execute(
                r"SELECT symbol, market_cap FROM symbols WHERE symbol LIKE %s AND active "
                r"AND market_cap IS NOT NULL ORDER BY symbol",
                (prefix.replace("_", r"\_") + "%",),
            )
            rows = cur.fetchall()
            chosen = rng.sample(rows, min(count, len(rows)))
            execute_values(
                cur,
                """UPDATE symbols SET market_cap = v.cap, updated_at = now()
                                   FROM (VALUES %s) AS v(symbol, cap) WHERE symbols.symbol = v.symbol""",
                [(s, round(float(c) * rng.choice((0.5, 0.7, 1.4, 2.0)))) for s, c in chosen],
            )
        return len(chosen)

    def add_listing(self, symbol: str, market_cap: float, sector: str, list_date: date) -> None:
        with self.system.session("producer") as conn, conn.cursor() as cur:
            cur.execute(
                """INSERT INTO symbols (symbol, name, type, active, market_cap, sector, industry, list_date)
                           VALUES (%s, %s, 'CS', true, %s, %s, 'Test listing', %s)
                           ON CONFLICT (symbol) DO UPDATE SET market_cap = EXCLUDED.market_cap,
                               sector = EXCLUDED.sector, list_date = EXCLUDED.list_date, active = true""",
                (symbol, f"Test listing {symbol}", market_cap, sector, list_date),
            )

    def remove_symbols(self, prefix: str) -> int:
        if not prefix.startswith("TEST_"):
            raise ValueError(f"refusing to delete symbols that are not test data: {prefix!r}")
        with self.system.session("producer") as conn, conn.cursor() as cur:
            cur.execute(r"DELETE FROM symbols WHERE symbol LIKE %s", (prefix.replace("_", r"\_") + "%",))
            return cur.rowcount

    def delete_universes(self, names: list[str]) -> None:
        if any(not n.startswith(self.scope) for n in names):
            raise ValueError("refusing to delete universes outside the suite's scope")
        with self.system.session("producer") as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM cache_entries WHERE name = ANY(%s)", (names,))


# -- Redis: the signal's consumer group, the automation stream ----------------------------------
class SignalStream:
    """The end-of-day signal stream and the synchronizer's consumer group on it."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.client = system.redis_client(STREAM_DB)
        self.key = stream_key(EOD_CHANNEL)  # the contract's EOD stream, in the run's namespace

    def group(self) -> dict | None:
        try:
            groups = self.client.xinfo_groups(self.key)
        except Exception:  # noqa: BLE001 - no stream yet
            return None
        return next((g for g in groups if g.get("name") == EOD_GROUP), None)

    def handled(self, entry_id: str) -> bool:
        """The synchronizer's group has been given the entry and has acknowledged everything it got."""
        g = self.group()
        return (
            bool(g) and _after(g.get("last-delivered-id", "0-0"), entry_id) and int(g.get("pending", 0)) == 0
        )

    def close(self) -> None:
        self.client.close()


class AutomationGroup:
    """An automation consumer of the suite's own: a consumer group on the automation stream,
    created at the stream's end (``$``), reading with XREADGROUP and acknowledging what it read."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.client = system.redis_client(STREAM_DB)
        self.name = f"test_automation_{uuid.uuid4().hex[:8]}"
        self.received: list[tuple[str, Received]] = []
        self.key = stream_key(AUTOMATION_CHANNEL)  # the contract's automation stream, in the run's namespace
        self.client.xgroup_create(self.key, self.name, id="$", mkstream=True)

    def read(self) -> list[tuple[str, Received]]:
        """Everything new for the group (non-blocking), acknowledged after it is read."""
        got = []
        while True:
            reply = self.client.xreadgroup(self.name, "suite", {self.key: ">"}, count=500)
            entries = reply[0][1] if reply else []
            if not entries:
                break
            for entry_id, fields in entries:
                got.append((entry_id, decode(AUTOMATION_STREAM, fields.get("data", ""), time.time())))
            self.client.xack(self.key, self.name, *[e for e, _ in entries])
        self.received.extend(got)
        return got

    def entries(self) -> list[Received]:
        """Everything the group has read so far."""
        return [r for _, r in self.received]

    def pending(self) -> int:
        return int(self.client.xpending(self.key, self.name)["pending"])

    def close(self) -> None:
        try:
            self.client.xgroup_destroy(self.key, self.name)
        except Exception:  # noqa: BLE001 - cleanup is best effort (the test DB is flushed anyway)
            pass
        self.client.close()


# -- neighbours of the sync: TickStockApp readers, real-time writers ----------------------------
UNIVERSE_READ = "SELECT value FROM cache_entries WHERE type = 'stock_universe' AND name = %s"
SECTOR_READ = (
    "SELECT symbol, market_cap FROM symbols WHERE sector = %s AND active "
    "ORDER BY market_cap DESC NULLS LAST LIMIT 25"
)


@dataclass
class WriterReport:
    last_written: dict[str, int] = field(default_factory=dict)  # symbol -> last committed market cap
    commits: int = 0
    errors: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)  # per transaction: due time, latency from it

    @property
    def windows(self) -> list[tuple[float, float]]:
        return [(s.started_at, s.finished_at) for s in self.samples]


class RealtimeWriter(threading.Thread):
    """A real-time writer (TickStockPL's market-data feed, producer role): a transaction of five
    market-cap updates over its own hot symbols, in random order, due every ``interval_s`` until
    stopped; each transaction's latency runs from its due time (see ``PacedQuerySampler``)."""

    def __init__(self, system: AcceptanceSystem, symbols: list[str], seed: int, interval_s: float) -> None:
        super().__init__(daemon=True)
        self.system, self.symbols, self.rng, self.interval_s = (
            system,
            symbols,
            random.Random(seed),
            interval_s,
        )
        self.report = WriterReport()
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            conn = self.system.connect("producer", autocommit=False)
        except Exception as exc:  # noqa: BLE001 - reported
            self.report.errors.append(f"connect: {first_line(exc)}")
            return
        try:
            t0_wall, t0 = time.time(), time.perf_counter()
            i = 0
            while True:
                due = t0 + i * self.interval_s
                if self.stop_event.wait(max(0.0, due - time.perf_counter())):
                    break
                i += 1
                batch = {
                    s: self.rng.randrange(300_000_000, 900_000_000_000)
                    for s in self.rng.sample(self.symbols, min(5, len(self.symbols)))
                }
                try:
                    with conn.cursor() as cur:
                        for symbol, cap in batch.items():
                            cur.execute(
                                "UPDATE symbols SET market_cap = %s, updated_at = now() WHERE symbol = %s",
                                (cap, symbol),
                            )
                    conn.commit()
                    self.report.last_written.update(batch)
                    self.report.commits += 1
                    self.report.samples.append(
                        Sample(t0_wall + (due - t0), (time.perf_counter() - due) * 1000.0)
                    )
                except psycopg2.Error as exc:
                    conn.rollback()
                    self.report.errors.append(f"{exc.pgcode or ''} {first_line(exc)}".strip())
        finally:
            conn.close()


class MarketNeighbours:
    """``readers`` TickStockApp clients (consumer role: tier universes and sector leaders, each due
    every ``M.SYNC_READ_INTERVAL_S``, latency from the due time) and ``writers`` real-time writers on
    disjoint sets of hot symbols (due every ``M.SYNC_WRITE_INTERVAL_S``), until stopped."""

    def __init__(
        self,
        system: AcceptanceSystem,
        scope: str,
        hot_symbols: list[str],
        readers: int,
        writers: int,
        sectors: list[str],
    ) -> None:
        pace = M.SYNC_READ_INTERVAL_S
        tiers = [f"{scope}{t}" for t in ("large_cap", "mid_cap", "small_cap", "top_100", "top_500")]
        self.readers = [
            PacedQuerySampler(system, "consumer", UNIVERSE_READ, lambda i: (tiers[i % len(tiers)],), pace)
            if r % 2 == 0
            else PacedQuerySampler(
                system, "consumer", SECTOR_READ, lambda i: (sectors[i % len(sectors)],), pace
            )
            for r in range(readers)
        ]
        share = max(5, len(hot_symbols) // max(1, writers))
        self.writers = [
            RealtimeWriter(system, hot_symbols[w * share : (w + 1) * share], w, M.SYNC_WRITE_INTERVAL_S)
            for w in range(writers)
        ]
        self.window: tuple[float, float] = (0.0, 0.0)

    def start(self) -> MarketNeighbours:
        self.window = (time.time(), 0.0)
        for r in self.readers:
            r.start()
        for w in self.writers:
            w.start()
        return self

    def stop(self) -> None:
        for r in self.readers:
            r.stop()
        for w in self.writers:
            w.stop_event.set()
        for w in self.writers:
            w.join(timeout=10)
        self.window = (self.window[0], time.time())

    def reads(self) -> LoadResult:
        out = LoadResult()
        for r in self.readers:
            out.samples.extend(r.result.samples)
            out.errors.extend(r.result.errors)
        return out

    def writes(self) -> WriterReport:
        out = WriterReport()
        for w in self.writers:
            out.last_written.update(w.report.last_written)
            out.commits += w.report.commits
            out.errors.extend(w.report.errors)
            out.samples.extend(w.report.samples)
        return out

    def final_caps(self, system: AcceptanceSystem) -> dict[str, int]:
        symbols = sorted(self.writes().last_written)
        with system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("SELECT symbol, market_cap FROM symbols WHERE symbol = ANY(%s)", (symbols,))
            return {s: int(c) for s, c in cur.fetchall()}
