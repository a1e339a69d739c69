"""Concurrent clients and background load, each client on its own connection and thread.

* ``concurrent_universe_queries`` — N TickStockApp clients querying ETF universes at once (PERF-2).
* ``UiQuerySampler`` — a UI client issuing queries back to back in the background; each sample
  keeps its wall-clock start so samples can be split into "before" and "during" windows (ETF-5).
* ``StockUniverseWriter`` — TickStockPL-style stock-universe writes (``TEST_`` symbols and
  ``test_`` stock universes, as the producer role) in the background (DB-2).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg2
from psycopg2.extras import Json

from .errors import first_line
from .system import AcceptanceSystem

# What the UI asks most: one ETF universe with its liquidity filter applied.
UI_QUERY = "SELECT get_etf_universe(%s, true)"


@dataclass
class Sample:
    started_at: float  # wall clock, epoch s
    ms: float


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


def _query_loop(system: AcceptanceSystem, role: str, sql: str, args_for, count: int | None,
                stop: threading.Event | None, out: LoadResult, lock: threading.Lock) -> None:
    try:
        conn = system.connect(role)
    except Exception as exc:  # noqa: BLE001 - a client that cannot connect is an error to report
        with lock:
            out.errors.append(f"connect: {first_line(exc)}")
        return
    try:
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
    barrier_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for c in range(clients):
            pool.submit(_query_loop, system, "consumer", UI_QUERY,
                        lambda i, c=c: (themes[(c + i) % len(themes)],), queries_per_client, None,
                        out, lock)
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


STOCK_SYMBOLS = [f"TEST_STK{i:03d}" for i in range(60)]
TIERS = (("test_large_cap", 10e9, None), ("test_mid_cap", 2e9, 10e9), ("test_small_cap", 300e6, 2e9))


def stock_universes(market_caps: dict[str, float]) -> dict[str, list[str]]:
    """The market-cap tier universes for the given caps (large ≥ 10e9, mid 2e9–10e9, small 300e6–2e9)."""
    return {name: sorted(s for s, cap in market_caps.items() if cap >= lo and (hi is None or cap < hi))
            for name, lo, hi in TIERS}


class StockUniverseWriter(Background):
    """TickStockPL-style stock-universe maintenance: recalculate caps, rewrite the tier universes."""

    def __init__(self, system: AcceptanceSystem) -> None:
        super().__init__()
        self.system = system
        self.rounds = 0
        self.last_caps: dict[str, float] = {}

    def _round(self, conn, n: int) -> None:
        caps = {s: 200e6 * (1 + ((i * 7 + n * 13) % 90)) for i, s in enumerate(STOCK_SYMBOLS)}
        with conn, conn.cursor() as cur:  # one transaction per round, as a sync task would
            cur.executemany("""INSERT INTO symbols (symbol, name, type, active, market_cap)
                               VALUES (%s, %s, 'CS', true, %s)
                               ON CONFLICT (symbol) DO UPDATE
                                  SET market_cap = EXCLUDED.market_cap, updated_at = now()""",
                            [(s, f"Test stock {s}", cap) for s, cap in caps.items()])
            for name, members in stock_universes(caps).items():
                cur.execute("""INSERT INTO cache_entries (type, name, key, value, universe_category)
                               VALUES ('stock_universe', %s, %s, %s, 'STOCK')
                               ON CONFLICT (type, name, key, environment) DO UPDATE
                                  SET value = EXCLUDED.value, updated_at = now(),
                                      last_universe_update = now()""",
                            (name, name, Json({"symbols": members})))
        self.last_caps = caps

    def _run(self) -> None:
        try:
            conn = self.system.connect("producer", autocommit=False)
        except Exception as exc:  # noqa: BLE001
            self.result.errors.append(f"connect: {first_line(exc)}")
            return
        try:
            while not self.stop_event.is_set():
                t0, started = time.perf_counter(), time.time()
                try:
                    self._round(conn, self.rounds)
                    self.result.samples.append(Sample(started, (time.perf_counter() - t0) * 1000.0))
                except psycopg2.Error as exc:
                    self.result.errors.append(first_line(exc))
                self.rounds += 1
        finally:
            conn.close()

    def stored_universes(self) -> dict[str, list[str]]:
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT name, value->'symbols' FROM cache_entries
                           WHERE type = 'stock_universe' AND name LIKE 'test\\_%'""")
            return {r[0]: r[1] for r in cur.fetchall()}
