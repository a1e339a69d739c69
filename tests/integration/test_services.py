"""The services layer later issues use for faults: stop, kill -9, restart, time to first success."""

from __future__ import annotations

import psutil
import pytest

from tickstock_acceptance.infra.db import try_select_one
from tickstock_acceptance.infra.embedded import EmbeddedPostgres, EmbeddedRedis, RunDir, reap_stale_runs
from tickstock_acceptance.infra.redis_client import try_ping


@pytest.fixture
def run_dir():
    rd = RunDir()
    yield rd
    rd.remove()


def test_postgres_kill_minus_9_and_restart(run_dir):
    pg = EmbeddedPostgres(run_dir.path).start()
    try:
        pid = pg.pid()
        assert try_select_one(pg.admin_endpoint())
        pg.kill()
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert not try_select_one(pg.admin_endpoint())
        recovery_s = pg.restart()
        assert try_select_one(pg.admin_endpoint())
        assert 0 < recovery_s < 30
        pg.stop()
        assert not try_select_one(pg.admin_endpoint())
    finally:
        pg.close()


def test_redis_stop_and_restart(run_dir):
    r = EmbeddedRedis(run_dir.path).start()
    try:
        assert try_ping(r.endpoint())
        r.kill()
        assert not try_ping(r.endpoint())
        assert r.restart() > 0 and try_ping(r.endpoint())
    finally:
        r.close()


def test_reaper_kills_servers_of_a_dead_run(tmp_path):
    import subprocess
    import sys

    stale = tmp_path / "tickstock-run-stale"
    stale.mkdir()
    (stale / "owner.pid").write_text("999999")  # no such process
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(stale)])
    try:
        killed = reap_stale_runs(str(tmp_path))
        assert proc.pid in killed
        proc.wait(timeout=5)  # returns: the process is gone
        assert not stale.exists()
    finally:
        proc.kill()
