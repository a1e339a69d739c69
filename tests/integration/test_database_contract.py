"""The database contract, checked as a contract, on a real throwaway PostgreSQL.

One database is migrated with ``sql/`` only: the finder finds nothing. Another is migrated with
``sql/`` and then with a foreign migration (below) of the kind that once passed ENV-1, because only
names were checked: overloads beside the contract's functions, a changed result type, extra rights
for the consumer, the DESC index recreated ascending, an index of its own. The finder must name
each of those, one line each, and nothing else; the external-mode preflight must refuse in one
line naming them.
"""

from __future__ import annotations

import secrets

import pytest
from psycopg2 import sql

from tests.conftest import run_cli
from tickstock_acceptance.checks.environment.database_contract import database_contract_differences
from tickstock_acceptance.contract.database import CONSUMER_ROLE, DATABASE_CONTRACT
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.infra.catalog import Catalog
from tickstock_acceptance.infra.db import DbEndpoint, session
from tickstock_acceptance.infra.embedded import EmbeddedPostgres, RunDir
from tickstock_acceptance.infra.migrations import apply_migrations, inspect_schema, require_schema

FOREIGN_MIGRATION = """
-- Overloads beside the contract's functions (PostgreSQL grants EXECUTE on them to PUBLIC).
CREATE FUNCTION get_etf_universe(p_theme text) RETURNS jsonb LANGUAGE sql STABLE
    AS $$ SELECT get_etf_universe(p_theme, false) $$;
CREATE FUNCTION update_etf_universe(p_theme text, p_symbols text[]) RETURNS integer LANGUAGE sql
    AS $$ SELECT (update_etf_universe(p_theme, to_jsonb(p_symbols)) ->> 'symbols_count')::integer $$;

-- A result type that differs (symbol_count bigint), granted again as sql/004 grants it.
DROP FUNCTION get_etf_universes_summary();
CREATE FUNCTION get_etf_universes_summary()
RETURNS TABLE (theme text, symbol_count bigint, last_updated timestamp, focus text, criteria text,
               symbols_sample jsonb)
LANGUAGE sql STABLE
AS $$ SELECT name::text, 0::bigint, last_universe_update, NULL::text, NULL::text, '[]'::jsonb
      FROM cache_entries WHERE type = 'etf_universe' $$;
REVOKE EXECUTE ON FUNCTION get_etf_universes_summary() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION get_etf_universes_summary() TO app_readwrite, tickstock_producer;

-- The Phase 3 index recreated in the other direction, and an index of its own.
DROP INDEX idx_cache_entries_updated;
CREATE INDEX idx_cache_entries_updated ON cache_entries (last_universe_update);
CREATE INDEX idx_foreign_category ON cache_entries (universe_category);

-- Rights the consumer must not have (one of them on a single column), and one the producer lacks.
GRANT UPDATE ON cache_entries TO app_readwrite;
GRANT UPDATE (name) ON symbols TO app_readwrite;
GRANT EXECUTE ON FUNCTION update_etf_universe(text, jsonb, jsonb) TO app_readwrite;
REVOKE EXECUTE ON FUNCTION validate_etf_universe_symbols() FROM tickstock_producer;
"""

SUMMARY = ("TABLE(theme text, symbol_count {}, last_updated timestamp without time zone, focus text, "
           "criteria text, symbols_sample jsonb)")
CONSUMER = "role app_readwrite (TickStockApp)"
FOREIGN_DIFFERENCES = [
    "index idx_cache_entries_updated on cache_entries is (last_universe_update), "
    "the contract says (last_universe_update DESC)",
    "extra overload get_etf_universe(text) → jsonb "
    "beside the contract's get_etf_universe(text, boolean) → jsonb",
    "extra overload update_etf_universe(text, text[]) → integer "
    "beside the contract's update_etf_universe(text, jsonb, jsonb) → jsonb",
    f"function get_etf_universes_summary() returns {SUMMARY.format('bigint')}, "
    f"the contract says {SUMMARY.format('integer')}",
    f"{CONSUMER} has UPDATE on columns of table symbols, which the contract forbids",
    f"{CONSUMER} has UPDATE on table cache_entries, which the contract forbids",
    f"{CONSUMER} may EXECUTE update_etf_universe(text, jsonb, jsonb), which the contract forbids",
    f"{CONSUMER} may EXECUTE update_etf_universe(text, text[]), which the contract forbids",
    "role tickstock_producer (TickStockPL) lacks EXECUTE on validate_etf_universe_symbols()",
]
FOREIGN_NOTES = ["index idx_foreign_category on cache_entries (universe_category) is not in the contract "
                 "(allowed); it duplicates idx_cache_entries_category"]


