"""How large ETF expansions affect what TickStockApp sees: UI query and delivery latency before
and during the producer's database writes.

"During" means during the producers' writes: a UI sample counts when it was in flight while some
producer was writing; a notification counts when it was published while *another* producer
process was writing (so delivery is measured under the write load). Cycles (a background producer
expanding every theme again and again, measured expansions in their own processes, background
stop) repeat until every window holds its minimum number of samples or the expansion budget is
spent: the measurement waits for the evidence it needs instead of assuming a rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.events import parse_timestamp
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.sut.producer import BackgroundCommand
from tickstock_acceptance.sut.ui_clients import UiQuerySampler
from tickstock_acceptance.sut.universe_flow import ExpansionObserved, UniverseFlow

QUIET_THEME = "mid_cap"  # a one-theme update: the "no large expansion" delivery baseline


@dataclass
class Impact:
    ui_before: list[float] = field(default_factory=list)
    ui_during: list[float] = field(default_factory=list)
    delivery_before: list[float] = field(default_factory=list)
    delivery_during: list[float] = field(default_factory=list)
    rounds: list[ExpansionObserved] = field(default_factory=list)   # measured expansions (own processes)
    load_rounds: list[dict] = field(default_factory=list)           # the background producer's expansions
    backgrounds: list[BackgroundCommand] = field(default_factory=list)
    ui_errors: list[str] = field(default_factory=list)              # UI queries that failed (any window)

    def size_problems(self, stored_symbols: int, minimum: int) -> list[str]:
        """Each expansion covered at least ``minimum`` symbols: judged on what the database holds after
        the measured expansions (``stored_symbols``), with every round's own report agreeing with it."""
        if not self.rounds:
            return ["no expansion was measured"]
        problems = [] if stored_symbols >= minimum else [
            f"the expanded universes hold {stored_symbols} distinct symbols, fewer than {minimum}"]
        sizes = [r.run.report.get("total_symbols") for r in self.rounds]
        sizes += [r.get("total_symbols") for r in self.load_rounds]
        smaller = [s for s in sizes if not isinstance(s, int) or s < minimum]
        if smaller:
            problems.append(f"{len(smaller)} of {len(sizes)} expansions reported fewer than {minimum} "
                            f"symbols: {smaller[:5]}")
        return problems

    def sample_problems(self, window: str) -> list[str]:
        """Windows ("before", "during") that hold fewer samples than the measurement needs."""
        ui, delivery = getattr(self, f"ui_{window}"), getattr(self, f"delivery_{window}")
        problems = []
        if self.ui_errors:  # a failed query is no sample: it must not vanish from the percentiles
            problems.append(f"{len(self.ui_errors)} UI queries failed, first: {self.ui_errors[0]}")
        if len(ui) < M.IMPACT_MIN_UI_SAMPLES:
            problems.append(f"{len(ui)} UI query samples {window} the expansions, "
                            f"need {M.IMPACT_MIN_UI_SAMPLES}")
        if len(delivery) < M.IMPACT_MIN_DELIVERY_SAMPLES:
            problems.append(f"{len(delivery)} notifications {window} the expansions, "
                            f"need {M.IMPACT_MIN_DELIVERY_SAMPLES}")
        if window == "during" and len(self.rounds) < M.IMPACT_MIN_EXPANSIONS:
            problems.append(f"{len(self.rounds)} measured expansions, need {M.IMPACT_MIN_EXPANSIONS}")
        return problems

    def stop(self) -> None:
        for background in self.backgrounds:
            background.stop()


def measure_without_expansion(flow: UniverseFlow, sampler: UiQuerySampler, impact: Impact) -> None:
    """UI queries with nothing else running, then one-theme updates for the delivery baseline."""
    t0 = time.time()
    wait_until(lambda: sampler.count_between(t0, time.time()) >= M.IMPACT_MIN_UI_SAMPLES,
               M.deadline(M.QUIET_SAMPLES_DEADLINE_S),
               f"{M.IMPACT_MIN_UI_SAMPLES} UI queries with no expansion running")
    impact.ui_before = sampler.result.between(t0, time.time())
    impact.ui_errors = sampler.errors()
    for _ in range(M.IMPACT_MAX_EXPANSIONS):
        if len(impact.delivery_before) >= M.IMPACT_MIN_DELIVERY_SAMPLES:
            break
        impact.delivery_before += flow.latencies_ms([flow.expand([QUIET_THEME])])


def _write_window(report: dict) -> tuple[float, float]:
    return report["writes_started_at"], report["writes_finished_at"]


def measure_during_expansions(flow: UniverseFlow, sampler: UiQuerySampler, impact: Impact) -> None:
    """Full expansions in their own processes while a background producer keeps expanding."""
    windows: dict[str, list[tuple[float, float]]] = {}
    while True:
        background = flow.background_expansions()
        impact.backgrounds.append(background)
        try:
            for _ in range(M.IMPACT_MIN_EXPANSIONS):
                impact.rounds.append(flow.expand())
        finally:
            run = background.stop()
        assert run.returncode == 0 and run.report.get("rounds"), f"background expansions: {run.describe()}"
        impact.load_rounds += run.report["rounds"]
        load_id = run.report["producer_id"]
        flow.subscriber.settle(load_id, len(flow.stream.from_producer(load_id)),
                               M.deadline(M.DELIVERY_DEADLINE_S))
        windows[load_id] = [_write_window(r) for r in run.report["rounds"]]
        windows.update({r.producer_id: [_write_window(r.run.report)] for r in impact.rounds})

        impact.ui_during = sampler.overlapping([w for ws in windows.values() for w in ws])
        impact.ui_errors = sampler.errors()
        impact.delivery_during = [
            r.latency_ms() for r in flow.subscriber.snapshot()
            if r.producer_id in windows and r.message
            and any(a <= parse_timestamp(r.message["timestamp"]) <= b
                    for pid, ws in windows.items() if pid != r.producer_id for a, b in ws)]
        if not impact.sample_problems("during") or len(impact.rounds) >= M.IMPACT_MAX_EXPANSIONS:
            return
