"""Simultaneous operations of mixed kinds (RES-2), and their success rate under constraints.

The operations (``sut.stress``) are ETF universe queries on the database as TickStockApp's role,
``update_etf_universe`` on ``test_res_`` universes as the producer's role, TickStockApp HTTP
queries and producer processes (``expand --themes X``, which publishes its notifications; under
constraints also ``summary``). Each prepares first, all start together behind one barrier, and
each records its own start and end: the peak in flight is a sweep over those times.

* ``MixedOperations`` runs the set once, unconstrained (RES-2): every operation must succeed.
* ``ConstrainedOperations`` runs a set leaning on the producer with the producer's processes at
  a low priority (niceness 10), pinned to one CPU core and with capped address space and file size (and
  TickStockApp pinned to the same core); an operation succeeds when it finishes without an error
  within its deadline, and the share that succeeded is judged against the spec's 70 %. That the
  limits were really in force is read back from the kernel (psutil) for every producer process
  seen while the set ran.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config.targets import Target
from tickstock_acceptance.core.statistics import Distribution
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.etf_universes import EtfUniverseStore
from tickstock_acceptance.sut.producer import ProducerController, producer_for
from tickstock_acceptance.sut.stress import (
    AppQuery,
    ConstrainedProducer,
    Constraints,
    DatabaseQuery,
    Operation,
    OperationResult,
    Pinned,
    ProducerCommand,
    ResourceSampler,
    UniverseUpdate,
    observed_limits,
    run_together,
    usable_cores,
)
from tickstock_acceptance.sut.tickstock_app import TickStockAppController

THEME_PREFIX = "test_res_"
EXPANSION = "producer expansion (publishes)"
SUMMARY = "producer summary"
ALL_KINDS = "all operations"


# -- judging (pure: no servers) ----------------------------------------------------------------------
def peak_in_flight(results: Sequence[OperationResult]) -> int:
    """The most operations in flight at one instant, from their own start and end times (an end
    before a start at the same instant)."""
    ran = [r for r in results if r.started_at and r.finished_at]
    events = sorted([(r.started_at, 1) for r in ran] + [(r.finished_at, -1) for r in ran],
                    key=lambda e: (e[0], e[1]))
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def latencies_by_kind(results: Sequence[OperationResult]) -> dict[str, list[float]]:
    """Milliseconds of every operation that ran, per kind and over all of them (``ALL_KINDS``)."""
    out: dict[str, list[float]] = {}
    for r in results:
        if r.started_at and r.finished_at:
            out.setdefault(r.kind, []).append(r.ms)
            out.setdefault(ALL_KINDS, []).append(r.ms)
    return out


def distributions(results: Sequence[OperationResult]) -> dict[str, Distribution]:
    return {kind: Distribution.of(ms) for kind, ms in latencies_by_kind(results).items()}


def success_rate(results: Sequence[OperationResult]) -> float:
    """Percentage of the operations that succeeded (0 for none)."""
    return 100.0 * sum(r.ok for r in results) / len(results) if results else 0.0


def failures(results: Sequence[OperationResult]) -> list[str]:
    return [f"{r.kind} `{r.what}`: {r.error or 'failed'}" for r in results if not r.ok]


def error_problems(results: Sequence[OperationResult], expected: int) -> list[str]:
    """Every operation asked for ran and succeeded."""
    problems = failures(results)
    if len(results) != expected:
        problems.append(f"{len(results)} of {expected} operations ran")
    return problems


def mix_problems(results: Sequence[OperationResult], kinds: Sequence[str]) -> list[str]:
    """Every kind the set is made of was among the operations that started together."""
    started = {r.kind for r in results if r.started_at}
    return [f"no {kind} started with the others" for kind in kinds if kind not in started]


def in_flight_problems(results: Sequence[OperationResult], minimum: int) -> list[str]:
    peak = peak_in_flight(results)
    return [] if peak >= minimum else [f"at most {peak} operations were in flight at once, need {minimum}"]


def success_rate_problems(results: Sequence[OperationResult], target: Target) -> list[str]:
    if not results:
        return ["no operation ran"]
    rate = success_rate(results)
    if target.met_by(rate):
        return []
    shown = failures(results)
    return [f"{rate:.1f} % of {len(results)} operations succeeded, below {target.limit:g} % "
            f"({len(shown)} failed, e.g. {'; '.join(shown[:3])})"]


def constraint_problems(observed: dict[int, dict], constraints: Constraints, app: dict | None) -> list[str]:
    """Each producer process seen ran with the profile's limits, and TickStockApp on its core."""
    if not observed:
        return ["no constrained producer process was seen running: the constraints are unproven"]
    out = []
    for pid, seen in sorted(observed.items()):
        wrong = []
        if seen.get("nice") != constraints.nice:
            wrong.append(f"nice {seen.get('nice')}")
        if seen.get("cores") != [constraints.core]:
            wrong.append(f"cores {seen.get('cores')}")
        if seen.get("address_space_mb") != constraints.address_space_mb:
            wrong.append(f"address space cap {seen.get('address_space_mb')} MB")
        if wrong:
            out.append(f"producer process {pid} ({seen.get('label')}) ran with {', '.join(wrong)}, not "
                       f"{constraints.describe()}")
    if app is not None and app.get("cores") != [constraints.core]:
        out.append(f"TickStockApp ran on cores {app.get('cores')}, not pinned to core {constraints.core}")
    return out


