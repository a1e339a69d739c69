"""The environment validation feature runs first and, when it fails, stops the run in one line.

The broken system here is real: an external test database whose Phase 3 index was dropped.
"""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.integration.test_bad_input import create_database, external_env
from tickstock_acceptance.infra.db import session


def test_missing_index_fails_env1_and_stops_the_run(embedded_postgres, embedded_redis, tmp_path):
    create_database(embedded_postgres, "broken_index_test", migrate=True)
    with session(embedded_postgres.admin_endpoint("broken_index_test")) as conn, conn.cursor() as cur:
        cur.execute("DROP INDEX idx_cache_entries_updated")
    env = external_env(embedded_postgres, "broken_index_test")
    env.update({"TEST_REDIS_HOST": embedded_redis.host, "TEST_REDIS_PORT": str(embedded_redis.port)})

    # The CLI refuses up front, naming what is missing.
    cli = run_cli("run", "--no-report", env=env, reports_dir=tmp_path / "cli")
    assert cli.returncode == 2 and "idx_cache_entries_updated" in cli.stderr
    assert "Traceback" not in cli.stderr

    # Plain behave: the environment feature itself finds it, and nothing after it runs.
    result = run_cli("--no-summary", env=env, module="behave", reports_dir=tmp_path / "behave")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "environment is not valid" in errors[0], result.stderr
    statuses = {}
    for path in (result.reports_dir / "allure-results").glob("*-result.json"):
        data = json.loads(path.read_text())
        ids = [lb["value"] for lb in data["labels"] if lb["name"] == "checklist"]
        for item_id in ids:
            statuses.setdefault(item_id, set()).add(data["status"])
    assert statuses.get("ENV-1") == {"failed"}
    # ENV-2's cluster scenario is skipped against a standalone Redis (its alternative passed)
    assert statuses.get("ENV-2") == {"passed", "skipped"} and statuses.get("ENV-3") == {"passed"}
    assert not [i for i in statuses if not i.startswith("ENV-")], f"ran after a failed ENV: {statuses}"
