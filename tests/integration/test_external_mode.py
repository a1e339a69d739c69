"""External mode as a real deployment is configured: three database identities, validate-only.

The 'external' servers are throwaway ones this test owns; the suite is told they are external,
so it connects as TickStockApp (app_readwrite), TickStockPL (tickstock_producer) and an admin,
migrates nothing, and afterwards leaves no TEST_ row, no test_ cache entry and no sync run of a
test_ scope behind. The load scenarios are left out (``not @load``): what external mode changes is
who connects and what is cleaned up, not how much traffic the servers take, and the full embedded
runs carry the volume; of the Cache Synchronization feature SYNC-4's scenarios run (they leave the
test market, the synchronizer's universes, runs and change log to clean up).
"""

from __future__ import annotations

import json
import secrets

from psycopg2 import sql

from tests.conftest import run_cli, three_identities_env
from tests.integration.test_bad_input import create_database
from tickstock_acceptance.config.paths import ROOT
from tickstock_acceptance.infra.db import session


def test_external_run_with_consumer_producer_and_admin_roles(embedded_postgres, embedded_redis, tmp_path):
    pg = embedded_postgres
    create_database(pg, "ext_happy_test", migrate=True)
    passwords = {"app_readwrite": secrets.token_urlsafe(12), "tickstock_producer": secrets.token_urlsafe(12)}
    with session(pg.admin_endpoint("ext_happy_test")) as conn, conn.cursor() as cur:
        for role, password in passwords.items():
            cur.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD %s").format(sql.Identifier(role)),
                        (password,))
    env = three_identities_env(pg, "ext_happy_test", passwords, embedded_redis.host, embedded_redis.port)
    tags = "not @load and (not @cache_sync or @checklist:SYNC-4)"
    result = run_cli("run", "--no-report", "--tags", tags, env=env, reports_dir=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    output = result.stdout + result.stderr
    for secret in (*passwords.values(), pg.superuser_password):
        assert secret not in output
        for path in result.reports_dir.rglob("*"):
            if path.is_file() and path.suffix in (".json", ".md", ".html", ".txt"):
                assert secret not in path.read_text(errors="ignore"), path

    signoff = json.loads((result.reports_dir / "signoff.json").read_text())
    statuses = {item["id"]: item["status"] for item in signoff["items"]}
    assert statuses["ENV-1"] == "passed" and statuses["ETF-3"] == "passed"
    assert statuses["DB-1"] == "not run"  # needs a database the run owns
    assert statuses["SCN-1"] == "passed" and statuses["DB-3"] == "passed"  # the synthetic schema, externally
    assert statuses["SYNC-4"] == "passed"  # the synchronizer as a process of the run, externally

    with session(pg.admin_endpoint("ext_happy_test")) as conn, conn.cursor() as cur:
        cur.execute(r"SELECT count(*) FROM symbols WHERE symbol LIKE 'TEST\_%'")
        assert cur.fetchone()[0] == 0
        cur.execute(r"SELECT count(*) FROM cache_entries WHERE key LIKE 'test\_%' OR name LIKE 'test\_%'")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM synthetic.symbols")
        assert cur.fetchone()[0] == 0, "synthetic scenario rows left behind"
        cur.execute(r"SELECT count(*) FROM cache_sync_runs WHERE scope LIKE 'test\_%'")
        assert cur.fetchone()[0] == 0, "the synchronizer's runs in the suite's scope left behind"
        cur.execute("SELECT version FROM schema_version ORDER BY version")
        applied = [r[0] for r in cur.fetchall()]  # validated, not migrated again: as create_database left it
        assert applied == list(range(1, len(list((ROOT / "sql").glob("[0-9][0-9][0-9]_*.sql"))) + 1))
