"""Bad input gets one clear line and a non-zero exit, never a traceback or a silent pass."""

from __future__ import annotations

import port_for
import pytest
from psycopg2 import sql

from tests.conftest import run_cli
from tickstock_acceptance.infra.db import session
from tickstock_acceptance.infra.migrations import apply_migrations


def assert_one_line_error(result, *fragments: str, code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def external_env(pg, dbname: str, user: str = "postgres", password: str | None = None) -> dict:
    return {"TEST_DB_HOST": pg.host, "TEST_DB_PORT": str(pg.port), "TEST_DB_NAME": dbname,
            "TEST_DB_USER": user, "TEST_DB_PASSWORD": password or pg.superuser_password}


def create_database(pg, name: str, migrate: bool = False) -> None:
    with session(pg.admin_endpoint()) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    if migrate:
        with session(pg.admin_endpoint(name), autocommit=False) as conn:
            apply_migrations(conn)


def test_unknown_setting_key():
    line = assert_one_line_error(run_cli("run", "-D", "db_nmae=x"), "db_nmae", "db_name")
    assert "unknown setting" in line


def test_missing_server_binaries_for_embedded_mode():
    assert_one_line_error(run_cli("run", "-D", "pg_bin_dir=/nonexistent/bin"),
                          "binaries", "pg_bin_dir")


def test_unreachable_database_server():
    port = port_for.select_random()
    assert_one_line_error(run_cli("run", env={"TEST_DB_HOST": "127.0.0.1", "TEST_DB_PORT": str(port)}),
                          "unreachable", f"127.0.0.1:{port}")


def test_wrong_password_is_named_and_never_echoed(embedded_postgres):
    env = external_env(embedded_postgres, "postgres_test", password="not-the-password-42")
    create_database(embedded_postgres, "postgres_test")
    result = run_cli("run", env=env)
    assert_one_line_error(result, "password", "TEST_DB_PASSWORD")
    assert "not-the-password-42" not in result.stdout + result.stderr


def test_missing_schema_in_external_mode(embedded_postgres):
    create_database(embedded_postgres, "empty_schema_test")
    result = run_cli("run", env=external_env(embedded_postgres, "empty_schema_test"))
    assert_one_line_error(result, "schema", "missing", "make migrate")


def test_unreachable_redis_in_external_mode(embedded_postgres):
    create_database(embedded_postgres, "redisless_test", migrate=True)
    env = external_env(embedded_postgres, "redisless_test")
    env.update({"TEST_REDIS_HOST": "127.0.0.1", "TEST_REDIS_PORT": str(port_for.select_random())})
    assert_one_line_error(run_cli("run", env=env), "Redis", "unreachable")


@pytest.mark.parametrize("entry", ["cli", "behave"])
def test_production_named_database_is_refused_and_left_untouched(embedded_postgres, entry):
    """External mode against `tickstock_live` holding a TEST_ row: refused, row still there."""
    create_database(embedded_postgres, "tickstock_live", migrate=True)
    with session(embedded_postgres.admin_endpoint("tickstock_live")) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO symbols (symbol, name, type) VALUES ('TEST_KEEP', 'keep me', 'TEST')")
    env = external_env(embedded_postgres, "tickstock_live")
    if entry == "cli":
        result = run_cli("run", env=env)
        assert_one_line_error(result, "refusing", "tickstock_live", code=3)
    else:  # plain behave bypasses the CLI's preflight: the fixture's guard must still refuse
        result = run_cli("--no-summary", "features/00_environment_validation.feature",
                         env=env, module="behave")
        assert result.returncode != 0
        assert "refusing" in result.stderr and "Traceback" not in result.stderr + result.stdout
    with session(embedded_postgres.admin_endpoint("tickstock_live")) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM symbols WHERE symbol = 'TEST_KEEP'")
        assert cur.fetchone()[0] == 1


def test_migrate_refuses_production_named_database(embedded_postgres):
    create_database(embedded_postgres, "tickstock_live")
    result = run_cli("migrate", env=external_env(embedded_postgres, "tickstock_live"))
    assert_one_line_error(result, "refusing", code=3)


@pytest.mark.parametrize("args, fragment", [
    # The producer is a command (README): `<command> --help` must run and exit 0.
    (["-D", "producer=nosuchmod"], "nosuchmod"),
    (["-D", "producer_command=/nonexistent/pl-adapter"], "cannot be run"),
    (["-D", "producer_command=false"], "exited 1"),
    (["-D", "db_name=postgres"], "reserved"),
    (["-D", "db_name="], "identifier"),
    (["--tags", "@checklist:ENV-1 and ("], "bad --tags expression"),
    (["--tags", "@checklist:NOPE-9"], "no scenario matches"),
    (["features/nosuch.feature"], "does not exist"),
])
def test_bad_selection_and_settings_are_one_line_before_anything_starts(args, fragment):
    result = run_cli("run", "--no-report", *args)
    assert_one_line_error(result, fragment)
    assert not (result.reports_dir / "run-selection.json").exists(), "a failed start must not record a run"


def test_summary_without_results_is_one_line():
    assert_one_line_error(run_cli("summary"), "no results", "make acceptance")
