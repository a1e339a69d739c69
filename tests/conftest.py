"""Shared fixtures for the project's own tests."""

from __future__ import annotations

import os
import subprocess
import sys
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


def run_cli(*args: str, env: dict | None = None, module: str = "tickstock_acceptance",
            timeout: float = 600) -> CliResult:
    """Run ``python -m <module> args`` from the repo root with a clean TEST_* environment."""
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("TEST_DB_", "TEST_REDIS_", "TICKSTOCK_"))}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def owned_server_processes() -> list[str]:
    """Server processes started by any run of the suite (their command line names a run dir)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "name"]):
        where = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
        if "tickstock-run-" in where and proc.info["name"] in ("postgres", "redis-server"):
            found.append(f"{proc.pid} {proc.info['name']} {where}")
    return found


@pytest.fixture(scope="session")
def embedded_postgres():
    """A throwaway PostgreSQL (SCRAM auth over TCP) owned by the test session."""
    from tickstock_acceptance.services import EmbeddedPostgres, RunDir

    run_dir = RunDir()
    pg = EmbeddedPostgres(run_dir.path).start()
    try:
        yield pg
    finally:
        pg.close()
        run_dir.remove()
