"""Fixtures for the report tests: synthetic results, and one real run shared by the browser tests."""

from __future__ import annotations

import fcntl
import json
import shutil
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

REPORTS = ROOT / "reports"
SESSION_STARTED = time.time()


def write_result(results_dir: Path, name: str, status: str, ids: list[str], message: str = "",
                 evidence: list[dict] | None = None) -> None:
    """One Allure result file as allure-behave writes it (labels, statusDetails, attachments)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    attachments = []
    for ev in evidence or []:
        source = f"{uuid.uuid4()}-attachment.json"
        (results_dir / source).write_text(json.dumps(ev))
        attachments.append({"name": f"evidence: {ev['name']}", "source": source, "type": "application/json"})
    data = {"name": name, "status": status, "start": 1_000, "stop": 3_500,
            "labels": [{"name": "checklist", "value": i} for i in ids],
            "statusDetails": {"message": message} if message else {},
            "steps": [{"name": "a step", "attachments": attachments}]}
    (results_dir / f"{uuid.uuid4()}-result.json").write_text(json.dumps(data))


@pytest.fixture
def results_dir(tmp_path) -> Path:
    return tmp_path / "allure-results"


def _fresh_run_on_disk() -> bool:
    """A complete run (sign-off + Allure report) written during this pytest session, by any test."""
    files = [REPORTS / "signoff.json", REPORTS / "signoff.html", REPORTS / "allure-report" / "index.html"]
    if not all(f.exists() for f in files):
        return False
    signoff = json.loads(files[0].read_text())
    return files[0].stat().st_mtime >= SESSION_STARTED and not signoff["run"].get("tags")


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A snapshot of a full run's reports/ (sign-off files + Allure report + results).

    Reuses the run another test of this session already made (e.g. the integration test of
    ``make acceptance``), otherwise runs ``python -m tickstock_acceptance run`` once. The files are
    copied under the CLI's reports lock, so a concurrent run cannot change them while we look.
    """
    if not (ROOT / "node_modules" / ".bin" / "allure").exists():
        pytest.skip("Allure 3 is not installed (npm ci)")
    if not _fresh_run_on_disk():
        result = run_cli("run")
        assert "Sign-off:" in result.stdout, result.stdout[-3000:] + result.stderr[-2000:]
    snapshot = tmp_path_factory.mktemp("run") / "reports"
    REPORTS.mkdir(exist_ok=True)
    with open(REPORTS / ".run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        skip = shutil.ignore_patterns("history", "screenshots", ".run.lock")
        shutil.copytree(REPORTS, snapshot, ignore=skip)
    return snapshot
