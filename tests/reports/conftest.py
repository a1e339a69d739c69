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


FAKE_FACTS = {"mode": "embedded", "started_at": "2026-01-01T00:00:00+00:00", "suite_commit": "abc1234",
              "python": "3.11.7", "postgresql": "15.20", "redis": "7.0.15",
              "target": "embedded throwaway PostgreSQL and Redis", "extra": {}}


# The items the decision tests need waived: a run in which the Cache Synchronization feature's
# scenarios produced no result (their items read "not run"), as after a run stopped before feature 30.
NEEDS_WAIVER = ["SYNC-1", "SYNC-2", "SYNC-3", "SYNC-4", "SYNC-5", "DB-4", "RED-3", "SVC-4", "PERF-4"]


def write_green_run(reports_dir: Path, facts: dict | None = None,
                    leave_out: frozenset[str] = frozenset()) -> Path:
    """A reports folder as a whole run leaves it, every scenario of the real features passed.

    Each tagged scenario gets one passed result carrying its checklist IDs and a figure meeting
    each target its items name, so every covered item reads ``passed`` and the items marked not yet
    automated ``not covered``. The scenarios of the items in ``leave_out`` leave no result (those
    items read ``not run``). Returns the results folder.
    """
    from tickstock_acceptance.config import checklist
    from tickstock_acceptance.config import targets as T
    from tickstock_acceptance.reporting.coverage import scan
    from tickstock_acceptance.reporting.evidence import Measurement

    results = reports_dir / "allure-results"
    items = checklist.by_id()
    for scenario in scan():
        if set(scenario.checklist_ids) & set(leave_out):
            continue
        names = [t for i in scenario.checklist_ids if i in items for t in items[i].targets]
        evidence = []
        for name in dict.fromkeys(names):
            target = T.target(name)
            value = target.limit * (1.01 if target.minimum else 0.5)
            evidence.append(Measurement.judged(f"{name} figure", value, target.unit, target).to_dict())
        write_result(results, scenario.name, "passed", list(scenario.checklist_ids), evidence=evidence)
    (reports_dir / "run-facts.json").write_text(json.dumps(facts or FAKE_FACTS))
    (reports_dir / "run-selection.json").write_text(json.dumps({"tags": [], "features": []}))
    return results


@pytest.fixture
def green_run(tmp_path) -> Path:
    """A private reports folder holding a whole (synthetic) run, green but for the items of
    ``NEEDS_WAIVER`` (not run); see ``write_green_run``."""
    write_green_run(tmp_path, leave_out=frozenset(NEEDS_WAIVER))
    return tmp_path


@pytest.fixture(scope="session")
def finished_run(full_run) -> Path:
    """The reports/ directory of this session's full run (sign-off files + Allure report + results)."""
    if not (ROOT / "node_modules" / ".bin" / "allure").exists():
        pytest.fail("Allure 3 is not installed: run `npm ci` (make setup does)", pytrace=False)
    assert "Sign-off:" in full_run.stdout, full_run.stdout[-3000:] + full_run.stderr[-2000:]
    return full_run.reports_dir
