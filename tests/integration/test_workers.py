"""Workers for real: `run --workers 2` deals the features to two runs with servers of their own, runs the
@runs_alone scenarios after them, and writes the sign-off one serial run writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psutil
import pytest
import redis

from tests.app.test_app_service import migrated_database
from tests.conftest import (
    ROOT,
    assert_signoff_of_one_run,
    cli_env,
    leftovers_since,
    run_cli,
    run_dir_owner,
    run_dirs,
    signoff_items,
    three_identities_env,
)
from tickstock_acceptance.contract.messaging import STREAM_DB
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.reporting.results import load_results

# ETF-4 (10_etf_universe_expansion: worker 1), DB-1 (40_database_integration: worker 2) and PERF-2
# (70_target_compliance, tagged @runs_alone: after them), with the environment gate in each part.
WORKER_TAGS = "@checklist:ETF-4 or @checklist:DB-1 or @checklist:PERF-2"
SELECTED = {"ENV-1", "ENV-2", "ENV-3", "ETF-4", "DB-1", "PERF-2"}


def _checklist_ids(results_dir) -> set[str]:
    return {item for r in load_results(results_dir) for item in r.checklist}


def test_two_workers_give_the_sign_off_of_one_run(full_run, tmp_path):
    before = run_dirs()
    run = run_cli("run", "--workers", "2", "--no-report", "--tags", WORKER_TAGS, reports_dir=tmp_path)
    output = run.stdout[-3000:] + run.stderr[-1000:]
    assert run.returncode == 0, output
    assert "Traceback" not in run.stdout + run.stderr
    assert leftovers_since(before) == [], "a worker left servers or run directories behind"
    for name in ("worker 1", "worker 2", "alone"):
        assert f"[{name}] " in run.stdout, f"no line of {name} reached the terminal"

    # each part ran its share: ETF-4 in worker 1, DB-1 in worker 2, PERF-2 alone after them
    workers = tmp_path / "workers"
    assert _checklist_ids(workers / "worker-1" / "allure-results") - {"ENV-1", "ENV-2", "ENV-3"} == {"ETF-4"}
    assert _checklist_ids(workers / "worker-2" / "allure-results") - {"ENV-1", "ENV-2", "ENV-3"} == {"DB-1"}
    assert _checklist_ids(workers / "alone" / "allure-results") - {"ENV-1", "ENV-2", "ENV-3"} == {"PERF-2"}

    # one result per scenario, and the serial run's sign-off for every selected item
    results = load_results(tmp_path / "allure-results")
    assert len([r.name for r in results]) == len({r.name for r in results})
    assert_signoff_of_one_run(full_run.reports_dir, tmp_path, SELECTED)
    facts = json.loads((tmp_path / "run-facts.json").read_text())
    assert facts["workers"] == 2
    assert [p["name"] for p in facts["parts"]] == ["worker 1", "worker 2", "alone"]


@pytest.mark.parametrize(("args", "says"), [
    (["--workers", "0"], "--workers 0: give 1 to 8"),
    (["--workers", "two"], "--workers must be a whole number, got 'two'"),
    (["--workers", "2", "--shard", "1/2"], "--workers and --shard cannot be combined"),
])
def test_bad_workers_end_in_one_line(args, says, tmp_path):
    result = run_cli("run", *args, reports_dir=tmp_path)
    assert result.returncode == 2
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_external_workers_each_need_a_test_database_of_their_own(embedded_postgres, embedded_redis, tmp_path):
    migrated_database(embedded_postgres, "extw_test")
    passwords = migrated_database(embedded_postgres, "extw_w1_test")  # the roles' passwords are server-wide
    env = three_identities_env(embedded_postgres, "extw_test", passwords, embedded_redis.host,
                               embedded_redis.port)
    result = run_cli("run", "--workers", "2", reports_dir=tmp_path, env=env)
    assert result.returncode == 2
    assert "worker 2's database extw_w2_test" in result.stderr and "TEMPLATE extw_test" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    app_url = run_cli("run", "--workers", "2", reports_dir=tmp_path,
                      env={**env, "TICKSTOCK_APP_URL": "http://127.0.0.1:9"})
    assert app_url.returncode == 2 and "cannot share the deployed TickStockApp" in app_url.stderr


def test_two_external_workers_share_one_redis_in_namespaces_of_their_own(embedded_postgres, embedded_redis,
                                                                         tmp_path):
    """Two workers on one external PostgreSQL and one Redis at the same time: each on its own test
    database and channel namespace (RED-1's observer of every tickstock channel in worker 1 while worker 2
    publishes SCN-2's patterns). Each cleans only its namespace: a key outside it stays in database 14."""
    passwords = [migrated_database(embedded_postgres, name) for name in ("extw_test", "extw_w1_test",
                                                                         "extw_w2_test")][-1]
    env = three_identities_env(embedded_postgres, "extw_test", passwords, embedded_redis.host,
                               embedded_redis.port)
    keep = redis.Redis(host=embedded_redis.host, port=embedded_redis.port, db=STREAM_DB)
    keep.set("staging:keep-me", "1")
    try:
        result = run_cli("run", "--workers", "2", "--no-report", "--tags",
                         "@checklist:RED-1 or @checklist:SCN-2", reports_dir=tmp_path, env=env)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        out = result.stdout
        assert "[worker 1] Target: external" in out and "(namespace test_w1:)" in out
        assert "[worker 2] Target: external" in out and "/extw_w2_test" in out
        assert "(namespace test_w2:)" in out
        items = signoff_items(result.reports_dir)
        assert items["RED-1"]["status"] == "passed" and items["SCN-2"]["status"] == "passed"
        assert sorted(k.decode() for k in keep.keys("*")) == ["staging:keep-me"]
    finally:
        keep.delete("staging:keep-me")
        keep.close()


def test_ctrl_c_stops_every_worker_and_the_servers_they_started(tmp_path):
    """A terminal's Ctrl-C reaches the workers too (one process group): each stops its servers."""
    before = run_dirs()
    argv = [sys.executable, "-m", "tickstock_acceptance", "run", "--workers", "2", "--no-report"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=cli_env({"TICKSTOCK_REPORTS_DIR": str(tmp_path)}),
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        def both_workers_own_servers():
            kids = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
            return len([d for d in run_dirs() - before if run_dir_owner(d) in kids]) >= 2

        wait_until(both_workers_own_servers, 60, "both workers' embedded servers running")
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=90)
        assert proc.returncode != 0
        assert "Traceback" not in err, err[-2000:]
        wait_until(lambda: leftovers_since(before) == [], 15, "no server or run directory left behind")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
