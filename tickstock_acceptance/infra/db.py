"""PostgreSQL connections with errors a person can act on."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg2
import psycopg2.extensions

from tickstock_acceptance.core.errors import SuiteError, first_line


@dataclass(frozen=True)
class DbEndpoint:
    """Where and as whom to connect; the password stays out of repr and messages."""

    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)

    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"

    def with_db(self, dbname: str) -> DbEndpoint:
        return DbEndpoint(self.host, self.port, dbname, self.user, self.password)


MIGRATE_HINT = ("as TEST_DB_ADMIN_USER; it creates the roles app_readwrite and tickstock_producer "
                "server-wide; on a managed database apply sql/004_roles.sql")


def explain_connect_error(endpoint: DbEndpoint, exc: Exception) -> SuiteError:
    """Turn a driver error into one line naming the problem and the fix."""
    text = str(exc)
    where = endpoint.where()
    if "password authentication failed" in text or "no password supplied" in text:
        return SuiteError(f"PostgreSQL rejected the password for {where} (or that role does not exist yet)",
                          "check TEST_DB_PASSWORD (or TEST_DB_PRODUCER_PASSWORD / TEST_DB_ADMIN_PASSWORD); "
                          f"a missing role is created by `make migrate` ({MIGRATE_HINT})")
    if "does not exist" in text and "database" in text:
        return SuiteError(f"PostgreSQL database {endpoint.dbname!r} does not exist at "
                          f"{endpoint.host}:{endpoint.port}",
                          "create it, or set TEST_DB_NAME to an existing *_test database")
    if "role" in text and "does not exist" in text:
        return SuiteError(f"PostgreSQL role {endpoint.user!r} does not exist at "
                          f"{endpoint.host}:{endpoint.port}",
                          f"run `make migrate` first ({MIGRATE_HINT}), or correct TEST_DB_USER / "
                          "TEST_DB_PRODUCER_USER / TEST_DB_ADMIN_USER")
    if any(s in text for s in ("Connection refused", "could not connect", "timeout expired",
                               "could not translate host name", "No route to host")):
        return SuiteError(f"PostgreSQL at {endpoint.host}:{endpoint.port} is unreachable",
                          "start the server or correct TEST_DB_HOST/TEST_DB_PORT")
    return SuiteError(f"cannot connect to PostgreSQL {where}: {first_line(exc)}",
                      "check the TEST_DB_* settings")


def connect(endpoint: DbEndpoint, autocommit: bool = True, timeout_s: int = 5,
            application_name: str = "tickstock-acceptance") -> psycopg2.extensions.connection:
    """Open a connection or raise SuiteError with a one-line explanation."""
    try:
        conn = psycopg2.connect(
            host=endpoint.host, port=endpoint.port, dbname=endpoint.dbname, user=endpoint.user,
            password=endpoint.password, connect_timeout=timeout_s,
            application_name=application_name,
        )
    except psycopg2.OperationalError as exc:
        raise explain_connect_error(endpoint, exc) from None
    conn.autocommit = autocommit
    return conn


def try_select_one(endpoint: DbEndpoint) -> bool:
    """True when a fresh connection can run ``SELECT 1`` (a liveness probe)."""
    try:
        conn = psycopg2.connect(host=endpoint.host, port=endpoint.port, dbname=endpoint.dbname,
                                user=endpoint.user, password=endpoint.password, connect_timeout=2)
    except psycopg2.Error:
        return False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone() == (1,)
    except psycopg2.Error:
        return False
    finally:
        conn.close()


@contextmanager
def session(endpoint: DbEndpoint, autocommit: bool = True):
    """A connection that is committed (or rolled back) and always closed on exit."""
    conn = connect(endpoint, autocommit=autocommit)
    try:
        yield conn
        if not autocommit:
            conn.commit()
    except BaseException:
        if not autocommit and not conn.closed:
            conn.rollback()
        raise
    finally:
        conn.close()
