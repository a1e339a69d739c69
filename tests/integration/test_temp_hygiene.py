"""The session's temp-directory check (conftest ``no_temp_leftovers``) sees what it must, and only that.

Each probe entry is created in the system temp directory and removed again in ``finally``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import (
    OWNER_FILE,
    RUN_DIR_PREFIX,
    SESSION_MARK,
    TEMP_DIR,
    cli_env,
    run_cli,
    temp_leftovers,
    watched,
)


@pytest.mark.parametrize("name, flagged", [
    ("tickstock-run-abc123", True),
    ("tickstock-test-reports-x1", True),
    ("test_red2_source_q1.json", True),
    ("my-tickstock-thing", True),
    ("pytest-of-root", False),
    ("pytest-of-tickstock", False),  # pytest's root, whatever the user is called
    ("tmpab12cd", False),
    ("sqlmig-xyz", False),
])
def test_watched_names(name, flagged):
    assert watched(name) is flagged


def test_new_entries_are_reported_until_removed():
    before = set(os.listdir(TEMP_DIR))
    probe = Path(TEMP_DIR, f"test_hygiene_probe_{uuid.uuid4().hex}.json")
    probe_dir = Path(TEMP_DIR, f"tickstock-hygiene-probe-{uuid.uuid4().hex}")
    try:
        probe.write_text("{}")
        probe_dir.mkdir()
        assert {str(probe), str(probe_dir)} <= set(temp_leftovers(before))
    finally:
        probe.unlink(missing_ok=True)
        shutil.rmtree(probe_dir, ignore_errors=True)
    assert {str(probe), str(probe_dir)}.isdisjoint(temp_leftovers(before))


@pytest.mark.parametrize("ours", [True, False])
def test_run_directory_of_a_live_run_counts_only_if_it_is_ours(ours):
    """A run directory whose owner is alive belongs to a run in progress: another person's is
    skipped, one started by this session (it carries the session marker) is a leftover."""
    before = set(os.listdir(TEMP_DIR))
    env = dict(os.environ) if ours else {k: v for k, v in os.environ.items() if k != SESSION_MARK}
    owner = subprocess.Popen(
        [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(120)"],
        env=env, stdout=subprocess.PIPE, text=True)
    # Its environment is readable once it runs Python: read during exec, /proc/PID/environ can be
    # empty and the owner would look like someone else's (the race a CI run once hit).
    assert owner.stdout.readline().strip() == "started"
    run_dir = Path(TEMP_DIR, f"{RUN_DIR_PREFIX}hygiene-{uuid.uuid4().hex}")
    try:
        run_dir.mkdir()
        (run_dir / OWNER_FILE).write_text(str(owner.pid))
        assert (str(run_dir) in temp_leftovers(before)) is ours
        owner.kill()
        owner.wait(timeout=10)
        assert str(run_dir) in temp_leftovers(before), "a dead owner's run directory is a leftover"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=10)
        owner.stdout.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def test_run_cli_writes_reports_under_pytest_tmp(tmp_path_factory):
    """Without a reports_dir, run_cli's reports go under this session's pytest tmp root."""
    result = run_cli("--help", module="json.tool")  # any module: what matters is where reports go
    assert result.returncode == 0, result.stderr
    assert result.reports_dir.is_relative_to(tmp_path_factory.getbasetemp())
    assert "TICKSTOCK_TIMEOUT_MULTIPLIER" not in cli_env({})
