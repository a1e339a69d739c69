"""TickStockApp's UI clients as load: each client on its own connection and thread.

* ``concurrent_universe_queries`` — N TickStockApp clients querying ETF universes at once.
* ``UiQuerySampler`` — a UI client issuing queries back to back in the background; each sample
  keeps its wall-clock start so samples can be split into "before" and "during" windows.
* ``PacedQuerySampler`` — a client of any role issuing one query on a fixed schedule; a query's
  latency runs from the moment it was due, not from when it was sent, so a stall that holds the
  client back counts for every query it delayed (no coordinated omission).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg2

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.core.errors import first_line
from tickstock_acceptance.infra.system import AcceptanceSystem

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
                ready.wait(timeout=M.deadline(M.BACKGROUND_START_DEADLINE_S))
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

    def errors(self) -> list[str]:
        with self.lock:
            return list(self.result.errors)


class PacedQuerySampler(Background):
    """A client of ``role`` due to run its query every ``interval_s`` until stopped.

    Latency is measured from each query's due time (as HdrHistogram's corrected recording does): a
    client blocked for 1.5 s would otherwise record one slow query and then fast ones, and a p95 would
    hide the stall. The schedule waits on the stop event, so stopping is immediate.
    """

    def __init__(self, system: AcceptanceSystem, role: str, sql: str, args_for, interval_s: float) -> None:
        super().__init__()
        self.system, self.role, self.sql = system, role, sql
        self.args_for, self.interval_s = args_for, interval_s

    def _run(self) -> None:
        try:
            conn = self.system.connect(self.role)
        except Exception as exc:  # noqa: BLE001 - a client that cannot connect is an error to report
            with self.lock:
                self.result.errors.append(f"connect: {first_line(exc)}")
            return
        try:
            t0_wall, t0 = time.time(), time.perf_counter()
            i = 0
            while not self.stop_event.is_set():
                due = t0 + i * self.interval_s
                if self.stop_event.wait(max(0.0, due - time.perf_counter())):
                    break
                try:
                    with conn.cursor() as cur:
                        cur.execute(self.sql, self.args_for(i))
                        cur.fetchall()
                    sample = Sample(t0_wall + (due - t0), (time.perf_counter() - due) * 1000.0)
                    with self.lock:
                        self.result.samples.append(sample)
                except psycopg2.Error as exc:
                    with self.lock:
                        self.result.errors.append(first_line(exc))
                i += 1
        finally:
            conn.close()
