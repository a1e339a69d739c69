"""The cache synchronization flow as a scenario drives it: the producer's test market, its end-of-day
job, IPO monitor and synchronizer service run as processes; the suite observes PostgreSQL (runs,
change log, universes) and Redis (pub-sub as TickStockApp, the signal's consumer group, an automation
consumer group of its own) and records what it saw. It never publishes a TickStock message itself.

Trading days: each sync a scenario asks for gets a weekday of its own after every day already synced
in the suite's scope, so scenarios never share a day and a rerun on an external database moves on.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

from tickstock_acceptance.checks.cache_sync import rules
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.cache_sync import (
    MARKET_AS_OF,
    MARKET_PREFIX,
    MARKET_SIZE,
    SECTOR_SLUGS,
    SymbolRow,
    cap_within,
    correlation_universe,
    expected_correlations,
    expected_universes,
    ipo_universe,
)
from tickstock_acceptance.contract.messaging import TICKSTOCK_CHANNEL_PATTERN
from tickstock_acceptance.core.waiting import DeadlineExceeded, wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.sut import cache_sync as sut
from tickstock_acceptance.sut.producer import ProducerRun, producer_for
from tickstock_acceptance.sut.resilience_load import entry_ms
from tickstock_acceptance.sut.subscriber import AppSubscriber, Received
from tickstock_acceptance.sut.tickstock_app import ProcessObservations, ProcessWatch

FIRST_TRADING_DAY = MARKET_AS_OF + timedelta(days=3)  # the Monday after the market's as-of Friday


def next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


class CacheSyncFlow:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.producer = producer_for(system)
        self.db = sut.SyncDatabase(system)
        self.signals = sut.SignalStream(system)
        self.scope, self.prefix = sut.SYNC_SCOPE, MARKET_PREFIX
        self.service: sut.SyncService | None = None
        self.observer: AppSubscriber | None = None
        self.automation: sut.AutomationGroup | None = None
        self.neighbours: sut.MarketNeighbours | None = None
        self.watch: ProcessWatch | None = None
        self.seen: ProcessObservations | None = None
        self.day: date | None = None
        self.signal_runs: list[ProducerRun] = []
        self.runs: dict[date, sut.SyncRunRow] = {}
        self.universes_before: dict[str, sut.StoredUniverse] = {}
        self.listing: SymbolRow | None = None
        self.announcement_id: str | None = None
        self.deadlocks_before = 0
        self.quiet_mark = (0, 0, 0)
        # what earlier steps of the scenario found, for the later steps that judge it
        self.found_problems: list[str] = []
        self.found_changes_before = 0
        self.found_monitor: ProducerRun | None = None
        self.found_ipo: list[str] = []
        self.found_alone: sut.SyncRunRow | None = None
        self.found_loaded: sut.SyncRunRow | None = None

    def close(self) -> None:
        for closer in (self._stop_neighbours, self._stop_watch, self.stop_service):
            closer()
        for thing in (self.observer, self.automation):
            if thing is not None:
                (thing.stop if isinstance(thing, AppSubscriber) else thing.close)()
        self.signals.close()

    # -- the market -------------------------------------------------------------------------------
    def ensure_market(self, size: int = MARKET_SIZE) -> ProducerRun | None:
        """Load the producer's test market (``size`` symbols: the contract's unless a benchmark scales
        it) unless exactly its symbols are there already."""
        if self.db.symbol_count(self.prefix) == size:
            return None
        run = sut.load_market(self.producer, size, self.prefix, MARKET_AS_OF)
        evidence.record(
            "test market load (process wall time)",
            run.wall_s,
            "s",
            note=f"{run.report.get('symbols')} symbols",
        )
        return run

    def move_market(self, count: int) -> int:
        return self.db.move_market(self.prefix, count, seed=f"{self.scope}{time.time_ns()}")

    # -- the synchronizer -------------------------------------------------------------------------
    def start_service(self) -> sut.SyncService:
        if self.service is None or not self.service.running:
            self.service = sut.SyncService(self.producer, self.scope, self.prefix).start()
        return self.service

    def stop_service(self) -> None:
        if self.service is not None:
            self.service.stop()

    def require_service_running(self) -> None:
        if self.service is None or not self.service.running:
            raise AssertionError(
                "the cache synchronizer is not running"
                + (f": {self.service.last_error()}" if self.service else "")
            )

    def observe(self) -> AppSubscriber:
        if self.observer is None:
            self.observer = AppSubscriber(
                self.system, channels=(), patterns=(TICKSTOCK_CHANNEL_PATTERN,)
            ).start()
        return self.observer

    def received(self) -> list[Received]:
        return self.observer.snapshot() if self.observer is not None else []

    # -- trading days and signals -----------------------------------------------------------------
    def new_trading_day(self) -> date:
        last = max(
            [d for d in (self.db.last_trading_date(), self.day, *self.runs) if d is not None], default=None
        )
        self.day = FIRST_TRADING_DAY if last is None else next_weekday(last)
        return self.day

    def signal(self, day: date | None = None) -> ProducerRun:
        """The end-of-day job: it signals that ``day`` (default: the scenario's day) is complete."""
        run = sut.end_of_day(self.producer, day or self.day)
        self.signal_runs.append(run)
        return run

    @property
    def last_signal(self) -> ProducerRun:
        assert self.signal_runs, "no end-of-day signal was sent in this scenario"
        return self.signal_runs[-1]

    def wait_for_sync(self, day: date | None = None) -> sut.SyncRunRow:
        """Until the day's run has finished (the synchronizer must be running to get there)."""
        day = day or self.day

        def finished():
            if self.service is not None and not self.service.running:
                raise AssertionError(
                    f"the cache synchronizer ended before syncing {day}: "
                    f"{self.service.last_error() or 'it said nothing'}"
                )
            runs = [r for r in self.db.runs_of(day) if r.finished_at is not None]
            return runs[0] if runs else None

        run = wait_until(finished, M.deadline(M.SYNC_DEADLINE_S), f"the sync of trading day {day} finishing")
        self.runs[day] = run
        evidence.record(
            f"sync of {day}",
            run.duration_s or 0.0,
            "s",
            note=f"{run.total_changes} changes, status {run.status}",
        )
        return run

    def wait_for_messages(self, run: sut.SyncRunRow) -> list[Received]:
        """Until daily_sync_complete and every universe_synchronized of the run have arrived."""
        expected = len({c.universe for c in self.db.changes(run.run_id)}) + 1

        def arrived():
            got = rules.of_run(self.received(), run.run_id)
            n = sum(1 for r in got if r.event_type in ("daily_sync_complete", "universe_synchronized"))
            return got if n >= expected else None

        try:
            return wait_until(
                arrived, M.deadline(M.SYNC_NOTIFICATION_DEADLINE_S), "the sync's notifications arriving"
            )
        except DeadlineExceeded:
            return rules.of_run(self.received(), run.run_id)

    def completion(self, run: sut.SyncRunRow) -> Received | None:
        got = rules.of_run(self.received(), run.run_id, "daily_sync_complete")
        return got[0] if got else None

    def start_delay_s(self, run: sut.SyncRunRow) -> float:
        """From the signal's entry on the stream (Redis's clock) to the run's start (PostgreSQL's)."""
        return run.started_at.timestamp() - entry_ms(self.last_signal.report["stream_id"]) / 1000.0

    def wait_until_handled(self) -> None:
        """Until the synchronizer's group has acknowledged the last signal."""
        entry = self.last_signal.report["stream_id"]
        wait_until(
            lambda: self.signals.handled(entry),
            M.deadline(M.SYNC_DEADLINE_S),
            "the synchronizer acknowledging the signal",
        )

    # -- quiet period ------------------------------------------------------------------------------
    def mark_quiet(self) -> None:
        """What there is before a quiet period: runs, change-log rows, messages received."""
        self.quiet_mark = (len(self.db.runs()), self.db.change_count(), len(self.received()))

    def quiet_problems(self, seconds: float) -> list[str]:
        """Watch ``seconds`` with no signal; report anything the synchronizer did since the mark."""
        runs, changes, mark = self.quiet_mark

        def something():
            return (
                len(self.db.runs()) != runs
                or self.db.change_count() != changes
                or any(r.event_type in rules.SYNC_EVENTS for r in self.received()[mark:])
            )

        try:
            wait_until(something, seconds, "the synchronizer acting without a signal", poll_max_s=0.1)
        except DeadlineExceeded:
            pass
        return rules.quiet_problems(
            runs, len(self.db.runs()), changes, self.db.change_count(), self.received()[mark:]
        )

    # -- the oracle ---------------------------------------------------------------------------------
    def expected_universes(self, day: date) -> dict[str, list[str]]:
        return expected_universes(self.db.symbol_rows(self.prefix), self.scope, day)

    def correlation_oracle(self, day: date) -> tuple[dict, dict[str, str]]:
        closes = self.db.etf_closes(day)
        expected = {theme: expected_correlations(bars, day) for theme, bars in closes.items()}
        names = {theme: correlation_universe(theme, self.scope) for theme in closes}
        return expected, names

    def forget_correlations(self) -> None:
        names = [n for n, u in self.db.universes().items() if u.type == "etf_correlation"]
        if names:
            self.db.delete_universes(names)

    # -- IPO ----------------------------------------------------------------------------------------
    def add_listing(self, days_before: int, tier: str, sector: str) -> SymbolRow:
        """A fresh listing of the test market in ``tier`` (cap from the contract's bounds), ``sector``."""
        market_cap = cap_within(tier)
        day = self.new_trading_day()
        symbol = f"{self.prefix}IPO{day:%m%d}"
        listed = day - timedelta(days=days_before)
        self.db.add_listing(symbol, market_cap, sector, listed)
        self.listing = SymbolRow(symbol, True, market_cap, sector, listed)
        return self.listing

    def ipo_universe(self) -> str:
        return ipo_universe(self.listing, self.scope)

    def announce_listings(self) -> ProducerRun:
        return sut.monitor_ipos(self.producer, self.day, self.prefix)

    def announcement_of(self, symbol: str) -> Received | None:
        for r in self.received():
            d = rules.data(r)
            if r.event_type == "ipo_listed" and d.get("symbol") == symbol:
                return r
        return None

    # -- neighbours, automation, process watch --------------------------------------------------------
    def start_neighbours(self, readers: int, writers: int, hot_symbols: int) -> sut.MarketNeighbours:
        rows = sorted(r.symbol for r in self.db.symbol_rows(self.prefix) if r.active)
        step = max(1, len(rows) // hot_symbols)
        self.neighbours = sut.MarketNeighbours(
            self.system, self.scope, rows[::step][:hot_symbols], readers, writers, sorted(SECTOR_SLUGS)
        ).start()
        self.deadlocks_before = self.db.deadlocks()
        return self.neighbours

    def _stop_neighbours(self) -> None:
        if self.neighbours is not None and self.neighbours.window[1] == 0.0:
            self.neighbours.stop()

    def stop_neighbours(self) -> sut.MarketNeighbours:
        self._stop_neighbours()
        return self.neighbours

    def sync_new_day_beside(self, readers: int, writers: int) -> sut.SyncRunRow:
        """Start the readers and writers, sync a new trading day, stop them once the sync has finished."""
        self.start_neighbours(readers, writers, hot_symbols=M.SYNC_HOT_SYMBOLS)
        self.new_trading_day()
        self.signal()
        run = self.wait_for_sync()
        self.stop_neighbours()
        return run

    def sync_window(self) -> tuple[float, float]:
        run = self.runs[self.day]
        return run.started_at.timestamp(), run.finished_at.timestamp()

    def during_sync(self, who: str) -> list[float]:
        """Latencies (ms) of the readers' or writers' operations in flight during the day's sync."""
        samples = self.neighbours.reads().samples if who == "readers" else self.neighbours.writes().samples
        a, b = self.sync_window()
        return [s.ms for s in samples if s.overlaps(a, b)]

    def overlap_problems(self, who: str) -> list[str]:
        during = self.during_sync(who)
        evidence.record(f"{who}' operations during the sync", len(during), "operations")
        return rules.overlap_problems(who, self.neighbours.window, self.sync_window(), len(during))

    def deadlocks_seen(self) -> int:
        return self.db.deadlocks() - self.deadlocks_before

    def describe_neighbours(self) -> str:
        n = self.neighbours
        return (
            f"{len(n.readers)} readers ({len(n.reads().samples)} reads), "
            f"{len(n.writers)} writers ({n.writes().commits} commits)"
        )

    def window_problems(self, runs: list[sut.SyncRunRow], target) -> list[str]:
        problems = []
        for run in runs:
            self.wait_for_messages(run)
            problems += [f"{run.trading_date}: {p}" for p in rules.task_problems(run, self.completion(run))]
            problems += rules.window_problems(run, target.limit, target.describe())
        return problems

    def register_automation_group(self) -> sut.AutomationGroup:
        self.automation = sut.AutomationGroup(self.system)
        return self.automation

    def watch_service(self) -> None:
        self.require_service_running()
        self.watch = ProcessWatch.of_process(self.service.pid).start()

    def _stop_watch(self) -> None:
        if self.watch is not None and self.seen is None:
            self.seen = self.watch.stop()

    def stop_watch(self) -> ProcessObservations:
        self._stop_watch()
        return self.seen

    def servers(self) -> dict[int, str]:
        return {self.system.endpoint("producer").port: "PostgreSQL",
                **{r.port: "Redis" for r in self.system.redis_servers()}}
