"""The ETF universe flow as a scenario drives it: the producer expands, TickStockApp observes.

``UniverseFlow`` starts TickStockApp-like subscribers, runs producer commands (separate processes,
see ``sut.producer``) and records what each expansion left in the database, on the stream and at
the consumers (``ExpansionObserved``). It never publishes anything itself: every message it
records was sent by the producer. Judging what it recorded is the job of ``checks``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.reference import reference_themes
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.etf_universes import EtfUniverseStore
from tickstock_acceptance.sut.producer import BackgroundCommand, ProducerRun, producer_for
from tickstock_acceptance.sut.streams import StreamCatchUp, StreamReader
from tickstock_acceptance.sut.subscriber import AppSubscriber, Received

OFFLINE_GROUP = "tickstock_app_offline"
LOAD_THEME_PREFIX = "test_load_"


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

    def received(self, event_type: str) -> list[Received]:
        return [r for r in self.live if r.event_type == event_type]


class UniverseFlow:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.producer = producer_for(system)
        self.store = EtfUniverseStore(system)
        self.stream = StreamReader(system)
        self.subscriber: AppSubscriber | None = None
        self.observer: AppSubscriber | None = None
        self.offline: StreamCatchUp | None = None
        self.caught_up: list[Received] = []
        self.expansions: list[ExpansionObserved] = []

    # -- consumers ----------------------------------------------------------------------------
    def subscribe(self) -> AppSubscriber:
        self.subscriber = AppSubscriber(self.system).start()
        return self.subscriber

    def observe_tickstock_channels(self) -> AppSubscriber:
        from tickstock_acceptance.sut.subscriber import observe_tickstock_channels

        self.observer = observe_tickstock_channels(self.system)
        return self.observer

    def register_offline_instance(self, group: str = OFFLINE_GROUP) -> None:
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

    # -- producer -----------------------------------------------------------------------------
    def expand(self, themes: list[str] | None = None, source: Path | None = None,
               expect_success: bool = True) -> ExpansionObserved:
        """Run the producer's expansion and record what reached the database, stream and consumers."""
        source_data = reference_themes(source) if source else reference_themes()
        chosen = {t: source_data[t] for t in (themes or source_data) if t in source_data}
        existed, mark = self.store.universe_names(), self.store.db_now()
        run = self.producer.expand(themes, str(source) if source else None)
        if expect_success:
            assert run.returncode == 0 and run.report, f"the producer's expansion failed: {run.describe()}"
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
                                            M.deadline(M.DELIVERY_DEADLINE_S))
        self.expansions.append(observed)
        return observed

    @property
    def last(self) -> ExpansionObserved:
        assert self.expansions, "no expansion has run in this scenario"
        return self.expansions[-1]

    def latencies_ms(self, expansions=None) -> list[float]:
        return [r.latency_ms() for e in (expansions or self.expansions) for r in e.live]

    # -- sources the producer is given ----------------------------------------------------------
    def load_source(self) -> Path:
        """Every reference theme under a ``test_load_`` name (the same 200+ symbols, written to rows
        of their own, so a load producer never waits on the measured one's locks)."""
        return self.system.scratch_file("test_etf_source_", {
            "themes": {f"{LOAD_THEME_PREFIX}{t}": d for t, d in reference_themes().items()}})

    def source_with_unwritable_theme(self, theme: str) -> Path:
        """Two real themes plus ``theme`` whose only ETF has a blank symbol."""
        ref = reference_themes()
        data = {"themes": {name: ref[name] for name in ("bonds", "mid_cap")}}
        data["themes"][theme] = {"focus": "unwritable", "criteria": "blank symbol",
                                 "liquidity_filter": {}, "etfs": [{"symbol": " ", "name": "blank",
                                                                   "aum": 1e12, "avg_volume": 1e9}]}
        return self.system.scratch_file("test_etf_source_", data)

    def background_expansions(self) -> BackgroundCommand:
        """The producer expanding every theme (``load_source``) again and again in its own process,
        started once TickStockApp has received a notification from it."""
        assert self.subscriber is not None, "TickStockApp is not subscribed"
        known = {r.producer_id for r in self.subscriber.snapshot()} | {e.producer_id for e in self.expansions}
        command = BackgroundCommand(self.producer, "expand", "--repeat-until-stopped",
                                    "--source", str(self.load_source()))

        def new_producer_seen() -> bool:
            return any(r.received_at >= command.started_at and r.producer_id not in known
                       for r in self.subscriber.snapshot())

        return command.start(new_producer_seen, "the background expansions' first notification")
