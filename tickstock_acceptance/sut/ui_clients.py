"""Concurrent clients and background load, each client on its own connection and thread.

* ``concurrent_universe_queries`` — N TickStockApp clients querying ETF universes at once (PERF-2).
* ``UiQuerySampler`` — a UI client issuing queries back to back in the background; each sample
  keeps its wall-clock start so samples can be split into "before" and "during" windows (ETF-5).
* ``StockUniverseMaintenance`` — the producer's own stock-universe maintenance
  (``python -m <producer> maintain-stock-universes``, a separate process writing ``TEST_STK``
  symbols and ``test_`` tier universes as the producer role) in the background (DB-2).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg2

from tickstock_acceptance.core.errors import first_line
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import ProducerRun, producer_for

# What the UI asks most: one ETF universe with its liquidity filter applied.
UI_QUERY = "SELECT get_etf_universe(%s, true)"


@dataclass
class Sample:
    started_at: float  # wall clock, epoch s
    ms: float

    @property
    def finished_at(self) -> float:
        return self.started_at + self.ms / 1000.0

    def overlaps(self, start: float, end: float) -> bool:
        return self.started_at <= end and self.finished_at >= start


def peak_in_flight(samples: list[Sample]) -> int:
    """The largest number of samples in flight at one instant (sweep over start/end times)."""
    events = sorted([(s.started_at, 1) for s in samples] + [(s.finished_at, -1) for s in samples],
                    key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def latencies_ms(self) -> list[float]:
        return [s.ms for s in self.samples]

    def between(self, start: float, end: float) -> list[float]:
        return [s.ms for s in self.samples if start <= s.started_at <= end]

    def overlapping(self, windows: list[tuple[float, float]]) -> list[float]:
        """Latencies of the samples in flight during any of ``windows`` (wall clock)."""
        return [s.ms for s in self.samples if any(s.overlaps(a, b) for a, b in windows)]

    @property
    def peak_in_flight(self) -> int:
        return peak_in_flight(self.samples)


def _query_loop(system: AcceptanceSystem, role: str, sql: str, args_for, count: int | None,
                stop: threading.Event | None, out: LoadResult, lock: threading.Lock,
                ready: threading.Barrier | None = None) -> None:
    try:
        conn = system.connect(role)
    except Exception as exc:  # noqa: BLE001 - a client that cannot connect is an error to report
        with lock:
            out.errors.append(f"connect: {first_line(exc)}")
        if ready is not None:
            ready.abort()
        return
    try:
        if ready is not None:  # every client connected: start querying together
            try:
                ready.wait(timeout=30)
            except threading.BrokenBarrierError:
                with lock:
                    out.errors.append("not every client connected")
                return
        i = 0
        while (count is None or i < count) and not (stop is not None and stop.is_set()):
            started = time.time()
            t0 = time.perf_counter()
            try:
                with conn.cursor() as cur:
                    cur.execute(sql, args_for(i))
                    cur.fetchall()
                sample = Sample(started, (time.perf_counter() - t0) * 1000.0)
                with lock:
                    out.samples.append(sample)
            except psycopg2.Error as exc:
                with lock:
                    out.errors.append(first_line(exc))
            i += 1
    finally:
        conn.close()


def concurrent_universe_queries(system: AcceptanceSystem, themes: list[str], clients: int,
                                queries_per_client: int) -> LoadResult:
    """``clients`` TickStockApp connections each running ``queries_per_client`` universe queries."""
    out, lock = LoadResult(), threading.Lock()
    ready = threading.Barrier(clients)
    barrier_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for c in range(clients):
            pool.submit(_query_loop, system, "consumer", UI_QUERY,
                        lambda i, c=c: (themes[(c + i) % len(themes)],), queries_per_client, None,
                        out, lock, ready)
    out.elapsed_s = time.perf_counter() - barrier_start
    return out


class Background:
    """A worker thread that runs until stopped; ``result`` holds what it measured."""

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.result = LoadResult()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def _run(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> LoadResult:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        return self.result


class UiQuerySampler(Background):
    """A UI client querying ETF universes back to back until stopped."""

    def __init__(self, system: AcceptanceSystem, themes: list[str]) -> None:
        super().__init__()
        self.system, self.themes = system, themes

    def _run(self) -> None:
        _query_loop(self.system, "consumer", UI_QUERY, lambda i: (self.themes[i % len(self.themes)],),
                    None, self.stop_event, self.result, self.lock)

    def count_between(self, start: float, end: float) -> int:
        with self.lock:
            return len(self.result.between(start, end))

    def overlapping(self, windows: list[tuple[float, float]]) -> list[float]:
        with self.lock:
            return self.result.overlapping(windows)


STOCK_SYMBOL_PREFIX, STOCK_SYMBOL_COUNT, STOCK_UNIVERSE_PREFIX = "TEST_STK", 60, "test_"
TIERS = (("test_large_cap", 10e9, None), ("test_mid_cap", 2e9, 10e9), ("test_small_cap", 300e6, 2e9))
MAINTENANCE_START_DEADLINE_S = 30.0


def stock_universes(market_caps: dict[str, float]) -> dict[str, list[str]]:
    """The market-cap tier universes for the given caps (large ≥ 10e9, mid 2e9–10e9, small 300e6–2e9).

    The suite's own statement of the tiers (not the producer's code): the oracle for DB-2.
    """
    return {name: sorted(s for s, cap in market_caps.items() if cap >= lo and (hi is None or cap < hi))
            for name, lo, hi in TIERS}


class StockUniverseMaintenance:
    """The producer's stock-universe maintenance, run as its own process in the background.

    ``start`` returns once the process has committed its first round (seen in the database, as
    TickStockApp); ``stop`` sends SIGTERM, and the producer finishes its round and reports.
    """

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.producer = producer_for(system)
        self.args = ("maintain-stock-universes", "--symbol-prefix", STOCK_SYMBOL_PREFIX,
                     "--symbols", str(STOCK_SYMBOL_COUNT), "--universe-prefix", STOCK_UNIVERSE_PREFIX)
        self.proc = None
        self.started = 0.0
        self.run: ProducerRun | None = None

    def _db_now(self):
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("SELECT now()")
            return cur.fetchone()[0]

    def _rewritten_since(self, mark) -> bool:
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT count(*) FROM cache_entries
                           WHERE type = 'stock_universe' AND name = ANY(%s)
                             AND updated_at >= %s""", ([t[0] for t in TIERS], mark))
            return cur.fetchone()[0] == len(TIERS)

    def start(self) -> StockUniverseMaintenance:
        mark = self._db_now()
        self.proc, self.started = self.producer.start(*self.args)
        wait_until(lambda: self.proc.poll() is not None or self._rewritten_since(mark),
                   MAINTENANCE_START_DEADLINE_S, "the producer's first stock universe rewrite")
        if self.proc.poll() is not None:
            self.stop()
            raise AssertionError(f"stock universe maintenance ended early: {self.run.describe()}")
        return self

    def stop(self) -> ProducerRun | None:
        if self.run is None and self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            self.run = self.producer.finish(self.proc, self.started, self.args, 30)
        return self.run

    @property
    def round_windows(self) -> list[tuple[float, float]]:
        return [tuple(w) for w in (self.run.report.get("round_windows", []) if self.run else [])]

    def stored_universes(self) -> dict[str, list[str]]:
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT name, value->'symbols' FROM cache_entries
                           WHERE type = 'stock_universe' AND name = ANY(%s)""", ([t[0] for t in TIERS],))
            return {r[0]: r[1] for r in cur.fetchall()}

    def stored_market_caps(self) -> dict[str, float]:
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("SELECT symbol, market_cap FROM symbols WHERE symbol LIKE %s",
                        (STOCK_SYMBOL_PREFIX.replace("_", "\\_") + "%",))
            return {r[0]: float(r[1]) for r in cur.fetchall()}
