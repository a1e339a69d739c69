"""A full acceptance run on embedded services, as a newcomer's `make acceptance` does it."""

from __future__ import annotations

import json

from tests.conftest import ROOT, owned_server_processes, run_cli


def test_full_acceptance_run_twice_leaves_nothing_behind():
    for attempt in (1, 2):
        result = run_cli("run")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert "Traceback" not in result.stdout + result.stderr
        assert "summary" in result.stdout and "Report:" in result.stdout
        assert owned_server_processes() == [], f"servers left behind after run {attempt}"
    results = list((ROOT / "reports" / "allure-results").glob("*-result.json"))
    assert results, "no Allure results written"
    labels = [lb for f in results for lb in json.loads(f.read_text())["labels"]
              if lb["name"] == "checklist"]
    assert {lb["value"] for lb in labels} >= {"ENV-1", "ENV-2", "ENV-3"}
    facts = json.loads((ROOT / "reports" / "run-facts.json").read_text())
    assert facts["mode"] == "embedded" and facts["postgresql"] != "?"
    assert "password" not in json.dumps(facts).lower()
    if (ROOT / "node_modules" / ".bin" / "allure").exists():
        assert (ROOT / "reports" / "allure-report" / "index.html").exists()


def test_ctrl_c_mid_run_stops_the_servers_the_run_started():
    import os
    import signal
    import subprocess
    import sys

    from tickstock_acceptance.waiting import wait_until

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_DB_", "TEST_REDIS_"))}
    proc = subprocess.Popen([sys.executable, "-m", "tickstock_acceptance", "run", "--no-report"],
                            cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(owned_server_processes()) >= 2, 60, "embedded servers running")
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, err = proc.communicate(timeout=90)
        assert proc.returncode != 0
        assert "Traceback" not in err
        wait_until(lambda: owned_server_processes() == [], 15, "no server left behind")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
