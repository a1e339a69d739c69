"""The ETF universe flow as one scenario sees it: drive the producer, observe the consumer side.

``UniverseFlow`` is the scenario's controller: it starts TickStockApp-like subscribers, runs
producer commands (separate processes, see ``producer_control``), and answers questions about
what reached the database and the consumers. It never publishes anything itself: every message
it judges was sent by the producer.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .consumer import (
    UNIVERSE_CHANNEL,
    AppSubscriber,
    Received,
    StreamCatchUp,
    StreamReader,
    schema_problems,
)
from .etf_checks import EtfUniverseChecks
from .load import UiQuerySampler
from .paths import ROOT
from .producer_control import ProducerRun, producer_for
from .system import AcceptanceSystem
from .waiting import wait_until

REFERENCE_DATA = ROOT / "tickstock_producer" / "data" / "etf_universe.json"
DELIVERY_DEADLINE_S = 10.0


def reference_themes() -> dict:
    """The reference ETF data (facts kept in the repo): theme → {liquidity_filter, etfs}."""
    return json.loads(REFERENCE_DATA.read_text())["themes"]


def below_filter(theme: dict) -> list[str]:
    flt = theme.get("liquidity_filter") or {}
    return sorted(e["symbol"] for e in theme["etfs"]
                  if e["aum"] < flt.get("min_aum", 0) or e["avg_volume"] < flt.get("min_avg_volume", 0))


@dataclass
class ExpansionObserved:
    run: ProducerRun
    persisted: list[Received] = field(default_factory=list)  # on the stream, from this producer
    live: list[Received] = field(default_factory=list)       # received by the subscriber

    @property
    def producer_id(self) -> str:
        return self.run.report.get("producer_id", "")


class UniverseFlow:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.producer = producer_for(system)
        self.checks = EtfUniverseChecks(system)
        self.stream = StreamReader(system)
        self.subscriber: AppSubscriber | None = None
        self.observer: AppSubscriber | None = None
        self.offline: StreamCatchUp | None = None
        self.caught_up: list[Received] = []
        self.expansions: list[ExpansionObserved] = []
        self._tmp: list[Path] = []

    # -- consumers ----------------------------------------------------------------------------
    def subscribe(self) -> AppSubscriber:
        self.subscriber = AppSubscriber(self.system, channels=(UNIVERSE_CHANNEL,)).start()
        return self.subscriber

    def observe_everything(self) -> AppSubscriber:
        self.observer = AppSubscriber(self.system, channels=(), patterns=("*",)).start()
        return self.observer

    def register_offline_instance(self, group: str) -> None:
        self.offline = StreamCatchUp(self.system, group)
        self.offline.register()

    def catch_up(self) -> list[Received]:
        assert self.offline is not None, "no offline instance registered"
        self.caught_up = self.offline.catch_up()
        return self.caught_up

    def close(self) -> None:
        for sub in (self.subscriber, self.observer):
            if sub is not None:
                sub.stop()
        for path in self._tmp:
            path.unlink(missing_ok=True)

    # -- producer -----------------------------------------------------------------------------
    def expand(self, themes: list[str] | None = None, source: str | None = None,
               expect_success: bool = True) -> ExpansionObserved:
        run = self.producer.expand(themes, source)
        if expect_success:
            assert run.returncode == 0 and run.report, f"expansion failed: {run.describe()}"
        observed = ExpansionObserved(run)
        if observed.producer_id:
            observed.persisted = self.stream.from_producer(observed.producer_id)
            live = self.subscriber or self.observer
            if live is not None:
                observed.live = live.settle(observed.producer_id, len(observed.persisted),
                                            DELIVERY_DEADLINE_S)
        self.expansions.append(observed)
        return observed

    @property
    def last(self) -> ExpansionObserved:
        assert self.expansions, "no expansion has run in this scenario"
        return self.expansions[-1]

    def source_with_unwritable_theme(self, theme: str) -> str:
        """A source file: two real themes plus ``theme`` whose only ETF has a blank symbol."""
        ref = reference_themes()
        data = {"themes": {name: ref[name] for name in ("bonds", "mid_cap")}}
        data["themes"][theme] = {"focus": "unwritable", "criteria": "blank symbol",
                                 "liquidity_filter": {}, "etfs": [{"symbol": " ", "name": "blank",
                                                                   "aum": 1e12, "avg_volume": 1e9}]}
        fd, name = tempfile.mkstemp(prefix="test_etf_source_", suffix=".json")
        path = Path(name)
        with open(fd, "w") as fh:
            json.dump(data, fh)
        self._tmp.append(path)
        return str(path)

    # -- what the notifications say -----------------------------------------------------------
    def expected_themes(self) -> list[str]:
        """Themes the producer reported written successfully, in its own order."""
        return [t["theme"] for t in self.last.run.report.get("themes", []) if t["status"] == "completed"]

    def notification_sequence_problems(self, received: list[Received]) -> list[str]:
        """One universe_expansion_complete first, then one theme_updated per completed theme."""
        problems = []
        types = [r.event_type for r in received]
        if not types or types[0] != "universe_expansion_complete":
            problems.append(f"first message is {types[0] if types else 'missing'}, "
                            "not universe_expansion_complete")
        if types.count("universe_expansion_complete") != 1:
            problems.append(f"{types.count('universe_expansion_complete')} universe_expansion_complete")
        themes = [r.message["data"]["theme"] for r in received if r.event_type == "theme_updated"]
        expected = self.expected_themes()
        if sorted(themes) != sorted(expected):
            missing = sorted(set(expected) - set(themes))
            extra = sorted(set(themes) - set(expected))
            dup = sorted({t for t in themes if themes.count(t) > 1})
            problems.append(f"theme_updated missing for {missing}, unexpected for {extra}, "
                            f"duplicated for {dup}")
        if not expected:
            problems.append("the producer reported no theme written")
        return problems

    def theme_update_problems(self) -> list[str]:
        problems = []
        for r in self.last.live:
            if r.event_type != "theme_updated":
                continue
            d = r.message["data"]
            stored = self.checks.universe(d["theme"]).value
            if d["cache_key"] != f"etf_{d['theme']}" or stored.get("cache_key") != d["cache_key"]:
                problems.append(f"{d['theme']}: cache_key {d['cache_key']} "
                                f"vs stored {stored.get('cache_key')}")
            if d["action"] not in ("created", "updated"):
                problems.append(f"{d['theme']}: action {d['action']}")
            if d["symbol_count"] != stored.get("symbol_count"):
                problems.append(f"{d['theme']}: says {d['symbol_count']} symbols, database has "
                                f"{stored.get('symbol_count')}")
        return problems

    def expansion_complete_problems(self) -> list[str]:
        done = [r for r in self.last.live if r.event_type == "universe_expansion_complete"]
        if len(done) != 1:
            return [f"{len(done)} universe_expansion_complete messages received"]
        d = done[0].message["data"]
        stored = {t: self.checks.universe(t).value.get("symbol_count") for t in self.expected_themes()}
        problems = []
        if d["total_symbols"] != sum(stored.values()):
            problems.append(f"total_symbols {d['total_symbols']} vs stored {sum(stored.values())}")
        if d["success_count"] != len(stored) or d["themes_processed"] != len(d["themes"]):
            problems.append(f"success_count {d['success_count']}/themes_processed {d['themes_processed']}")
        for t in d["themes"]:
            if t["status"] == "completed" and t["symbol_count"] != stored.get(t["theme"]):
                problems.append(f"{t['theme']}: {t['symbol_count']} vs stored {stored.get(t['theme'])}")
        return problems

    @staticmethod
    def identity_problems(received: list[Received]) -> list[str]:
        ids = [r.message["message_id"] for r in received]
        producers = {r.producer_id for r in received}
        seqs = [r.message["sequence"] for r in received]
        problems = []
        if len(set(ids)) != len(ids):
            problems.append("duplicate message ids")
        if len(producers) != 1:
            problems.append(f"{len(producers)} producers")
        if not seqs or seqs != list(range(seqs[0], seqs[0] + len(seqs))):
            problems.append(f"sequence numbers not consecutive: {seqs}")
        return problems

    def latencies_ms(self, expansions=None) -> list[float]:
        return [r.latency_ms() for e in (expansions or self.expansions) for r in e.live]

    @staticmethod
    def schema_violations(received: list[Received]) -> list[str]:
        return [f"{r.channel} {r.event_type}: {p}" for r in received for p in schema_problems(r)]


def flow_of(context) -> UniverseFlow:
    """The scenario's UniverseFlow (created on first use, closed when the scenario ends)."""
    flow = getattr(context, "universe_flow", None)
    if flow is None:
        flow = context.universe_flow = UniverseFlow(context.system)
        context.add_cleanup(flow.close)
    return flow


