"""The database as the Test Scenario Integration checks read it: synthetic storage and production tables.

Synthetic data lives in its own schema (``synthetic``, named by ``contract/reference/scenarios.json``);
production readers (TickStockApp, the consumer identity) have no privilege on it. So:

- the synthetic rows are read as the suite's **admin** identity (``bars``, ``symbols``, ``outcomes``),
  and as the **producer** identity where the point is that TickStockPL sees them;
- the production tables (``public.symbols``, ``public.ohlcv_daily``) are read as **TickStockApp**
  (``production_snapshot``, ``visible_to_consumer``), exactly what production readers see;
- ``consumer_reads`` tries the synthetic tables as TickStockApp and returns what the database said;
- ``table_statistics`` reads the database's own write counters (``pg_stat_user_tables``).

Nothing here judges: the problem finders in ``checks.scenarios`` do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg2
from psycopg2 import sql

from tickstock_acceptance.contract.scenarios import scenario_contract
from tickstock_acceptance.core.errors import first_line
from tickstock_acceptance.infra.system import AcceptanceSystem

PRODUCTION_TABLES = {"symbols": ("symbol",), "ohlcv_daily": ("symbol", "date")}  # table → key columns
# Production rows the suite writes itself (as TickStockPL) so the production tables are not empty
# when their content is compared: TEST_ symbols (cleanup removes them) of type CS, not TEST.
PRODUCTION_FIXTURE_SYMBOLS = ("TEST_PROD_ALPHA", "TEST_PROD_BETA")
PRODUCTION_FIXTURE_DAYS = 5


@dataclass(frozen=True)
class Bar:
    date: date
    open: float
    high: float
    low: float
    close: float
    volume: int


@dataclass(frozen=True)
class TableSnapshot:
    """Row count and a content checksum (md5 of every row's text, ordered by the table's key)."""

    table: str
    rows: int
    checksum: str


@dataclass(frozen=True)
class ReadAttempt:
    """What the database answered when an identity read a table."""

    table: str
    allowed: bool
    rows: int | None = None
    sqlstate: str | None = None
    message: str = ""


@dataclass(frozen=True)
class WriteCounters:
    """The database's cumulative write statistics of one table."""

    inserted: int
    updated: int
    deleted: int

    def minus(self, before: WriteCounters | None) -> WriteCounters:
        before = before or WriteCounters(0, 0, 0)
        return WriteCounters(self.inserted - before.inserted, self.updated - before.updated,
                             self.deleted - before.deleted)

    @property
    def any(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted)


