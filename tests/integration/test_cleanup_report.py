"""A cleanup that fails is reported with what was left where, not swallowed.

A real external-mode system on a throwaway server; the admin identity loses its DELETE right on
``symbols`` during the run (revoked by the server's superuser), so cleanup cannot remove the
``TEST_`` rows. The run's facts, the summary and the sign-off then say so.
"""

from __future__ import annotations

import secrets

from psycopg2 import sql

from tests.integration.test_bad_input import create_database
from tickstock_acceptance.config.settings import load_settings
from tickstock_acceptance.infra.db import session
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.reporting.summary import cleanup_lines

DB = "ext_cleanup_test"


def test_a_failed_cleanup_says_what_it_left_where(embedded_postgres, embedded_redis):
    pg = embedded_postgres
    create_database(pg, DB, migrate=True)
    pw = {role: secrets.token_urlsafe(12) for role in ("app_readwrite", "tickstock_producer", "test_cleaner")}
    with session(pg.admin_endpoint(DB)) as conn, conn.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS test_cleaner")
        for role, password in pw.items():
            verb = "CREATE" if role == "test_cleaner" else "ALTER"
            cur.execute(sql.SQL(f"{verb} ROLE {{}} WITH LOGIN PASSWORD %s").format(sql.Identifier(role)),
                        (password,))
        cur.execute("GRANT SELECT, DELETE ON symbols, cache_entries, ohlcv_daily TO test_cleaner")
    settings = load_settings({"TEST_DB_HOST": pg.host, "TEST_DB_PORT": str(pg.port), "TEST_DB_NAME": DB,
                              "TEST_DB_USER": "app_readwrite", "TEST_DB_PASSWORD": pw["app_readwrite"],
                              "TEST_DB_PRODUCER_USER": "tickstock_producer",
                              "TEST_DB_PRODUCER_PASSWORD": pw["tickstock_producer"],
                              "TEST_DB_ADMIN_USER": "test_cleaner",
                              "TEST_DB_ADMIN_PASSWORD": pw["test_cleaner"],
                              "TEST_REDIS_HOST": embedded_redis.host,
                              "TEST_REDIS_PORT": str(embedded_redis.port)}, {})
    system = AcceptanceSystem(settings).open()
    try:
        with system.session("producer") as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO symbols (symbol, type) VALUES ('TEST_LEFT_A', 'TEST'), "
                        "('TEST_LEFT_B', 'TEST')")
        with session(pg.admin_endpoint(DB)) as conn, conn.cursor() as cur:
            cur.execute("REVOKE DELETE ON symbols FROM test_cleaner")  # the fault
    finally:
        system.close()
    cleanup = system.facts.cleanup
    assert cleanup["problems"] and "permission denied" in cleanup["problems"][0], cleanup
    assert cleanup["left"][f"{DB}.symbols"] == 2, cleanup
    lines = cleanup_lines(cleanup)
    assert lines[0].startswith("CLEANUP FAILED: deleting test rows as test_cleaner")
    assert f"{DB}.symbols: 2" in lines[-1]
    for password in pw.values():
        assert password not in " ".join(lines)
    with session(pg.admin_endpoint(DB)) as conn, conn.cursor() as cur:  # leave the server clean
        cur.execute(r"DELETE FROM symbols WHERE symbol LIKE 'TEST\_%'")
        cur.execute("REVOKE ALL ON symbols, cache_entries, ohlcv_daily FROM test_cleaner")
        cur.execute("DROP ROLE test_cleaner")


def test_the_sign_off_shows_a_failed_cleanup_in_its_run_rows():
    from tickstock_acceptance.reporting.signoff import cleanup_text

    failed = {"problems": ["deleting test rows as test_cleaner: permission denied for table symbols"],
              "left": {"x_test.symbols": 2, "Redis db 14": 1115}, "removed": {}}
    text = cleanup_text(failed, "external")
    assert text.startswith("FAILED: deleting test rows as test_cleaner") and "Redis db 14: 1115" in text
    assert "removed (3 cache_entries)" in cleanup_text({"removed": {"cache_entries": 3}, "problems": []},
                                                       "external")
    assert "thrown away" in cleanup_text(None, "embedded")