# -- building the operation sets ---------------------------------------------------------------------
def test_theme(i: int) -> str:
    """The i-th ``test_res_`` universe (theme names are letters and underscores only)."""
    letters = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(ord("a") + r) + letters
    return THEME_PREFIX + letters


def _themes_cycle(themes: Sequence[str], n: int) -> list[str]:
    if not themes:
        raise AssertionError("no ETF universe in the database: expand the themes first")
    return [themes[i % len(themes)] for i in range(n)]


def operation_set(system: AcceptanceSystem, app: TickStockAppController, producer: ProducerController,
                  themes: Sequence[str], symbols: Sequence[str], *, db_queries: int, updates: int,
                  app_queries: int, expansions: int, summaries: int = 0,
                  timeout_s: float) -> list[Operation]:
    ops: list[Operation] = []
    ops += [DatabaseQuery(system, t) for t in _themes_cycle(themes, db_queries)]
    ops += [UniverseUpdate(system, test_theme(i),
                           list(symbols[i % max(1, len(symbols)):][:M.RES_UNIVERSE_UPDATE_SYMBOLS])
                           or ["SPY"]) for i in range(updates)]
    ops += [AppQuery(app, "/api/view" if i % 4 == 3 else f"/api/universes/{t}?filtered=true", timeout_s)
            for i, t in enumerate(_themes_cycle(themes, app_queries))]
    ops += [ProducerCommand(producer, ("expand", "--themes", t), timeout_s, publishes=True, kind=EXPANSION)
            for t in _themes_cycle(themes, expansions)]
    ops += [ProducerCommand(producer, ("summary",), timeout_s, kind=SUMMARY) for _ in range(summaries)]
    # Interleave the kinds, so no kind has a head start in thread creation.
    return [op for group in _round_robin(ops) for op in group]


def _round_robin(ops: list[Operation]) -> list[list[Operation]]:
    by_kind: dict[str, list[Operation]] = {}
    for op in ops:
        by_kind.setdefault(op.result.kind, []).append(op)
    width = max((len(v) for v in by_kind.values()), default=0)
    return [[v[i] for v in by_kind.values() if i < len(v)] for i in range(width)]


def kinds_of(ops: Sequence[Operation]) -> list[str]:
    return list(dict.fromkeys(op.result.kind for op in ops))


class _OperationsBase:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.store = EtfUniverseStore(system)
        self.results: list[OperationResult] = []
        self.kinds: list[str] = []
        self.expected = 0
        self.elapsed_s = 0.0

    def _inputs(self) -> tuple[list[str], list[str]]:
        members = self.store.members()
        symbols = sorted({s for ms in members.values() for s in ms})
        return sorted(members), symbols

    def close(self) -> None:
        self.store.delete_test_universes(THEME_PREFIX)