class _Cluster:
    """A throwaway PostgreSQL with two databases: the reference (sql/) and the foreign one."""

    def __init__(self, pg: EmbeddedPostgres) -> None:
        self.pg = pg
        self.consumer_password = secrets.token_urlsafe(12)
        for name, foreign in (("contract_reference_test", False), ("contract_foreign_test", True)):
            with session(pg.admin_endpoint()) as conn, conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            with session(pg.admin_endpoint(name), autocommit=False) as conn:
                apply_migrations(conn)
                if foreign:
                    with conn.cursor() as cur:
                        cur.execute(FOREIGN_MIGRATION)
                    conn.commit()
        with session(pg.admin_endpoint()) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD %s").format(sql.Identifier(CONSUMER_ROLE)),
                        (self.consumer_password,))

    def consumer(self, dbname: str) -> DbEndpoint:
        return DbEndpoint(self.pg.host, self.pg.port, dbname, CONSUMER_ROLE, self.consumer_password)


class _SystemAsConsumer:
    """What the finder needs of the run's system: sessions as the consumer, on one database, and
    the identities that play the contract's roles (here the reference roles, as in embedded mode)."""

    def __init__(self, endpoint: DbEndpoint) -> None:
        self.consumer = endpoint

    def endpoint(self, role: str = "consumer") -> DbEndpoint:
        users = {"consumer": self.consumer.user, "producer": "tickstock_producer"}
        return DbEndpoint(self.consumer.host, self.consumer.port, self.consumer.dbname, users[role],
                          self.consumer.password)

    def session(self, role: str = "consumer", autocommit: bool = True):
        assert role == "consumer"
        return session(self.consumer, autocommit=autocommit)


@pytest.fixture(scope="module")
def cluster():
    run_dir = RunDir()
    try:
        pg = EmbeddedPostgres(run_dir.path).start()
        try:
            yield _Cluster(pg)
        finally:
            pg.close()
    finally:
        run_dir.remove()


def test_the_reference_matches_its_contract(cluster):
    """sql/ is the contract's reference implementation: no difference, no note, read as TickStockApp."""
    assert database_contract_differences(_SystemAsConsumer(cluster.consumer("contract_reference_test"))) == []
    with session(cluster.pg.admin_endpoint("contract_reference_test")) as conn:
        report = require_schema(conn, "the reference")
    assert report.complete and report.notes == []


def test_the_finder_names_every_difference_of_a_foreign_schema(cluster):
    differences = database_contract_differences(_SystemAsConsumer(cluster.consumer("contract_foreign_test")))
    assert differences == FOREIGN_DIFFERENCES, "\n".join(differences)
    assert all("\n" not in line for line in differences)


def test_the_admin_reads_the_same_catalog_as_the_consumer(cluster):
    """The preflight reads as the admin, ENV-1 as the consumer: the same comparison, the same answer."""
    with session(cluster.pg.admin_endpoint("contract_foreign_test")) as conn:
        report = inspect_schema(conn)
    assert report.differences == FOREIGN_DIFFERENCES
    assert report.notes == FOREIGN_NOTES


def test_the_preflight_refuses_a_foreign_schema_in_one_line_naming_the_differences(cluster):
    with session(cluster.pg.admin_endpoint("contract_foreign_test")) as conn:
        with pytest.raises(SuiteError) as err:
            require_schema(conn, "the foreign database")
    line = err.value.one_line()
    assert "\n" not in line and "9 differences" in line and "make migrate" in line
    for difference in FOREIGN_DIFFERENCES:
        assert difference in line


def test_the_cli_preflight_stops_with_one_line(cluster, tmp_path):
    pg = cluster.pg
    env = {"TEST_DB_HOST": pg.host, "TEST_DB_PORT": str(pg.port), "TEST_DB_NAME": "contract_foreign_test",
           "TEST_DB_USER": "postgres", "TEST_DB_PASSWORD": pg.superuser_password}
    result = run_cli("run", "--no-report", env=env, reports_dir=tmp_path)
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "extra overload get_etf_universe(text) → jsonb" in errors[0]
    assert "idx_cache_entries_updated" in errors[0] and "may EXECUTE update_etf_universe" in errors[0]


def test_a_dropped_table_is_named_once_not_as_a_cascade(cluster):
    """A missing table is one difference; its columns, keys and grants are not listed again."""
    with session(cluster.pg.admin_endpoint("contract_reference_test"), autocommit=False) as conn:
        try:
            with conn.cursor() as cur:
                cur.execute("DROP TABLE ohlcv_daily")
            differences = DATABASE_CONTRACT.compare(Catalog(conn)).differences
        finally:
            conn.rollback()
    assert differences == ["missing table ohlcv_daily"]
