"""Probes for the spec's "Test Environment Validation" (checklist ENV-1..3).

Everything is read from the live servers: the catalog for the schema, real keys in real Redis
databases for isolation. Nothing is assumed from the migration files.
"""

from __future__ import annotations

import secrets
import time

from tickstock_acceptance.contract import CHANNEL_NAMING_PATTERN
from tickstock_acceptance.infra.system import AcceptanceSystem


class EnvironmentProbe:
    """Asks the run's PostgreSQL and Redis what they actually provide."""

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

    def columns_of(self, table: str) -> set[str]:
        return self._names("""SELECT column_name FROM information_schema.columns
                              WHERE table_schema = current_schema() AND table_name = %s""", table)

    def indexes_of(self, table: str) -> set[str]:
        return self._names("""SELECT indexname FROM pg_indexes
                              WHERE schemaname = current_schema() AND tablename = %s""", table)

    def functions(self) -> set[str]:
        return self._names("""SELECT p.proname FROM pg_proc p
                              JOIN pg_namespace n ON n.oid = p.pronamespace
                              WHERE n.nspname = current_schema() AND %s""", True)

    def _names(self, query: str, arg) -> set[str]:
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute(query, (arg,))
            return {row[0] for row in cur.fetchall()}

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

    def visibility(self, dbs) -> dict[tuple[int, int], bool]:
        """For every (writer, reader) pair: can ``reader`` see the marker ``writer`` wrote?"""
        keys = {db: self.write_marker(db) for db in dbs}
        try:
            return {(w, r): self.read_marker(r, keys[w]) is not None for w in dbs for r in dbs}
        finally:
            for db, key in keys.items():
                self.system.redis_client(db).delete(key)

    # -- Channels -------------------------------------------------------------------------
    def configured_channels(self) -> set[str]:
        """The channels the system under test's producer is configured with (asked, not assumed)."""
        from tickstock_acceptance.sut.producer import producer_for

        return set(producer_for(self.system).channels().values())

    @staticmethod
    def matches_naming_pattern(channel: str) -> bool:
        return bool(CHANNEL_NAMING_PATTERN.match(channel))
