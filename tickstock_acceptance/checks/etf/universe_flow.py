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

from tickstock_acceptance.checks.etf.universes import EtfUniverseChecks
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config.paths import ROOT
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import ProducerRun, producer_for
from tickstock_acceptance.sut.subscriber import (
    UNIVERSE_CHANNEL,
    AppSubscriber,
    Received,
    StreamCatchUp,
    StreamReader,
    parse_timestamp,
    schema_problems,
)
from tickstock_acceptance.sut.ui_clients import UiQuerySampler

REFERENCE_DATA = ROOT / "tickstock_producer" / "data" / "etf_universe.json"
DELIVERY_DEADLINE_S = 10.0


def reference_themes() -> dict:
    """The reference ETF data (facts kept in the repo): theme → {liquidity_filter, etfs}."""
    return json.loads(REFERENCE_DATA.read_text())["themes"]


def below_filter(theme: dict) -> list[str]:
    flt = theme.get("liquidity_filter") or {}
    return sorted(e["symbol"] for e in theme["etfs"]
                  if e["aum"] < flt.get("min_aum", 0) or e["avg_volume"] < flt.get("min_avg_volume", 0))


def should_succeed(theme: dict) -> bool:
    """A source theme the producer must write: every ETF kept by its filter has a real symbol."""
    excluded = set(below_filter(theme))
    return all(e["symbol"].strip() for e in theme["etfs"] if e["symbol"] not in excluded)


@dataclass
class ExpansionObserved:
    run: ProducerRun
    source_themes: dict = field(default_factory=dict)         # theme → source data the producer was given
    existed_before: set[str] = field(default_factory=set)     # ETF universes in the database beforehand
    db_mark: object = None                                    # database clock just before the expansion
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
        source_data = json.loads(Path(source).read_text())["themes"] if source else reference_themes()
        chosen = {t: source_data[t] for t in (themes or source_data) if t in source_data}
        existed, mark = self.checks.universe_names(), self.checks.db_now()
        run = self.producer.expand(themes, source)
        if expect_success:
            assert run.returncode == 0 and run.report, f"expansion failed: {run.describe()}"
        observed = ExpansionObserved(run, chosen, existed, mark)
        if observed.producer_id:
            observed.persisted = self.stream.from_producer(observed.producer_id)
            live = self.subscriber or self.observer
            if live is not None:
                # How many to wait for: what reached the stream, or what the producer says it
                # published if that is more (a producer that skips the stream still publishes live).
                # Only the wait uses the producer's word; the checks compare with the source data.
                claimed = len([m for m in run.report.get("published", []) if m])
                observed.live = live.settle(observed.producer_id, max(len(observed.persisted), claimed),
                                            DELIVERY_DEADLINE_S)
        self.expansions.append(observed)
        return observed

    @property
    def last(self) -> ExpansionObserved:
        assert self.expansions, "no expansion has run in this scenario"
        return self.expansions[-1]

    def _source_file(self, data: dict) -> str:
        fd, name = tempfile.mkstemp(prefix="test_etf_source_", suffix=".json")
        path = Path(name)
        with open(fd, "w") as fh:
            json.dump(data, fh)
        self._tmp.append(path)
        return str(path)

    def load_source(self) -> str:
        """A source file: every reference theme under a ``test_load_`` name (the same 200+ symbols,
        written to rows of their own, so a load producer never waits on the measured one's locks)."""
        return self._source_file({"themes": {f"test_load_{t}": d for t, d in reference_themes().items()}})

    def source_with_unwritable_theme(self, theme: str) -> str:
        """A source file: two real themes plus ``theme`` whose only ETF has a blank symbol."""
        ref = reference_themes()
        data = {"themes": {name: ref[name] for name in ("bonds", "mid_cap")}}
        data["themes"][theme] = {"focus": "unwritable", "criteria": "blank symbol",
                                 "liquidity_filter": {}, "etfs": [{"symbol": " ", "name": "blank",
                                                                   "aum": 1e12, "avg_volume": 1e9}]}
        return self._source_file(data)

    # -- what the notifications say -----------------------------------------------------------
    def expected_themes(self) -> list[str]:
        """Themes that must be written: those of the source the producer was given whose kept ETFs
        (after the theme's liquidity filter, computed here from the source data) can be written."""
        return [t for t, data in self.last.source_themes.items() if should_succeed(data)]

    def stored_update_problems(self) -> list[str]:
        """The database's view: exactly the expected themes were written during the expansion."""
        updated = set(self.checks.universes_updated_since(self.last.db_mark))
        considered = updated & set(self.last.source_themes)
        expected = set(self.expected_themes())
        problems = []
        if expected - considered:
            problems.append(f"not updated in the database: {sorted(expected - considered)}")
        if considered - expected:
            problems.append("updated in the database but should have failed: "
                            f"{sorted(considered - expected)}")
        return problems

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
            want = "updated" if d["theme"] in self.last.existed_before else "created"
            if d["action"] != want:
                problems.append(f"{d['theme']}: action {d['action']}, but the universe "
                                f"{'existed' if want == 'updated' else 'did not exist'} before the expansion")
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
    rounds: list[ExpansionObserved] = field(default_factory=list)   # measured expansions (own processes)
    load_rounds: list[dict] = field(default_factory=list)           # the background producer's expansions

    def expansion_sizes(self) -> list[int]:
        return ([r.run.report["total_symbols"] for r in self.rounds]
                + [r["total_symbols"] for r in self.load_rounds])