# -- ETF-5: latency before and during large expansions -------------------------------------------
@dataclass
class Impact:
    ui_before: list[float] = field(default_factory=list)
    ui_during: list[float] = field(default_factory=list)
    delivery_before: list[float] = field(default_factory=list)
    delivery_during: list[float] = field(default_factory=list)
    rounds: list[ExpansionObserved] = field(default_factory=list)


BASELINE_THEME = "mid_cap"  # a one-theme update: the "no large expansion" delivery baseline


def measure_without_expansion(flow: UniverseFlow, sampler: UiQuerySampler, impact: Impact,
                              ui_samples: int = 60, delivery_rounds: int = 3) -> None:
    t0 = time.time()
    wait_until(lambda: sampler.count_between(t0, time.time()) >= ui_samples, 20,
               f"{ui_samples} UI queries with no expansion running")
    impact.ui_before = sampler.result.between(t0, time.time())
    for _ in range(delivery_rounds):
        e = flow.expand([BASELINE_THEME])
        impact.delivery_before += flow.latencies_ms([e])


def measure_during_expansions(flow: UniverseFlow, sampler: UiQuerySampler, impact: Impact,
                              min_ui_samples: int = 40, min_rounds: int = 2, max_rounds: int = 8) -> None:
    while len(impact.rounds) < max_rounds:
        e = flow.expand()
        impact.rounds.append(e)
        during = sum(sampler.count_between(r.run.report["started_at"], r.run.report["finished_at"])
                     for r in impact.rounds)
        if during >= min_ui_samples and len(impact.rounds) >= min_rounds:
            break
    impact.ui_during = [ms for r in impact.rounds
                        for ms in sampler.result.between(r.run.report["started_at"],
                                                         r.run.report["finished_at"])]
    impact.delivery_during = flow.latencies_ms(impact.rounds)
