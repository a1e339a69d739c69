"""The ``sql/`` migrations: apply them where the run owns the database, validate elsewhere.

Each ``sql/NNN_name.sql`` file is idempotent on its own and runs in one transaction; the
``schema_version`` table records what was applied, so applying twice changes nothing.
Validation reads the catalog (information_schema, pg_indexes, pg_proc), never assumes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tickstock_acceptance.config.paths import ROOT
from tickstock_acceptance.contract.database import (
    REQUIRED_DATABASE_FUNCTIONS,
    REQUIRED_INDEXES,
    REQUIRED_SCHEMA_COLUMNS,
    REQUIRED_TABLES,
)
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.infra.catalog import Catalog

SQL_DIR = ROOT / "sql"
MIGRATION_LOCK_KEY = 7_314_2025  # pg_advisory_lock key: "tickstock migrations"
MIGRATION_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

SCHEMA_VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def sql(self) -> str:
        return self.path.read_text()


def migrations(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """The migrations in order of their number."""
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        m = MIGRATION_NAME.match(path.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), path))
    return found


def applied_versions(conn) -> set[int]:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_version') IS NOT NULL")
        if not cur.fetchone()[0]:
            return set()
        cur.execute("SELECT version FROM schema_version")
        return {row[0] for row in cur.fetchall()}


def apply_migrations(conn, upto: int | None = None, sql_dir: Path = SQL_DIR) -> list[int]:
    """Apply pending migrations (up to and including ``upto``); return the versions applied."""
    applied: list[int] = []
    old_autocommit = conn.autocommit
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            # One migrator at a time per database (the lock ends with the session).
            cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
            cur.execute(SCHEMA_VERSION_DDL)
        conn.commit()
        done = applied_versions(conn)
        for mig in migrations(sql_dir):
            if upto is not None and mig.version > upto:
                break
            if mig.version in done:
                continue
            with conn.cursor() as cur:
                cur.execute(mig.sql())
                cur.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                            (mig.version, mig.name))
            conn.commit()
            applied.append(mig.version)
    except Exception:
        conn.rollback()
        raise
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        conn.commit()
        conn.autocommit = old_autocommit
    return applied


@dataclass
class SchemaReport:
    """What the catalog says about the Phase 3 schema."""

    missing_tables: list[str]
    missing_columns: list[str]
    missing_indexes: list[str]
    missing_functions: list[str]

    @property
    def complete(self) -> bool:
        return not (self.missing_tables or self.missing_columns or self.missing_indexes
                    or self.missing_functions)

    def describe(self) -> str:
        parts = []
        for label, items in (("tables", self.missing_tables), ("columns", self.missing_columns),
                             ("indexes", self.missing_indexes),
                             ("functions", self.missing_functions)):
            if items:
                parts.append(f"{label} {', '.join(items)}")
        return "missing " + "; ".join(parts) if parts else "complete"


def inspect_schema(conn) -> SchemaReport:
    """Read the catalog for the tables, columns, indexes and functions the contract needs."""
    catalog = Catalog(conn)
    tables, columns = catalog.tables(), catalog.columns("cache_entries")
    indexes, functions = catalog.indexes("cache_entries"), catalog.functions()
    return SchemaReport(
        missing_tables=[t for t in REQUIRED_TABLES if t not in tables],
        missing_columns=[c for c in REQUIRED_SCHEMA_COLUMNS if c not in columns],
        missing_indexes=[i for i in REQUIRED_INDEXES if i not in indexes],
        missing_functions=[f for f in REQUIRED_DATABASE_FUNCTIONS if f not in functions],
    )


def require_schema(conn, where: str) -> SchemaReport:
    """External mode: the schema must already be there; the run does not migrate what it does not own."""
    report = inspect_schema(conn)
    if not report.complete:
        raise SuiteError(f"the Phase 3 schema is incomplete in {where}: {report.describe()}",
                         "apply sql/ to that test database first (make migrate)")
    return report
