"""Shared fixtures for the project's own tests.

Everything the tests write goes under pytest's own temporary directories (``tmp_path``,
``tmp_path_factory``). The session ends with a check that it left nothing of ours in the system's
temporary directory (see ``no_temp_leftovers``).
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.isolated_run import ISOLATED_ENV_PREFIXES
from tickstock_acceptance.infra.embedded import OWNER_FILE, RUN_DIR_PREFIX

ROOT = Path(__file__).resolve().parent.parent
TEMP_DIR = tempfile.gettempdir()

# Every process this session starts inherits this marker (run_cli and run_isolated keep it), so a
# run directory can be told apart from one of another person's run on the same machine.
SESSION_MARK = "ACCEPTANCE_TESTS_SESSION"
os.environ.setdefault(SESSION_MARK, str(os.getpid()))

_tmp_factory: pytest.TempPathFactory | None = None


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    reports_dir: Path
    leftovers: list[str] = field(default_factory=list)  # servers/run dirs left behind (full_run)


def _private_dir(prefix: str) -> Path:
    """A fresh directory under this session's pytest temporary root."""
    if _tmp_factory is None:
        raise RuntimeError("run_cli without reports_dir needs a pytest session (tmp_path_factory)")
    return _tmp_factory.mktemp(prefix, numbered=True)


