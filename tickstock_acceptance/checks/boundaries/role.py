"""TickStockApp's role boundary, enforced by the database (SVC-1, first half).

Connected as the consumer role (``app_readwrite``, TickStockApp's identity), the suite reads the
producer's tables and calls the read functions (must work), then tries every kind of write on the
producer-owned tables and calls ``update_etf_universe`` (each must be refused by the database with
its permission error, SQLSTATE 42501). Every attempt runs in a transaction that is rolled back and
touches no row even where a grant lets it through: ``INSERT ... SELECT * ... LIMIT 0``,
``UPDATE ... WHERE false``, ``DELETE ... WHERE false`` (PostgreSQL checks privileges before it
looks at a single row), and ``update_etf_universe`` on a ``test_`` theme. The probe's sessions carry
the application name ``PROBE_APPLICATION`` so the server log tells them apart from TickStockApp's.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2
from psycopg2 import errorcodes, sql

from tickstock_acceptance.contract.database import DATABASE_CONTRACT
from tickstock_acceptance.infra.db import connect
from tickstock_acceptance.infra.system import AcceptanceSystem

INSUFFICIENT_PRIVILEGE = errorcodes.INSUFFICIENT_PRIVILEGE  # "42501"
PROBE_APPLICATION = "tickstock-acceptance.role-probe"
PROBE_THEME = "test_svc_role_probe"
READ_FUNCTIONS = {
    "get_etf_universe": "SELECT get_etf_universe(%s, false)",
    "get_etf_universes_summary": "SELECT count(*) FROM get_etf_universes_summary()",
    "validate_etf_universe_symbols": "SELECT count(*) FROM validate_etf_universe_symbols()",
}
WRITE_FUNCTION = "update_etf_universe"
# A write the consumer role is granted (sql/004: its own preferences table): the audit's positive control.
ALLOWED_WRITE = ("INSERT INTO app_user_preferences SELECT * FROM app_user_preferences LIMIT 0",
                 "app_user_preferences")


def producer_tables() -> list[str]:
    """The tables the database contract forbids TickStockApp's role to write (the producer's)."""
    rule = DATABASE_CONTRACT.roles[DATABASE_CONTRACT.role_playing("TickStockApp")]
    return sorted(t for t, privileges in rule.must_not_have.tables.items() if "INSERT" in privileges)


@dataclass(frozen=True)
class Attempt:
    """One statement tried as the consumer role: what, and how the database answered."""

    what: str                 # "INSERT on cache_entries", "update_etf_universe(...)", "SELECT on symbols"
    statement: str
    sqlstate: str | None      # None: it succeeded
    message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.sqlstate is None

    def describe(self) -> str:
        if self.succeeded:
            return f"{self.what}: accepted"
        return f"{self.what}: SQLSTATE {self.sqlstate} {self.message}"


class RoleProbe:
    """Tries reads and writes as the consumer role, each in a transaction that is rolled back."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.role = system.endpoint("consumer").user
        self.reads: list[Attempt] = []
        self.writes: list[Attempt] = []
        self.allowed: Attempt | None = None

    def _try(self, what: str, statement: sql.Composable | str, args=()) -> Attempt:
        conn = connect(self.system.endpoint("consumer"), autocommit=False, application_name=PROBE_APPLICATION)
        shown = statement if isinstance(statement, str) else statement.as_string(conn)
        try:
            with conn.cursor() as cur:
                cur.execute(statement, args)
            return Attempt(what, shown, None)
        except psycopg2.Error as exc:
            message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return Attempt(what, shown, exc.pgcode or "?????", message)
        finally:
            conn.rollback()
            conn.close()

    def read(self, tables: list[str]) -> list[Attempt]:
        count = sql.SQL("SELECT count(*) FROM {}")
        self.reads = [self._try(f"SELECT on {t}", count.format(sql.Identifier(t))) for t in tables]
        self.reads += [self._try(f"{name}()", statement, (PROBE_THEME,) if "%s" in statement else ())
                       for name, statement in READ_FUNCTIONS.items()]
        return self.reads

    def write(self, tables: list[str]) -> list[Attempt]:
        for table in tables:
            t = sql.Identifier(table)
            column = sql.Identifier(self._first_column(table))
            self.writes += [
                self._try(f"INSERT on {table}",
                          sql.SQL("INSERT INTO {t} SELECT * FROM {t} LIMIT 0").format(t=t)),
                self._try(f"UPDATE on {table}",
                          sql.SQL("UPDATE {t} SET {c} = {c} WHERE false").format(t=t, c=column)),
                self._try(f"DELETE on {table}", sql.SQL("DELETE FROM {t} WHERE false").format(t=t)),
            ]
        return self.writes

    def call_write_function(self, function: str = WRITE_FUNCTION) -> Attempt:
        statement = sql.SQL("SELECT {}(%s, '[]'::jsonb, '{{}}'::jsonb)").format(sql.Identifier(function))
        attempt = self._try(f"{function}('{PROBE_THEME}', ...)", statement, (PROBE_THEME,))
        self.writes.append(attempt)
        return attempt

    def allowed_write(self) -> Attempt:
        """A write the role may do (nothing inserted, rolled back): the server log must record it."""
        statement, table = ALLOWED_WRITE
        self.allowed = self._try(f"INSERT on {table} (granted)", statement)
        return self.allowed

    def _first_column(self, table: str) -> str:
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s)
                           AND attnum > 0 AND NOT attisdropped ORDER BY attnum LIMIT 1""", (table,))
            row = cur.fetchone()
        return row[0] if row else "id"


# -- problem finders (pure) -----------------------------------------------------------------------
def read_problems(reads: list[Attempt]) -> list[str]:
    """Every read of the consumer role worked."""
    return [f"{a.what} failed: SQLSTATE {a.sqlstate} {a.message}" for a in reads if not a.succeeded]


def refusal_problems(writes: list[Attempt], sqlstate: str = INSUFFICIENT_PRIVILEGE) -> list[str]:
    """Every write was refused with the database's permission error (and not for another reason)."""
    problems = []
    for a in writes:
        if a.succeeded:
            problems.append(f"{a.what} was accepted: the consumer role may write it")
        elif a.sqlstate != sqlstate:
            problems.append(f"{a.what} failed with SQLSTATE {a.sqlstate}, not the permission error "
                            f"{sqlstate}: {a.message}")
    return problems
