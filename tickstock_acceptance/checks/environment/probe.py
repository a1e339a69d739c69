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
    follows_naming_convention,
)
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import producer_for


class EnvironmentProbe:
    """Asks the run's PostgreSQL, Redis and producer what they actually provide."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system

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
        """Write a fresh ``test_`` key into ``db`` and return its name."""
        key = f"test_env_marker:{db}:{secrets.token_hex(4)}"
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

    # -- Channels -------------------------------------------------------------------------
    def configured_channels(self) -> set[str]:
        """The channels the system under test's producer is configured with (asked, not assumed)."""
        return set(producer_for(self.system).channels().values())


def missing_channels(configured: set[str], wanted: list[str]) -> list[str]:
    return [f"channel {c} is not configured" for c in wanted if c not in configured]


def misnamed_channels(configured: set[str]) -> list[str]:
    return [f"channel {c} does not match {CHANNEL_NAMING_PATTERN.pattern}"
            for c in sorted(configured) if not follows_naming_convention(c)]


def table_vs_contract(listed: list[str]) -> list[str]:
    """The feature's table of required channels is the contract's list (one source)."""
    if sorted(listed) == sorted(REQUIRED_CHANNELS):
        return []
    return [f"it lists {sorted(listed)}, the contract (contract/messaging.json) requires "
            f"{sorted(REQUIRED_CHANNELS)}"]
