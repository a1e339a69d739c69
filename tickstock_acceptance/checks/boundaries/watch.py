"""TickStockApp under watch while a scenario drives the producer: what the service-boundary steps read.

``AppBoundaries`` holds, for one scenario, the run's TickStockApp (started on first use), the
role probe, and the watches that record what TickStockApp does meanwhile: its sockets and child
processes and every connection to its port (``ProcessWatch``), every publishing command Redis
receives and who sent it (``RedisCommandWatch``), and the database server's log of the consumer
role's writes (``audit``). ``close`` stops the watches (TickStockApp itself runs on until the run ends).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tickstock_acceptance.checks.boundaries import audit
from tickstock_acceptance.checks.boundaries.role import RoleProbe, producer_tables
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.core.waiting import DeadlineExceeded, wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.etf_universes import EtfUniverseStore
from tickstock_acceptance.sut.producer import producer_for
from tickstock_acceptance.sut.tickstock_app import (
    ProcessObservations,
    ProcessWatch,
    RedisCommand,
    RedisCommandWatch,
    TickStockAppController,
    enable_consumer_audit,
    server_log,
    tickstock_app_for,
)
from tickstock_acceptance.sut.universe_flow import ExpansionObserved


@dataclass
class RedisObservations:
    commands: list[RedisCommand] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)    # client host:port → client name


class AppBoundaries:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.probe = RoleProbe(system)
        self.probe_tables = producer_tables()
        self.app: TickStockAppController | None = None
        self._processes: ProcessWatch | None = None
        self._redis: RedisCommandWatch | None = None
        self.processes: ProcessObservations | None = None
        self.redis: RedisObservations | None = None

    def deployed(self) -> None:
        """The producer version under test has installed what it ships (grants included): a release
        is judged as deployed, whatever scenario happens to use the producer first."""
        producer_for(self.system)

    def start_app(self) -> TickStockAppController:
        self.app = tickstock_app_for(self.system)
        return self.app

    def watch(self) -> None:
        """Start watching TickStockApp's processes and sockets, and Redis's publishing commands."""
        assert self.app is not None, "TickStockApp is not running in this scenario"
        self.app.require_running()
        self._processes = ProcessWatch(self.app).start()
        self._redis = RedisCommandWatch(self.system).start()

    def stop_watching(self) -> None:
        """Stop the watches and keep what they saw (idempotent)."""
        if self._processes is not None and self.processes is None:
            self.processes = self._processes.stop()
        if self._redis is not None and self.redis is None:
            self.redis = RedisObservations(*self._redis.stop())

    @staticmethod
    def expected_view(expansion: ExpansionObserved,
                      store: EtfUniverseStore) -> tuple[dict[str, int], set[str]]:
        """What TickStockApp's view must show after ``expansion``: theme → symbols stored (read from the
        database as TickStockApp), and the ids of the expansion's messages."""
        stored = {}
        for theme in expansion.source_themes:
            universe = store.universe(theme).value
            if isinstance(universe, dict) and "error" not in universe:
                stored[theme] = len(universe.get("symbols") or [])
        ids = {r.message_id for r in [*expansion.persisted, *expansion.live] if r.message_id}
        return stored, ids

    def wait_for_view(self, settled, what: str) -> dict:
        """Poll TickStockApp's view until ``settled(view)`` or the delivery deadline; the last view."""
        assert self.app is not None, "TickStockApp is not running in this scenario"
        last: dict = {}

        def look() -> bool:
            nonlocal last
            last = self.app.view()
            return settled(last)

        try:
            wait_until(look, M.deadline(M.DELIVERY_DEADLINE_S), what, poll_max_s=0.1)
        except DeadlineExceeded:
            self.app.require_running()
        return last

    # -- the database server's log ------------------------------------------------------------
    def enable_audit(self) -> None:
        assert enable_consumer_audit(self.system), "the database server's log is not the run's to read"

    def logged_writes(self) -> list[audit.LoggedWrite]:
        return audit.writes_of(audit.parse_log(server_log(self.system)), self.probe.role)

    def close(self) -> None:
        self.stop_watching()
