"""Backward compatibility: legacy rows and legacy queries survive the Phase 3 migration unchanged.

A real migration run on a scratch database the run owns (embedded PostgreSQL, admin role):
create ``<db>_legacy_<hex>``, apply ``sql/`` up to 001 (the pre-Phase-3 schema), write legacy
rows the way pre-Phase-3 code wrote them, run the legacy queries, apply the remaining
migrations (002: Phase 3 columns and indexes, 003, 004), run the same queries again and compare.
The scratch database is dropped afterwards.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from psycopg2 import sql

from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.infra.catalog import Catalog
from tickstock_acceptance.infra.db import session
from tickstock_acceptance.infra.migrations import apply_migrations
from tickstock_acceptance.infra.system import AcceptanceSystem

PRE_PHASE3 = 1   # sql/001: the schema before Phase 3
PHASE3 = 2       # sql/002: the Phase 3 columns and indexes

# How pre-Phase-3 code wrote cache entries (explicit legacy columns, and positional VALUES).
LEGACY_WRITES = (
    """INSERT INTO cache_entries (type, name, key, value, environment)
       VALUES ('market_leaders', 'top_10', 'leaders', '{"symbols": ["AAPL", "MSFT", "NVDA"]}', 'DEFAULT')""",
    """INSERT INTO cache_entries (type, name, key, value)
       VALUES ('stock_universe', 'large_cap', 'stock_large_cap', '{"symbols": ["AAPL", "JPM"], "n": 2}')""",
    """INSERT INTO cache_entries (type, name, key, value, environment)
       VALUES ('themes', 'ai', 'theme_ai', '{"symbols": ["NVDA", "AMD"]}', 'PRODUCTION')""",
    """INSERT INTO cache_entries VALUES
       (DEFAULT, 'sector_leaders', 'energy', 'leaders', '{"symbols": ["XOM"]}', 'DEFAULT',
        '2024-01-02T00:00:00+00', '2024-01-02T00:00:00+00')""",
)

# Queries of pre-Phase-3 readers (named columns only; ordered so results are comparable).
LEGACY_QUERIES = {
    "by (type, name, key)": """SELECT id, type, name, key, value, environment FROM cache_entries
                               WHERE type = 'market_leaders' AND name = 'top_10' AND key = 'leaders'""",
    "symbols of a universe": """SELECT value->'symbols' FROM cache_entries
                                WHERE type = 'stock_universe' AND name = 'large_cap'""",
    "count by type": "SELECT type, count(*) FROM cache_entries GROUP BY type ORDER BY type",
    "all legacy columns": """SELECT id, type, name, key, value, environment, created_at, updated_at
                             FROM cache_entries ORDER BY id""",
    "by environment": "SELECT key FROM cache_entries WHERE environment = 'PRODUCTION' ORDER BY key",
}

WRITE_AFTER = """INSERT INTO cache_entries (type, name, key, value)
                 VALUES ('stock_universe', 'mid_cap', 'stock_mid_cap', '{"symbols": ["ETSY"]}')
                 RETURNING universe_category, liquidity_filter, universe_metadata,
                           last_universe_update IS NOT NULL"""


@dataclass
class CompatibilityReport:
    database: str
    applied_before: list[int] = field(default_factory=list)
    applied_after: list[int] = field(default_factory=list)
    before: dict[str, list] = field(default_factory=dict)
    after: dict[str, list] = field(default_factory=dict)
    new_columns: list[str] = field(default_factory=list)
    legacy_write_after: tuple | None = None

    def differences(self) -> list[str]:
        return [name for name in LEGACY_QUERIES if self.before.get(name) != self.after.get(name)]

    def problems(self) -> list[str]:
        """Legacy queries that answered nothing before the migration, or differently after it."""
        missing = [f"{name}: no rows before the migration" for name in LEGACY_QUERIES
                   if not self.before.get(name)]
        return missing + [f"{name}: answered {self.before.get(name)} before, {self.after.get(name)} after"
                          for name in self.differences()]


class LegacyCompatibility:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        if not system.database_created_by_run or system.postgres is None or not system.postgres.owned:
            raise SuiteError("the legacy compatibility check runs a real migration on a scratch database, "
                             "which needs the embedded PostgreSQL the run owns", "run in embedded mode")
        self.name = f"{system.settings.db_name}_legacy_{secrets.token_hex(3)}"
        self.admin = system.endpoint("admin")
        self.report = CompatibilityReport(self.name)

    def _server(self):
        return session(self.admin)

    def create_pre_phase3_database(self) -> None:
        with self._server() as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        with session(self.admin.with_db(self.name), autocommit=False) as conn:
            self.report.applied_before = apply_migrations(conn, upto=PRE_PHASE3)

    def write_legacy_rows(self) -> None:
        with session(self.admin.with_db(self.name)) as conn, conn.cursor() as cur:
            for statement in LEGACY_WRITES:
                cur.execute(statement)

    def _run_queries(self) -> dict[str, list]:
        out = {}
        with session(self.admin.with_db(self.name)) as conn, conn.cursor() as cur:
            for name, query in LEGACY_QUERIES.items():
                cur.execute(query)
                out[name] = [tuple(r) for r in cur.fetchall()]
        return out

    def read_before(self) -> None:
        self.report.before = self._run_queries()

    def migrate(self) -> None:
        with session(self.admin.with_db(self.name), autocommit=False) as conn:
            self.report.applied_after = apply_migrations(conn)
        with session(self.admin.with_db(self.name)) as conn:
            self.report.new_columns = list(Catalog(conn).columns("cache_entries"))

    def read_after(self) -> None:
        self.report.after = self._run_queries()

    def legacy_insert_after(self) -> tuple:
        with session(self.admin.with_db(self.name)) as conn, conn.cursor() as cur:
            cur.execute(WRITE_AFTER)
            self.report.legacy_write_after = tuple(cur.fetchone())
        return self.report.legacy_write_after

    def drop(self) -> None:
        with self._server() as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
