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

from tests.conftest import (
    ROOT,
    assert_signoff_of_one_run,
    cli_env,
    leftovers_since,
    run_cli,
    run_dir_owner,
    run_dirs,
)
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


def test_workers_refuse_an_external_target(tmp_path):
    result = run_cli("run", "--workers", "2", reports_dir=tmp_path,
                     env={"TEST_DB_HOST": "127.0.0.1", "TEST_DB_NAME": "tickstock_test"})
    assert result.returncode == 2
    assert "--workers needs embedded mode" in result.stderr
    assert "Traceback" not in result.stderr


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