def cli_env(env: dict | None = None) -> dict:
    """The environment of a suite process: ours without any TEST_*, TICKSTOCK_* or MASSIVE_*
    setting (no person's target, no timeout multiplier, no market-data API key: no test calls a
    real external API unless it passes the key itself), plus ``env``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(ISOLATED_ENV_PREFIXES)}
    full_env.update(env or {})
    return full_env


def run_cli(*args: str, env: dict | None = None, module: str = "tickstock_acceptance",
            timeout: float = 600, reports_dir: Path | None = None) -> CliResult:
    """Run ``python -m <module> args`` from the repo root with a clean TEST_* environment.

    Reports go to a private directory (``TICKSTOCK_REPORTS_DIR``) so the project's tests never
    overwrite a person's last report or each other's: ``reports_dir`` (a test's ``tmp_path``), or
    else a new directory under this session's pytest temporary root.
    """
    reports_dir = reports_dir or _private_dir("reports")
    reports_dir.mkdir(parents=True, exist_ok=True)
    full_env = cli_env(env)
    full_env["TICKSTOCK_REPORTS_DIR"] = str(reports_dir)
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr, reports_dir)


def three_identities_env(pg, db: str, passwords: dict[str, str], redis_host: str, redis_port: int,
                 **extra: str) -> dict:
    """The variables of an external run on ``pg``'s database ``db``: TickStockApp's and the producer's
    roles with ``passwords`` (role -> password), the superuser as administrator, and Redis."""
    return {"TEST_DB_HOST": pg.host, "TEST_DB_PORT": str(pg.port), "TEST_DB_NAME": db,
            "TEST_DB_USER": "app_readwrite", "TEST_DB_PASSWORD": passwords["app_readwrite"],
            "TEST_DB_PRODUCER_USER": "tickstock_producer",
            "TEST_DB_PRODUCER_PASSWORD": passwords["tickstock_producer"],
            "TEST_DB_ADMIN_USER": "postgres", "TEST_DB_ADMIN_PASSWORD": pg.superuser_password,
            "TEST_REDIS_HOST": redis_host, "TEST_REDIS_PORT": str(redis_port), **extra}


def signoff_items(reports_dir: Path) -> dict[str, dict]:
    """Checklist ID -> the item of the sign-off a run wrote to ``reports_dir``."""
    import json

    return {i["id"]: i for i in json.loads((reports_dir / "signoff.json").read_text())["items"]}


def assert_signoff_of_one_run(one_run: Path, other: Path, selected: set[str]) -> None:
    """The sign-off in ``other`` (a merged or workers run) is the serial run's in ``one_run`` for every
    item of ``selected`` (passed, the same scenarios); every other item is ``not run``."""
    serial, combined = signoff_items(one_run), signoff_items(other)
    for item_id, item in combined.items():
        if item_id in selected:
            assert item["status"] == serial[item_id]["status"] == "passed", item_id
            assert sorted(s["name"] for s in item["scenarios"]) == \
                sorted(s["name"] for s in serial[item_id]["scenarios"]), item_id
        else:
            assert item["status"] == "not run", item_id


# -- run directories and their servers ----------------------------------------------------------

def run_dirs() -> set[str]:
    return set(glob.glob(os.path.join(TEMP_DIR, RUN_DIR_PREFIX + "*")))


def run_dir_owner(run_dir: str) -> int | None:
    try:
        return int(Path(run_dir, OWNER_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def started_by_this_session(pid: int) -> bool:
    """``pid`` is this pytest process or a process started under it (it carries our marker)."""
    if pid == os.getpid():
        return True
    try:
        return psutil.Process(pid).environ().get(SESSION_MARK) == os.environ[SESSION_MARK]
    except (psutil.Error, OSError):
        return False


def in_use_by_another_session(run_dir: str) -> bool:
    """The run directory's owner is alive and is not ours: another person's run in progress."""
    pid = run_dir_owner(run_dir)
    return pid is not None and psutil.pid_exists(pid) and not started_by_this_session(pid)


_RUN_DIR_IN = re.compile(re.escape(os.path.join(TEMP_DIR, RUN_DIR_PREFIX)) + r"[^/\s]+")


def server_processes(ignore_dirs: set[str] = frozenset()) -> list[str]:
    """Embedded servers whose home is a suite run directory, other than ``ignore_dirs``.

    Take ``run_dirs()`` before starting a run and pass it here afterwards, so servers of other
    runs (this session's fixtures, a person's run) do not count. A server whose run is still in
    progress in another session (someone else started it meanwhile) does not count either.
    """
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "name"]):
        if proc.info["name"] not in ("postgres", "redis-server"):
            continue
        where = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
        if RUN_DIR_PREFIX not in where or any(d in where for d in ignore_dirs):
            continue
        homes = set(_RUN_DIR_IN.findall(where))
        if homes and all(in_use_by_another_session(h) for h in homes):
            continue
        found.append(f"{proc.pid} {proc.info['name']} {where}")
    return found


def leftovers_since(before: set[str]) -> list[str]:
    """What runs started after ``run_dirs()`` returned ``before`` left behind: servers, and run
    directories (except those of runs still in progress in another session)."""
    dirs = [d for d in sorted(run_dirs() - before) if not in_use_by_another_session(d)]
    return server_processes(before) + [f"run directory {d}" for d in dirs]


# -- nothing left in the system's temporary directory -------------------------------------------

def watched(name: str) -> bool:
    """Entries of the system temp directory that this project's tests or runs may create."""
    if name.startswith("pytest-of-"):  # pytest's own temporary root (tmp_path lives there)
        return False
    return "tickstock" in name or name.startswith("test_")


def temp_leftovers(before: set[str]) -> list[str]:
    """Watched entries of the temp directory that appeared since ``before`` and are still there,
    except run directories of a run still in progress in another session."""
    left = []
    for name in sorted(set(os.listdir(TEMP_DIR)) - before):
        path = os.path.join(TEMP_DIR, name)
        if not watched(name) or not os.path.lexists(path):
            continue
        if name.startswith(RUN_DIR_PREFIX) and in_use_by_another_session(path):
            continue
        left.append(path)
    return left


@pytest.fixture(scope="session", autouse=True)
def no_temp_leftovers(tmp_path_factory):
    """Session-wide: what the tests and the runs they start write lives under pytest's tmp; at the
    end, nothing new named *tickstock* or test_* may remain in the system temp directory.

    Set up before any other fixture and torn down after all of them (servers' run directories of
    session fixtures are gone by then); a leftover errors the session's last test.
    """
    global _tmp_factory
    _tmp_factory = tmp_path_factory
    before = set(os.listdir(TEMP_DIR))
    yield
    _tmp_factory = None
    left = temp_leftovers(before)
    if left:
        pytest.fail(f"the session left {len(left)} entr{'y' if len(left) == 1 else 'ies'} in "
                    f"{TEMP_DIR}: " + ", ".join(left), pytrace=False)


# -- shared, expensive set-up -------------------------------------------------------------------

@pytest.fixture(scope="session")
def full_run(tmp_path_factory) -> CliResult:
    """One complete `make acceptance`-style run (results, Allure report, sign-off) per session."""
    before = run_dirs()
    result = run_cli("run", reports_dir=tmp_path_factory.mktemp("full-run"))
    result.leftovers = leftovers_since(before)
    return result


@pytest.fixture(scope="session")
def embedded_postgres():
    """A throwaway PostgreSQL (SCRAM auth over TCP) owned by the test session."""
    from tickstock_acceptance.infra.embedded import EmbeddedPostgres, RunDir

    run_dir = RunDir()
    try:
        pg = EmbeddedPostgres(run_dir.path).start()
        try:
            yield pg
        finally:
            pg.close()
    finally:
        run_dir.remove()


@pytest.fixture(scope="session")
def embedded_redis():
    """A throwaway Redis owned by the test session (the 'external' Redis of external-mode tests)."""
    from tickstock_acceptance.infra.embedded import EmbeddedRedis, RunDir

    run_dir = RunDir()
    try:
        redis = EmbeddedRedis(run_dir.path).start()
        try:
            yield redis
        finally:
            redis.close()
    finally:
        run_dir.remove()
