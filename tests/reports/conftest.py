"""Fixtures for the report tests: synthetic results, and one real run shared by the browser tests."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT


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


@pytest.fixture(scope="session")
def finished_run(full_run) -> Path:
    """The reports/ directory of this session's full run (sign-off files + Allure report + results)."""
    if not (ROOT / "node_modules" / ".bin" / "allure").exists():
        pytest.fail("Allure 3 is not installed: run `npm ci` (make setup does)", pytrace=False)
    assert "Sign-off:" in full_run.stdout, full_run.stdout[-3000:] + full_run.stderr[-2000:]
    return full_run.reports_dir
