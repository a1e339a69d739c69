"""Shared fixtures for the project's own tests."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    reports_dir: Path


def run_cli(*args: str, env: dict | None = None, module: str = "tickstock_acceptance",
            timeout: float = 600, reports_dir: Path | None = None) -> CliResult:
    """Run ``python -m <module> args`` from the repo root with a clean TEST_* environment.

    Reports go to a private directory (``TICKSTOCK_REPORTS_DIR``) so the project's tests never
    overwrite a person's last report or each other's.
    """
    reports_dir = reports_dir or Path(tempfile.mkdtemp(prefix="tickstock-test-reports-"))
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("TEST_DB_", "TEST_REDIS_", "TICKSTOCK_"))}
    full_env.update(env or {})
    full_env["TICKSTOCK_REPORTS_DIR"] = str(reports_dir)
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr, reports_dir)


def run_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "tickstock-run-*")))


def server_processes(ignore_dirs: set[str] = frozenset()) -> list[str]:
    """Embedded servers whose home is a suite run directory, other than ``ignore_dirs``.

    Take ``run_dirs()`` before starting a run and pass it here afterwards, so servers of other
    runs (this session's fixtures, a person's run) do not count.
    """
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "name"]):
        if proc.info["name"] not in ("postgres", "redis-server"):
            continue
        where = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
        if "tickstock-run-" in where and not any(d in where for d in ignore_dirs):
            found.append(f"{proc.pid} {proc.info['name']} {where}")
    return found


@pytest.fixture(scope="session")
def full_run() -> CliResult:
    """One complete `make acceptance`-style run (results, Allure report, sign-off) per session."""
    before = run_dirs()
    result = run_cli("run")
    result.leftovers = server_processes(before)
    return result


@pytest.fixture(scope="session")
def embedded_postgres():
    """A throwaway PostgreSQL (SCRAM auth over TCP) owned by the test session."""
    from tickstock_acceptance.infra.embedded import EmbeddedPostgres, RunDir

    run_dir = RunDir()
    pg = EmbeddedPostgres(run_dir.path).start()
    try:
        yield pg
    finally:
        pg.close()
        run_dir.remove()
