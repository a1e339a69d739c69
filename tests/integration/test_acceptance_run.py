"""A full acceptance run on embedded services, as a newcomer's `make acceptance` does it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psutil

from tests.conftest import ROOT, run_cli, run_dirs, server_processes
from tickstock_acceptance.core.waiting import wait_until


def check_clean_run(result, leftovers) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    assert "summary" in result.stdout and "Report:" in result.stdout
    assert leftovers == [], "servers left behind"


def test_full_acceptance_run_twice_leaves_nothing_behind(full_run):
    check_clean_run(full_run, full_run.leftovers)
    before = run_dirs()
    second = run_cli("run", "--no-report")
    check_clean_run(second, server_processes(before))

    results = list((full_run.reports_dir / "allure-results").glob("*-result.json"))
    assert results, "no Allure results written"
    labels = [lb for f in results for lb in json.loads(f.read_text())["labels"]
              if lb["name"] == "checklist"]
    assert {lb["value"] for lb in labels} >= {"ENV-1", "ENV-2", "ENV-3"}
    facts = json.loads((full_run.reports_dir / "run-facts.json").read_text())
    assert facts["mode"] == "embedded" and facts["postgresql"] != "?"
    assert "password" not in json.dumps(facts).lower()
    if (ROOT / "node_modules" / ".bin" / "allure").exists():
        assert (full_run.reports_dir / "allure-report" / "index.html").exists()


def test_ctrl_c_mid_run_stops_the_servers_the_run_started(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_DB_", "TEST_REDIS_"))}
    env["TICKSTOCK_REPORTS_DIR"] = str(tmp_path)
    before = run_dirs()
    proc = subprocess.Popen([sys.executable, "-m", "tickstock_acceptance", "run", "--no-report"],
                            cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # Wait until this run's own servers are up (a run directory owned by its behave process).
        def own_servers():
            kids = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
            owned = [d for d in run_dirs() - before
                     if _owner(d) in kids and len(server_processes(run_dirs() - {d})) >= 2]
            return owned

        wait_until(own_servers, 60, "this run's embedded servers running")
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, err = proc.communicate(timeout=90)
        assert proc.returncode != 0
        assert "Traceback" not in err
        wait_until(lambda: server_processes(before) == [], 15, "no server left behind")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _owner(run_dir: str) -> int | None:
    try:
        return int(open(os.path.join(run_dir, "owner.pid")).read().strip())
    except (OSError, ValueError):
        return None


def test_plain_behave_starts_from_clean_results(tmp_path):
    """Each run's Allure results replace the last run's: old results never pass as new."""
    for _ in range(2):
        result = run_cli("--tags", "@checklist:ENV-3", module="behave", reports_dir=tmp_path)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert len(list((tmp_path / "allure-results").glob("*-result.json"))) == 1
