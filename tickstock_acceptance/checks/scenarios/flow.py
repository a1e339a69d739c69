"""The scenario flow as a Test Scenario Integration scenario drives it: the producer generates, loads
and detects; the suite observes the database and Redis and records what it saw.

``ScenarioFlow`` runs the producer's commands (separate processes, ``sut.producer``), takes the
snapshots a check compares (production content, row counts, per-symbol synthetic bars, the
database's write statistics) and holds what TickStockApp received on the pattern channel. It never
publishes or writes synthetic data itself. Judging is the job of the problem finders beside it.
"""

from __future__ import annotations

from datetime import date

from tickstock_acceptance.checks.scenarios.recognition import recognise
from tickstock_acceptance.checks.scenarios.separation import changes
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.scenarios import ALL_SCENARIOS, scenario_contract
from tickstock_acceptance.core.waiting import DeadlineExceeded, wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import ProducerRun, producer_for
from tickstock_acceptance.sut.subscriber import AppSubscriber, Received
from tickstock_acceptance.sut.synthetic_storage import Bar, SyntheticStorage, TableSnapshot, WriteCounters

# PostgreSQL flushes a backend's table statistics when it goes idle (at most once a second) and at
# the latest when it exits; the producer's process has exited when its command returns.
STATISTICS_FLUSH_DEADLINE_S = 10.0
# Sessions of earlier commands end asynchronously after their client closed the connection.
QUIET_DATABASE_DEADLINE_S = 10.0


class ScenarioFlow:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.producer = producer_for(system)
        self.storage = SyntheticStorage(system)
        self.contract = scenario_contract()
        self.loads: list[ProducerRun] = []
        self.runs: list[ProducerRun] = []            # the other commands (listing, help, detection)
        self.production_before: dict[str, TableSnapshot] = {}
        self.counts_before: dict[str, int] = {}
        self.bars_before: dict[str, tuple[int, str]] = {}
        self.statistics_before: dict[str, WriteCounters] = {}
        self.statistics_delta: dict[str, WriteCounters] | None = None  # tables written since the snapshot
        self.observer: AppSubscriber | None = None
        self.received: list[Received] = []
        self.bars: dict[str, list[Bar]] = {}
        self.hits: dict[str, dict[str, list[date]]] = {}

    def close(self) -> None:
        if self.observer is not None:
            self.observer.stop()

    # -- the producer ---------------------------------------------------------------------------
    def load(self, name: str, symbols: list[str] | None = None, expect_success: bool = True) -> ProducerRun:
        """``load-history --scenario NAME [--symbols ...]``; fails the step when it fails (unless told)."""
        run = self.producer.load_scenario(name, symbols)
        run.extra["symbols"] = list(symbols or [])
        self.loads.append(run)
        if expect_success and (run.returncode != 0 or not run.report):
            raise AssertionError(f"the scenario loader failed: {run.describe()}")
        return run

    def load_all(self) -> ProducerRun:
        return self.load(ALL_SCENARIOS)

    @property
    def last_load(self) -> ProducerRun:
        assert self.loads, "no scenario was loaded in this scenario"
        return self.loads[-1]

    def loaded_symbols(self) -> list[str]:
        """Every symbol a load of this scenario reported."""
        return sorted({sym for run in self.loads for s in run.report.get("scenarios") or []
                       if isinstance(s, dict) for sym in s.get("symbols") or []})

    def command(self, run: ProducerRun) -> ProducerRun:
        self.runs.append(run)
        return run

    @property
    def last_run(self) -> ProducerRun:
        assert self.runs, "no producer command ran in this scenario"
        return self.runs[-1]

    # -- snapshots ------------------------------------------------------------------------------
    def snapshot_production(self) -> dict[str, TableSnapshot]:
        self.production_before = self.storage.production_snapshot()
        return self.production_before

    def snapshot_counts(self) -> dict[str, int]:
        self.counts_before = self.storage.row_counts()
        return self.counts_before

    def snapshot_bars(self) -> dict[str, tuple[int, str]]:
        self.bars_before = self.storage.bars_per_symbol()
        return self.bars_before

    def snapshot_statistics(self) -> dict[str, WriteCounters]:
        """The write statistics once no other session is connected (every earlier session's counters
        are flushed by then)."""
        try:
            wait_until(lambda: not self.storage.other_sessions(), M.deadline(QUIET_DATABASE_DEADLINE_S),
                       "no other session connected to the database")
        except DeadlineExceeded:
            raise AssertionError("other sessions stayed connected to the database, so its write statistics "
                                 f"cannot be attributed: {self.storage.other_sessions()}") from None
        self.statistics_before = self.storage.table_statistics()
        return self.statistics_before

    @property
    def rows_of_every_scenario(self) -> int:
        """The daily bars loading every scenario writes, per the contract."""
        return sum(s.days for s in self.contract.scenarios.values())

    def statistics_changes(self) -> dict[str, WriteCounters]:
        """Tables written since ``snapshot_statistics`` (read once), read when the synthetic bars table
        shows every scenario's rows, or when the deadline passed (the checks then name what is missing)."""
        if self.statistics_delta is not None:
            return self.statistics_delta
        bars_table, expected = self.contract.bars_table, self.rows_of_every_scenario

        def flushed():
            delta = changes(self.statistics_before, self.storage.table_statistics())
            got = delta.get(bars_table)
            return delta if got and got.inserted + got.updated >= expected else None

        try:
            self.statistics_delta = wait_until(flushed, M.deadline(STATISTICS_FLUSH_DEADLINE_S),
                                               "the load's rows in the database's statistics")
        except DeadlineExceeded:
            self.statistics_delta = changes(self.statistics_before, self.storage.table_statistics())
        return self.statistics_delta

    # -- TickStockApp on the pattern channel ------------------------------------------------------
    def observe(self, channel: str) -> AppSubscriber:
        self.observer = AppSubscriber(self.system, channels=(channel,)).start()
        return self.observer

    def detect(self, symbols: list[str]) -> ProducerRun:
        """Run the detector and wait until TickStockApp has received what it says it published."""
        assert self.observer is not None, "TickStockApp does not observe the pattern channel"
        run = self.command(self.producer.detect_patterns(symbols))
        if run.returncode != 0 or not run.report:
            raise AssertionError(f"the pattern detection failed: {run.describe()}")
        count = run.report.get("published_count")
        producer_id = run.report.get("producer_id", "")
        if isinstance(count, int) and producer_id:
            self.observer.settle(producer_id, count, M.deadline(M.DELIVERY_DEADLINE_S))
        self.received = self.observer.snapshot()
        return run

    # -- the suite's own TA-Lib run ---------------------------------------------------------------
    def recognise(self, symbols: list[str]) -> dict[str, dict[str, list[date]]]:
        self.bars = self.storage.bars(symbols)
        self.hits = {s: recognise(self.bars[s], self.contract.patterns) for s in symbols}
        return self.hits