class SyntheticStorage:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        contract = scenario_contract()
        self.schema = contract.schema
        self.tables = {"symbols": contract.symbols_table, "ohlcv_daily": contract.bars_table,
                       "scenario_outcomes": contract.outcomes_table}

    def _ident(self, qualified: str) -> sql.Composable:
        return sql.Identifier(*qualified.split("."))

    # -- synthetic storage, as the suite's admin identity ---------------------------------------
    def schema_exists(self) -> bool:
        with self.system.session("admin") as conn, conn.cursor() as cur:
            cur.execute("SELECT to_regnamespace(%s) IS NOT NULL", (self.schema,))
            return bool(cur.fetchone()[0])

    def bars(self, symbols: list[str] | None = None, role: str = "admin") -> dict[str, list[Bar]]:
        """Symbol → its synthetic daily bars, oldest first (every symbol when ``symbols`` is None)."""
        query = sql.SQL("SELECT symbol, date, open, high, low, close, volume FROM {} {} "
                        "ORDER BY symbol, date")
        where = sql.SQL("WHERE symbol = ANY(%s)") if symbols is not None else sql.SQL("")
        out: dict[str, list[Bar]] = {s: [] for s in symbols or []}
        with self.system.session(role) as conn, conn.cursor() as cur:
            cur.execute(query.format(self._ident(self.tables["ohlcv_daily"]), where),
                        (list(symbols),) if symbols is not None else None)
            for symbol, day, o, h, lo, c, v in cur.fetchall():
                out.setdefault(symbol, []).append(Bar(day, float(o), float(h), float(lo), float(c), int(v)))
        return out

    def symbols(self) -> dict[str, dict]:
        """Symbol → {type, scenario} of every synthetic symbol."""
        with self.system.session("admin") as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT symbol, type, scenario FROM {}").format(
                self._ident(self.tables["symbols"])))
            return {r[0]: {"type": r[1], "scenario": r[2]} for r in cur.fetchall()}

    def outcomes(self) -> dict[tuple[str, str], dict]:
        """(scenario, symbol) → the outcome the generator stated and stored."""
        with self.system.session("admin") as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT scenario, symbol, stated FROM {}").format(
                self._ident(self.tables["scenario_outcomes"])))
            return {(r[0], r[1]): r[2] for r in cur.fetchall()}

    def bars_per_symbol(self, role: str = "admin") -> dict[str, tuple[int, str]]:
        """Symbol → (row count, md5 of its rows) of the synthetic daily bars."""
        with self.system.session(role) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("""SELECT symbol, count(*), md5(string_agg(t::text, '|' ORDER BY date))
                                   FROM {} t GROUP BY symbol""")
                        .format(self._ident(self.tables["ohlcv_daily"])))
            return {r[0]: (int(r[1]), r[2]) for r in cur.fetchall()}

    def row_counts(self) -> dict[str, int]:
        """Rows in every synthetic table (when the schema exists) and every production table."""
        tables = [f"public.{t}" for t in PRODUCTION_TABLES]
        if self.schema_exists():
            tables += list(self.tables.values())
        with self.system.session("admin") as conn, conn.cursor() as cur:
            counts = {}
            for table in tables:
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(self._ident(table)))
                counts[table] = int(cur.fetchone()[0])
            return counts

    # -- production tables, as TickStockApp -------------------------------------------------------
    def write_production_fixture(self) -> list[str]:
        """A few production rows (symbols of type CS with daily bars) written as TickStockPL, so the
        production content compared before and after is not empty. Idempotent."""
        with self.system.session("producer") as conn, conn.cursor() as cur:
            for i, symbol in enumerate(PRODUCTION_FIXTURE_SYMBOLS):
                cur.execute("""INSERT INTO symbols (symbol, name, type, active, market_cap)
                               VALUES (%s, %s, 'CS', true, %s) ON CONFLICT (symbol) DO NOTHING""",
                            (symbol, f"production fixture {symbol}", 5e9 * (i + 1)))
                cur.execute("""INSERT INTO ohlcv_daily (symbol, date, open, high, low, close, volume)
                               SELECT %s, d::date, 10 + n, 11 + n, 9 + n, 10.5 + n, 1000 * (n + 1)
                               FROM generate_series(1, %s) AS n,
                                    LATERAL (SELECT DATE '2025-01-06' + n - 1 AS d) AS day
                               ON CONFLICT (symbol, date) DO NOTHING""", (symbol, PRODUCTION_FIXTURE_DAYS))
        return list(PRODUCTION_FIXTURE_SYMBOLS)

    def production_snapshot(self) -> dict[str, TableSnapshot]:
        """Row count and content checksum of each production table, as TickStockApp reads it."""
        out = {}
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            for table, key in PRODUCTION_TABLES.items():
                order = sql.SQL(", ").join(sql.Identifier(k) for k in key)
                cur.execute(sql.SQL("""SELECT count(*),
                                              md5(coalesce(string_agg(t::text, '|' ORDER BY {}), ''))
                                       FROM public.{} t""").format(order, sql.Identifier(table)))
                rows, checksum = cur.fetchone()
                out[f"public.{table}"] = TableSnapshot(f"public.{table}", int(rows), checksum)
        return out

    def visible_to_consumer(self, symbols: list[str]) -> dict[str, list[str]]:
        """Production table → which of ``symbols`` TickStockApp sees rows of there."""
        out = {}
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            for table in PRODUCTION_TABLES:
                cur.execute(sql.SQL("SELECT DISTINCT symbol FROM public.{} WHERE symbol = ANY(%s) ORDER BY 1")
                            .format(sql.Identifier(table)), (list(symbols),))
                out[f"public.{table}"] = [r[0] for r in cur.fetchall()]
        return out

    def reads(self, role: str) -> list[ReadAttempt]:
        """Read every synthetic table as ``role``: what the database answered for each."""
        attempts = []
        with self.system.session(role) as conn:
            for table in self.tables.values():
                try:
                    with conn.cursor() as cur:
                        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(self._ident(table)))
                        attempts.append(ReadAttempt(table, True, int(cur.fetchone()[0])))
                except psycopg2.Error as exc:
                    attempts.append(ReadAttempt(table, False, None, exc.pgcode, first_line(exc)))
        return attempts

    # -- the database's own statistics -------------------------------------------------------
    def table_statistics(self) -> dict[str, WriteCounters]:
        """schema.table → cumulative rows inserted, updated, deleted (``pg_stat_user_tables``), read
        in a fresh snapshot."""
        with self.system.session("admin") as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("""SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del
                           FROM pg_stat_user_tables""")
            return {r[0]: WriteCounters(int(r[1]), int(r[2]), int(r[3])) for r in cur.fetchall()}

    def other_sessions(self) -> list[str]:
        """Other client sessions connected to the database (their statistics may still be unflushed)."""
        with self.system.session("admin") as conn, conn.cursor() as cur:
            cur.execute("""SELECT pid, usename, application_name FROM pg_stat_activity
                           WHERE datname = current_database() AND backend_type = 'client backend'
                             AND pid <> pg_backend_pid()""")
            return [f"pid {r[0]} ({r[1]}, {r[2] or 'no application name'})" for r in cur.fetchall()]
