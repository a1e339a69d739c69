"""The per-scenario state: one typed object instead of ad-hoc ``context`` attributes.

``scenario_state`` (a behave fixture, wired in ``environment.py``) puts a fresh ``ScenarioState``
on ``context.state`` before each scenario and closes it afterwards, which stops every subscriber,
sampler and background producer the scenario started, in reverse order. Controllers are created
on first use (``state.flow``, ``state.persistence``), so a scenario pays only for what it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from behave import fixture

from tickstock_acceptance.checks.boundaries.watch import AppBoundaries
from tickstock_acceptance.checks.cache_sync.flow import CacheSyncFlow
from tickstock_acceptance.checks.database.coexistence import StockUniverseMaintenance
from tickstock_acceptance.checks.database.legacy_compat import LegacyCompatibility
from tickstock_acceptance.checks.environment.probe import EnvironmentProbe
from tickstock_acceptance.checks.etf.impact import Impact
from tickstock_acceptance.checks.etf.stored_universes import FilterProbe, StoredUniverse
from tickstock_acceptance.checks.perf.advanced_delivery import AdvancedFeaturesDelivery
from tickstock_acceptance.checks.perf.realtime import RealtimeUnderLoad
from tickstock_acceptance.checks.redis.overflow import HighFrequencyUpdates
from tickstock_acceptance.checks.redis.persistence import MessagePersistence
from tickstock_acceptance.checks.resilience.concurrency import ConstrainedOperations, MixedOperations
from tickstock_acceptance.checks.resilience.distributed_load import DistributedLoad
from tickstock_acceptance.checks.resilience.isolation import ErrorIsolation
from tickstock_acceptance.checks.resilience.link_faults import LinkFaults
from tickstock_acceptance.checks.resilience.recovery import DatabaseRecovery, RedisRecovery
from tickstock_acceptance.checks.resilience.stress import MemoryUnderStress
from tickstock_acceptance.checks.scenarios.flow import ScenarioFlow
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.etf_universes import Timed
from tickstock_acceptance.sut.ui_clients import LoadResult, UiQuerySampler
from tickstock_acceptance.sut.universe_flow import UniverseFlow


@dataclass
class QueryLoad:
    """Concurrent TickStockApp clients and what they measured."""

    clients: int
    queries_per_client: int
    result: LoadResult
    window: tuple[float, float]  # wall clock, start and end

    @property
    def expected_queries(self) -> int:
        return self.clients * self.queries_per_client


@dataclass
class ScenarioState:
    system: AcceptanceSystem
    # environment validation
    probe: EnvironmentProbe | None = None
    channels: set[str] = field(default_factory=set)
    # ETF universe functions
    reads: dict[tuple[str, bool], Timed] = field(default_factory=dict)
    probe_reads: list[Timed] = field(default_factory=list)
    filter_probe: FilterProbe | None = None
    stored: list[StoredUniverse] = field(default_factory=list)   # universes the scenario stored itself
    writes: list[Timed] = field(default_factory=list)
    last_write: tuple | None = None                               # (theme, symbols, metadata, update before)
    summaries: list[Timed] = field(default_factory=list)
    validations: list[Timed] = field(default_factory=list)
    loaded: dict = field(default_factory=dict)               # the historical loader's report
    # expansion impact
    ui_sampler: UiQuerySampler | None = None
    impact: Impact | None = None
    # database integration
    compat: LegacyCompatibility | None = None
    maintenance: StockUniverseMaintenance | None = None
    etf_before: dict[str, list[str]] | None = None
    load: QueryLoad | None = None
    _flow: UniverseFlow | None = None
    _persistence: MessagePersistence | None = None
    _overflow: HighFrequencyUpdates | None = None
    _scenarios: ScenarioFlow | None = None                     # test scenarios (SCN, DB-3, SVC-3)
    _sync: CacheSyncFlow | None = None                         # cache sync (SYNC, DB-4, RED-3, SVC-4, PERF-4)
    _realtime: RealtimeUnderLoad | None = None
    _boundaries: AppBoundaries | None = None                   # TickStockApp under watch (SVC-1, SVC-2)
    _advanced_delivery: AdvancedFeaturesDelivery | None = None
    _database_recovery: DatabaseRecovery | None = None           # RES-1 (PostgreSQL)
    _redis_recovery: RedisRecovery | None = None                 # RES-1 (Redis)
    _isolation: ErrorIsolation | None = None                     # RES-4
    recovery: DatabaseRecovery | RedisRecovery | None = None     # RES-1: the half the scenario runs
    _link_faults: LinkFaults | None = None                       # RES-1: faults on the link to Redis
    _mixed_operations: MixedOperations | None = None             # RES-2: simultaneous operations
    _constrained: ConstrainedOperations | None = None             # RES-2: success under constraints
    _memory_stress: MemoryUnderStress | None = None               # RES-3: memory and CPU under stress
    _distributed_load: DistributedLoad | None = None              # RES-2: the mix from Locust
    _closers: list[Callable[[], object]] = field(default_factory=list)

    def on_close(self, closer: Callable[[], object]) -> None:
        """Run ``closer`` when the scenario ends (last registered, first run)."""
        self._closers.append(closer)

    @property
    def flow(self) -> UniverseFlow:
        if self._flow is None:
            self._flow = UniverseFlow(self.system)
            self.on_close(self._flow.close)
        return self._flow

    @property
    def persistence(self) -> MessagePersistence:
        if self._persistence is None:
            self._persistence = MessagePersistence.open(self.system)
            self.on_close(self._persistence.close)
        return self._persistence

    @property
    def overflow(self) -> HighFrequencyUpdates:
        if self._overflow is None:
            self._overflow = HighFrequencyUpdates(self.system)
            self.on_close(self._overflow.close)
        return self._overflow

    @property
    def realtime(self) -> RealtimeUnderLoad:
        if self._realtime is None:
            self._realtime = RealtimeUnderLoad(self.system)
            self.on_close(self._realtime.close)
        return self._realtime

    @property
    def advanced_delivery(self) -> AdvancedFeaturesDelivery:
        if self._advanced_delivery is None:
            self._advanced_delivery = AdvancedFeaturesDelivery(self.system)
            self.on_close(self._advanced_delivery.close)
        return self._advanced_delivery

    @property
    def database_recovery(self) -> DatabaseRecovery:
        if self._database_recovery is None:
            self._database_recovery = self.recovery = DatabaseRecovery(self.system)
            self.on_close(self._database_recovery.close)
        return self._database_recovery

    @property
    def redis_recovery(self) -> RedisRecovery:
        if self._redis_recovery is None:
            self._redis_recovery = self.recovery = RedisRecovery(self.system)
            self.on_close(self._redis_recovery.close)
        return self._redis_recovery

    @property
    def isolation(self) -> ErrorIsolation:
        if self._isolation is None:
            self._isolation = ErrorIsolation(self.system)
            self.on_close(self._isolation.close)
        return self._isolation

    @property
    def scenarios(self) -> ScenarioFlow:
        if self._scenarios is None:
            self._scenarios = ScenarioFlow(self.system)
            self.on_close(self._scenarios.close)
        return self._scenarios

    @property
    def sync(self) -> CacheSyncFlow:
        if self._sync is None:
            self._sync = CacheSyncFlow(self.system)
            self.on_close(self._sync.close)
        return self._sync

    @property
    def boundaries(self) -> AppBoundaries:
        if self._boundaries is None:
            self._boundaries = AppBoundaries(self.system)
            self.on_close(self._boundaries.close)
        return self._boundaries

    @property
    def link_faults(self) -> LinkFaults:
        if self._link_faults is None:
            self._link_faults = LinkFaults(self.system)
            self.on_close(self._link_faults.close)
        return self._link_faults

    @property
    def mixed_operations(self) -> MixedOperations:
        if self._mixed_operations is None:
            self._mixed_operations = MixedOperations(self.system)
            self.on_close(self._mixed_operations.close)
        return self._mixed_operations

    @property
    def constrained(self) -> ConstrainedOperations:
        if self._constrained is None:
            self._constrained = ConstrainedOperations(self.system)
            self.on_close(self._constrained.close)
        return self._constrained

    @property
    def distributed_load(self) -> DistributedLoad:
        if self._distributed_load is None:
            self._distributed_load = DistributedLoad(self.system)
            self.on_close(self._distributed_load.close)
        return self._distributed_load

    @property
    def memory_stress(self) -> MemoryUnderStress:
        if self._memory_stress is None:
            self._memory_stress = MemoryUnderStress(self.system)
            self.on_close(self._memory_stress.close)
        return self._memory_stress

    def close(self) -> None:
        errors = []
        while self._closers:
            try:
                self._closers.pop()()
            except Exception as exc:  # noqa: BLE001 - every closer runs; the first error is re-raised
                errors.append(exc)
        if errors:
            raise errors[0]


@fixture
def scenario_state(context):
    state = context.state = ScenarioState(context.system)
    try:
        yield state
    finally:
        state.close()
