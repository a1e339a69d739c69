"""Probes for the spec's "Test Environment Validation": database, Redis and channels.

Everything is read from the live servers: the database's round trip (its catalog is compared with
the database contract in ``database_contract.py``), real keys in real Redis databases for
isolation, the producer under test for its channel configuration. Nothing is assumed from the
migration files.
"""

from __future__ import annotations

import secrets
import time

from tickstock_acceptance.contract.messaging import (
    CHANNEL_NAMING_PATTERN,
    REQUIRED_CHANNELS,
    contract_name,
    follows_naming_convention,
    namespace,
    namespaced,
)
from tickstock_acceptance.core.errors import first_line
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import producer_for

CLUSTER_SLOTS = 16384


class EnvironmentProbe:
    """Asks the run's PostgreSQL, Redis and producer what they actually provide."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.outside_namespace: set[str] = set()  # filled by configured_channels()

    # -- PostgreSQL ------------------------------------------------------------------------
    def database_round_trip_ms(self) -> float:
        """Connect as the consumer and run one query; milliseconds for the whole round trip."""
        t0 = time.perf_counter()
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        return (time.perf_counter() - t0) * 1000.0

    # -- Redis ----------------------------------------------------------------------------
    def redis_round_trip_ms(self, db: int) -> float:
        t0 = time.perf_counter()
        self.system.redis_client(db).ping()
        return (time.perf_counter() - t0) * 1000.0

    def write_marker(self, db: int) -> str:
        """Write a fresh ``test_`` key (in the run's namespace) into ``db`` and return its name."""
        key = namespaced(f"test_env_marker:{db}:{secrets.token_hex(4)}")
        self.system.redis_client(db).set(key, str(db), ex=300)
        return key

    def read_marker(self, db: int, key: str) -> str | None:
        return self.system.redis_client(db).get(key)

    def unusable_databases(self, dbs) -> list[str]:
        """Logical databases that do not keep a value written to them."""
        return [f"database {db} did not keep its value" for db in dbs
                if self.read_marker(db, self.write_marker(db)) != str(db)]

    def isolation_problems(self, dbs) -> list[str]:
        """Values that leak between logical databases, or are unreadable in their own."""
        keys = {db: self.write_marker(db) for db in dbs}
        try:
            seen = {(w, r): self.read_marker(r, keys[w]) is not None for w in dbs for r in dbs}
        finally:
            for db, key in keys.items():
                self.system.redis_client(db).delete(key)
        return ([f"a value written to {w} is visible in {r}" for (w, r), v in seen.items() if v and w != r]
                + [f"a value written to {w} is not readable there" for (w, r), v in seen.items()
                   if not v and w == r])

    # -- Redis Cluster (database 0 only: the run's keys are told apart by its namespace) ------------
    def cluster_problems(self) -> list[str]:
        """The cluster's own state, its slots all served, and every primary answering PING (with the
        round trips recorded per primary as ``self.primary_round_trips``)."""
        rc = self.system.redis_client(0)
        problems: list[str] = []
        self.primary_round_trips: dict[str, list[float]] = {}
        try:
            info = rc.cluster_info(target_nodes=rc.get_default_node())
            if info.get("cluster_state") != "ok":
                problems.append(f"the cluster's state is {info.get('cluster_state')!r}, not 'ok'")
            served = int(info.get("cluster_slots_ok", 0))
            if served != CLUSTER_SLOTS:
                problems.append(f"{served} of the {CLUSTER_SLOTS} slots are served")
            for node in rc.get_primaries():
                samples = []
                try:
                    for _ in range(5):
                        t0 = time.perf_counter()
                        rc.ping(target_nodes=node)
                        samples.append((time.perf_counter() - t0) * 1000.0)
                except Exception as exc:  # noqa: BLE001 - reported as the node's problem
                    problems.append(f"primary {node.name} does not answer: {first_line(exc)}")
                self.primary_round_trips[node.name] = samples
        finally:
            rc.close()
        return problems

    def primaries_not_keeping(self) -> list[str]:
        """A fresh key of the run's namespace in a slot of each primary, written through the cluster:
        it must be kept on that primary (read from the node itself) and readable through the cluster."""
        rc = self.system.redis_client(0)
        problems = []
        try:
            token = secrets.token_hex(4)
            for node in rc.get_primaries():
                key = next(k for k in (namespaced(f"test_env_marker:{i}:{token}") for i in range(100_000))
                           if rc.get_node_from_key(k).name == node.name)
                try:
                    rc.set(key, node.name, ex=300)
                    direct = rc.get_redis_connection(node).get(key)
                    through = rc.get(key)
                    if direct != node.name or through != node.name:
                        problems.append(f"primary {node.name} did not keep {key} (on the node: {direct!r}, "
                                        f"through the cluster: {through!r})")
                    rc.delete(key)
                except Exception as exc:  # noqa: BLE001 - reported as the node's problem
                    problems.append(f"primary {node.name} could not keep {key}: {first_line(exc)}")
        finally:
            rc.close()
        return problems

    # -- Channels -------------------------------------------------------------------------
    def configured_channels(self) -> set[str]:
        """The channels the system under test's producer is configured with (asked, not assumed), under
        the contract's names when the run has a channel namespace; those it configured outside the
        namespace are kept apart in ``self.outside_namespace`` (they count as not configured)."""
        configured = set(producer_for(self.system).channels().values())
        self.outside_namespace = {c for c in configured if not c.startswith(namespace())}
        return {contract_name(c) for c in configured - self.outside_namespace}


def missing_channels(configured: set[str], wanted: list[str], outside: set[str] = frozenset()) -> list[str]:
    """Wanted channels the producer does not publish (in the run's namespace, when it has one)."""
    where = f" in the run's namespace {namespace()}" if namespace() else ""
    return [f"channel {c} is not configured{where}"
            + (f" (the producer publishes it as {c}, outside the namespace: it ignores its channel prefix)"
               if c in outside else "") for c in wanted if c not in configured]


def misnamed_channels(configured: set[str]) -> list[str]:
    return [f"channel {c} does not match {CHANNEL_NAMING_PATTERN.pattern}"
            for c in sorted(configured) if not follows_naming_convention(c)]


def table_vs_contract(listed: list[str]) -> list[str]:
    """The feature's table of required channels is the contract's list (one source)."""
    if sorted(listed) == sorted(REQUIRED_CHANNELS):
        return []
    return [f"it lists {sorted(listed)}, the contract (contract/messaging.json) requires "
            f"{sorted(REQUIRED_CHANNELS)}"]


def slots_vs_cluster(slots: int) -> list[str]:
    """The feature's number of slots is Redis Cluster's (one source)."""
    return [] if slots == CLUSTER_SLOTS else [f"the feature says {slots} slots, a Redis Cluster has "
                                              f"{CLUSTER_SLOTS}"]