class MixedOperations(_OperationsBase):
    """RES-2: the mixed set, unconstrained; zero errors expected."""

    def run(self, app: TickStockAppController) -> None:
        producer = producer_for(self.system)
        themes, symbols = self._inputs()
        ops = operation_set(self.system, app, producer, themes, symbols,
                            db_queries=M.RES_OPERATIONS_DB_QUERIES, updates=M.RES_OPERATIONS_UNIVERSE_UPDATES,
                            app_queries=M.RES_OPERATIONS_APP_QUERIES, expansions=M.RES_OPERATIONS_EXPANSIONS,
                            timeout_s=M.deadline(M.RES_HTTP_TIMEOUT_S))
        self.kinds, self.expected = kinds_of(ops), len(ops)
        self.results, self.elapsed_s = run_together(ops, M.deadline(M.RES_OPERATIONS_READY_DEADLINE_S),
                                                    M.deadline(M.RES_OPERATIONS_JOIN_DEADLINE_S))


class ConstrainedOperations(_OperationsBase):
    """The mixed set with the producer's processes constrained (and TickStockApp pinned)."""

    def __init__(self, system: AcceptanceSystem) -> None:
        super().__init__(system)
        cores = usable_cores()
        self.constraints = Constraints(M.RES_CONSTRAINED_NICE, cores[-1], M.RES_CONSTRAINED_ADDRESS_SPACE_MB,
                                       M.RES_CONSTRAINED_FILE_SIZE_MB)
        self.cores = cores
        self.pinned: Pinned | None = None
        self.observed: dict[int, dict] = {}
        self.app_limits: dict | None = None
        self.deadline_s = M.deadline(M.RES_CONSTRAINED_OPERATION_DEADLINE_S)

    def constrain_app(self, app: TickStockAppController) -> None:
        assert app.pid is not None, "TickStockApp is not a process of this run: it cannot be pinned"
        self.pinned = Pinned(app.pid, [self.constraints.core])
        self.app_limits = observed_limits(app.pid)

    def run(self, app: TickStockAppController) -> None:
        producer_for(self.system)  # deployed once per run, before any constrained command
        producer = ConstrainedProducer(self.system, self.constraints)
        themes, symbols = self._inputs()
        ops = operation_set(self.system, app, producer, themes, symbols,
                            db_queries=M.RES_CONSTRAINED_DB_QUERIES,
                            updates=M.RES_CONSTRAINED_UNIVERSE_UPDATES,
                            app_queries=M.RES_CONSTRAINED_APP_QUERIES,
                            expansions=M.RES_CONSTRAINED_EXPANSIONS, summaries=M.RES_CONSTRAINED_SUMMARIES,
                            timeout_s=self.deadline_s)
        self.kinds, self.expected = kinds_of(ops), len(ops)
        watch = _LimitWatch(app.pid, producer_for(self.system).base_command).start()
        try:
            self.results, self.elapsed_s = run_together(ops, M.deadline(M.RES_OPERATIONS_READY_DEADLINE_S),
                                                        M.deadline(M.RES_OPERATIONS_JOIN_DEADLINE_S),
                                                        deadline_s=self.deadline_s)
        finally:
            self.observed = watch.stop()

    def producer_share(self) -> float:
        producers = sum(r.kind in (EXPANSION, SUMMARY) for r in self.results)
        return 100.0 * producers / len(self.results) if self.results else 0.0

    def close(self) -> None:
        try:
            if self.pinned is not None:
                self.pinned.restore()
        finally:
            super().close()


class _LimitWatch:
    """Reads the limits every producer process of the run runs with, as soon as it is seen."""

    def __init__(self, app_pid: int, producer_command: list[str]) -> None:
        self.sampler = ResourceSampler(app_pid, producer_command, 0.02)
        self.seen: dict[int, dict] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> _LimitWatch:
        self._thread = threading.Thread(target=self._loop, name="limit-watch", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.sampler.interval_s):
            for pid, label in self.sampler.discover().items():
                if pid not in self.seen:
                    try:
                        self.seen[pid] = {**observed_limits(pid), "label": label}
                    except Exception:  # noqa: BLE001 - it ended before it could be read
                        continue

    def stop(self) -> dict[int, dict]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return dict(self.seen)
