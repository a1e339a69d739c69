"""External mode as a real team sets it up: each identity's rights are proved before anything runs.

A producer or admin identity left out of the environment defaults to the consumer's; without this
check the run went ahead and failed nine items exactly as broken SQL does. A role that does not
exist yet (the run came before `make migrate`) says how to create it.
"""

from __future__ import annotations

import secrets

from psycopg2 import sql

from tests.conftest import run_cli
from tests.integration.test_bad_input import create_database
from tickstock_acceptance.infra.db import session

DB = "ext_identities_test"


def _env(pg, redis, **identities) -> dict:
    env = {"TEST_DB_HOST": pg.host, "TEST_DB_PORT": str(pg.port), "TEST_DB_NAME": DB,
           "TEST_REDIS_HOST": redis.host, "TEST_REDIS_PORT": str(redis.port)}
    env.update(identities)
    return env


def _one_error_line(result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def test_a_producer_identity_left_out_stops_the_run_in_one_line(embedded_postgres, embedded_redis, tmp_path):
    pg = embedded_postgres
    create_database(pg, DB, migrate=True)
    password = secrets.token_urlsafe(12)
    with session(pg.admin_endpoint(DB)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD %s").format(sql.Identifier("app_readwrite")),
                    (password,))
    result = run_cli("run", "--no-report", reports_dir=tmp_path,
                     env=_env(pg, embedded_redis, TEST_DB_USER="app_readwrite", TEST_DB_PASSWORD=password))
    line = _one_error_line(result)
    assert "producer identity 'app_readwrite'" in line and "TEST_DB_PRODUCER_USER is unset" in line
    assert "INSERT on cache_entries" in line and "EXECUTE on update_etf_universe" in line
    assert password not in result.stdout + result.stderr
    assert not list(tmp_path.rglob("*-result.json")), "nothing may run before the identities are proved"


def test_a_role_that_does_not_exist_yet_points_at_make_migrate(embedded_postgres, embedded_redis, tmp_path):
    create_database(embedded_postgres, DB, migrate=True)
    result = run_cli("run", "--no-report", reports_dir=tmp_path,
                     env=_env(embedded_postgres, embedded_redis, TEST_DB_USER="tickstock_app_nosuch",
                              TEST_DB_PASSWORD="x"))
    line = _one_error_line(result)
    # Over password (SCRAM) auth PostgreSQL does not say whether the role exists; the line says both.
    assert "tickstock_app_nosuch" in line and "role does not exist yet" in line and "make migrate" in line


def test_a_missing_role_reported_by_the_server_points_at_make_migrate():
    """Where the server says so (trust auth), the line names the missing role and the fix."""
    import psycopg2

    from tickstock_acceptance.infra.db import DbEndpoint, explain_connect_error

    error = explain_connect_error(DbEndpoint("db.example", 5432, "x_test", "app_readwrite"),
                                  psycopg2.OperationalError('FATAL:  role "app_readwrite" does not exist'))
    assert "role 'app_readwrite' does not exist" in error.one_line() and "make migrate" in error.one_line()


def test_a_consumer_role_of_its_own_is_judged_by_the_consumers_rules(embedded_postgres, embedded_redis,
                                                                      tmp_path):
    """A deployment's own consumer role (not named app_readwrite) that may write a shared table is
    refused: the contract judges the identities the run connects as, not fixed role names."""
    pg = embedded_postgres
    create_database(pg, DB, migrate=True)
    pw = {role: secrets.token_urlsafe(12) for role in ("test_shop_app", "tickstock_producer")}
    with session(pg.admin_endpoint(DB)) as conn, conn.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS test_shop_app")
        cur.execute(sql.SQL("CREATE ROLE test_shop_app WITH LOGIN PASSWORD %s"), (pw["test_shop_app"],))
        cur.execute(sql.SQL("ALTER ROLE tickstock_producer WITH LOGIN PASSWORD %s"),
                    (pw["tickstock_producer"],))
        cur.execute("GRANT app_readwrite TO test_shop_app")        # the consumer's rights ...
        cur.execute("GRANT UPDATE ON cache_entries TO test_shop_app")  # ... and one it must not have
    try:
        result = run_cli("run", "--no-report", reports_dir=tmp_path, env=_env(
            pg, embedded_redis, TEST_DB_USER="test_shop_app", TEST_DB_PASSWORD=pw["test_shop_app"],
            TEST_DB_PRODUCER_USER="tickstock_producer", TEST_DB_PRODUCER_PASSWORD=pw["tickstock_producer"],
            TEST_DB_ADMIN_USER="postgres", TEST_DB_ADMIN_PASSWORD=pg.superuser_password))
        line = _one_error_line(result)
        assert "role test_shop_app (TickStockApp) has UPDATE on table cache_entries" in line
        assert "does not exist" not in line
    finally:
        with session(pg.admin_endpoint(DB)) as conn, conn.cursor() as cur:
            cur.execute("REVOKE ALL ON cache_entries FROM test_shop_app")
            cur.execute("REVOKE app_readwrite FROM test_shop_app")
            cur.execute("DROP ROLE test_shop_app")