BASELINE_THEME = "mid_cap"  # a one-theme update: the "no large expansion" delivery baseline
START_DEADLINE_S = 30.0


class BackgroundExpansions:
    """The producer expanding every theme again and again in its own process (the ETF-5 load).

    Runs ``expand --repeat-until-stopped``; ``start`` returns once TickStockApp has received a
    notification from it (so its database writes are under way), ``stop`` sends SIGTERM and
    reads the producer's report of every round (wall-clock write windows included).
    """

    def __init__(self, flow: UniverseFlow) -> None:
        self.flow = flow
        self.args = ("expand", "--repeat-until-stopped", "--source", flow.load_source())
        self.proc = None
        self.started = 0.0
        self.run: ProducerRun | None = None

    def _new_producer_seen(self, known: set) -> bool:
        return any(r.received_at >= self.started and r.producer_id not in known
                   for r in self.flow.subscriber.snapshot())

    def start(self) -> BackgroundExpansions:
        assert self.flow.subscriber is not None, "TickStockApp is not subscribed"
        known = {r.producer_id for r in self.flow.subscriber.snapshot()}
        known |= {e.producer_id for e in self.flow.expansions}
        self.proc, self.started = self.flow.producer.start(*self.args)
        wait_until(lambda: self.proc.poll() is not None or self._new_producer_seen(known),
                   START_DEADLINE_S, "the background expansions' first notification")
        if self.proc.poll() is not None:
            self.stop()
            raise AssertionError(f"background expansions ended early: {self.run.describe()}")
        return self

    def stop(self) -> ProducerRun | None:
        if self.run is None and self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            self.run = self.flow.producer.finish(self.proc, self.started, self.args, 60)
        return self.run


def measure_without_expansion(flow: UniverseFlow, sampler: UiQuerySampler, impact: Impact) -> None:
    """UI queries with nothing else running, then one-theme updates for the delivery baseline."""
    t0 = time.time()
    wait_until(lambda: sampler.count_between(t0, time.time()) >= M.IMPACT_MIN_UI_SAMPLES, 20,
               f"{M.IMPACT_MIN_UI_SAMPLES} UI queries with no expansion running")
    impact.ui_before = sampler.result.between(t0, time.time())
    for _ in range(M.IMPACT_MAX_EXPANSIONS):
        if len(impact.delivery_before) >= M.IMPACT_MIN_DELIVERY_SAMPLES:
            break
        impact.delivery_before += flow.latencies_ms([flow.expand([BASELINE_THEME])])


def _write_window(report: dict) -> tuple[float, float]:
    return report["writes_started_at"], report["writes_finished_at"]


def measure_during_expansions(flow: UniverseFlow, sampler: UiQuerySampler, impact: Impact,
                              backgrounds: list[BackgroundExpansions]) -> None:
    """Full expansions in their own processes while a background producer keeps expanding.

    "During" means during the producers' database writes: UI samples count when they were in
    flight while some producer was writing; a notification counts when it was published while
    *another* producer process was writing (so delivery is measured under the write load).
    Cycles (background start, measured expansions, background stop) repeat until every window
    holds its minimum number of samples or the expansion budget is spent.
    """
    windows: dict[str, list[tuple[float, float]]] = {}
    while True:
        background = BackgroundExpansions(flow)
        backgrounds.append(background)
        background.start()
        try:
            for _ in range(M.IMPACT_MIN_EXPANSIONS):
                impact.rounds.append(flow.expand())
        finally:
            run = background.stop()
        assert run.returncode == 0 and run.report.get("rounds"), f"background expansions: {run.describe()}"
        impact.load_rounds += run.report["rounds"]
        load_id = run.report["producer_id"]
        flow.subscriber.settle(load_id, len(flow.stream.from_producer(load_id)), DELIVERY_DEADLINE_S)
        windows[load_id] = [_write_window(r) for r in run.report["rounds"]]
        windows.update({r.producer_id: [_write_window(r.run.report)] for r in impact.rounds})

        impact.ui_during = sampler.overlapping([w for ws in windows.values() for w in ws])
        impact.delivery_during = [
            r.latency_ms() for r in flow.subscriber.snapshot()
            if r.producer_id in windows and r.message
            and any(a <= parse_timestamp(r.message["timestamp"]) <= b
                    for pid, ws in windows.items() if pid != r.producer_id for a, b in ws)]
        enough = (len(impact.ui_during) >= M.IMPACT_MIN_UI_SAMPLES
                  and len(impact.delivery_during) >= M.IMPACT_MIN_DELIVERY_SAMPLES)
        if enough or len(impact.rounds) >= M.IMPACT_MAX_EXPANSIONS:
            return
