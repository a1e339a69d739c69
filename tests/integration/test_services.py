"""The services layer and the fault controller on real throwaway servers.

Stop, kill -9 (nothing of the server's process group survives), restart and resume with the time
to the first success, pause (a frozen server leaves queries and PINGs unanswered until resumed),
and the one-line refusals: an external server, an unknown server or verb, a system not open.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil
import psycopg2
import psycopg2.extensions
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tickstock_acceptance.config.settings import load_settings
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.faults.servers import ServerFaults
from tickstock_acceptance.infra.db import try_select_one
from tickstock_acceptance.infra.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    ExternalServer,
    RunDir,
    group_members,
    reap_stale_runs,
)
from tickstock_acceptance.infra.redis_client import client, try_ping
from tickstock_acceptance.infra.system import AcceptanceSystem


@pytest.fixture
def run_dir():
    rd = RunDir()
    yield rd
    rd.remove()


@pytest.fixture(scope="module")
def servers():
    """One PostgreSQL and one Redis for the fault tests, in a stand-in for AcceptanceSystem."""
    rd = RunDir()
    system = SimpleNamespace(postgres=None, redis=None)
    try:
        system.postgres = EmbeddedPostgres(rd.path).start()
        system.redis = EmbeddedRedis(rd.path).start()
        yield system
    finally:
        for server in (system.redis, system.postgres):
            if server is not None:
                server.close()
        rd.remove()


@pytest.fixture
def faults(servers):
    """The controller over ``servers``, each of them running and answering when a test starts."""
    for server in (servers.postgres, servers.redis):
        if server.paused:
            server.resume()
        if not server.running:
            server.start()
    return ServerFaults(servers)


def _poll(conn, deadline_s: float) -> bool:
    """Drive an async psycopg2 connection until its operation is done (True) or the deadline passes."""
    end = time.monotonic() + deadline_s
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return True
        remaining = end - time.monotonic()
        if remaining <= 0:
            return False
        wait_read = state == psycopg2.extensions.POLL_READ
        ready = select.select([conn] if wait_read else [], [] if wait_read else [conn], [], remaining)
        if not any(ready):
            return False


def _async_connection(pg: EmbeddedPostgres):
    e = pg.admin_endpoint()
    conn = psycopg2.connect(host=e.host, port=e.port, dbname=e.dbname, user=e.user,
                            password=e.password, connect_timeout=5, async_=1)
    assert _poll(conn, 10), "async connection did not complete"
    return conn


# -- the services layer ---------------------------------------------------------------------

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


# -- the fault controller -------------------------------------------------------------------

def test_a_server_is_its_process_tree_not_only_its_process_group(faults, servers):
    for server in (servers.postgres, servers.redis):
        pid = server.pid()
        assert os.getpgid(pid) == pid != os.getpgid(0)  # mirakuru's new session, never ours
    pg = servers.postgres
    pids = {p.pid for p in pg.processes()}
    children = {p.pid for p in psutil.Process(pg.pid()).children()}
    assert pg.pid() in pids and children and children <= pids  # checkpointer, writers, ...
    # Each PostgreSQL child leads a session of its own: the postmaster's group alone misses them.
    assert {p.pid for p in group_members(pg.pid())} == {pg.pid()}


def test_pause_postgres_leaves_queries_unanswered_until_resume(faults, servers):
    pg = servers.postgres
    open_conn = _async_connection(pg)  # a connection made before the freeze
    try:
        faults.pause("postgres")
        assert pg.paused and pg.running
        assert all(p.status() == psutil.STATUS_STOPPED for p in pg.processes())
        cursor = open_conn.cursor()
        cursor.execute("SELECT 1")
        assert not _poll(open_conn, 1.5), "a paused PostgreSQL answered a query"
        t0 = time.monotonic()
        assert not try_select_one(pg.admin_endpoint())  # a new client times out (connect_timeout)
        assert time.monotonic() - t0 >= 1.5
        seconds = faults.resume("postgres")
        assert 0 < seconds < 30 and not pg.paused
        assert _poll(open_conn, 10), "the query sent while paused got no answer after resume"
        assert cursor.fetchone() == (1,)
        assert try_select_one(pg.admin_endpoint())
    finally:
        open_conn.close()
    assert [(r.verb, r.server) for r in faults.history] == [("pause", "postgres"), ("resume", "postgres")]
    assert faults.history[-1].seconds == seconds


def test_pause_redis_makes_ping_time_out_and_resume_answers(faults, servers):
    r = client(servers.redis.endpoint(), 0, socket_timeout=1, retry=Retry(NoBackoff(), 0))
    assert r.ping()
    with faults.paused("redis") as server:
        assert server is servers.redis and server.paused
        t0 = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            r.ping()
        assert time.monotonic() - t0 >= 1
        assert not servers.redis.answers()
    assert not servers.redis.paused and servers.redis.answers()
    assert r.ping() and faults.history[-1].verb == "resume" and faults.history[-1].seconds > 0


def test_kill_minus_9_postgres_leaves_no_process_of_the_group(faults, servers):
    pg = servers.postgres
    conn = psycopg2.connect(**_kwargs(pg))  # a backend too, not only the postmaster
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    old_pid = pg.pid()
    before = pg.processes()
    groups = {os.getpgid(p.pid) for p in before}
    assert backend in {p.pid for p in before} and len(groups) > 2
    faults.kill("postgres")
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in before)
    assert group_members(groups) == []  # nothing left in any group of the server
    assert not pg.running and pg.processes() == []
    with pytest.raises(psycopg2.Error):
        conn.cursor().execute("SELECT 1")
    conn.close()
    seconds = faults.restart("postgres")
    assert 0 < seconds < 30 and try_select_one(pg.admin_endpoint())
    assert pg.pid() not in (None, old_pid)


def test_kill_minus_9_of_a_paused_server(faults, servers):
    pid = servers.redis.pid()
    faults.pause("redis")
    faults.kill("redis")
    assert group_members(pid) == [] and not servers.redis.answers()
    assert faults.restart("redis") > 0 and servers.redis.answers()


def test_stop_of_a_paused_server_is_clean_and_restart_reports_time(faults, servers):
    pg = servers.postgres
    faults.pause("postgres")
    faults.stop("postgres")  # resumed first, then a clean (fast) shutdown
    assert not pg.running and not try_select_one(pg.admin_endpoint())
    log = pg.log_path.read_text()
    assert "database system is shut down" in log.rsplit("received fast shutdown request", 1)[-1]
    seconds = faults.restart("postgres")
    assert 0 < seconds < 30 and try_select_one(pg.admin_endpoint())


def test_pause_or_resume_of_a_stopped_server_is_refused_in_one_line(faults, servers):
    faults.stop("redis")
    for verb in ("pause", "resume"):
        with pytest.raises(SuiteError) as err:
            faults.apply(verb, "redis")
        assert "\n" not in str(err.value) and f"cannot {verb} the embedded Redis" in str(err.value)


def test_controller_built_from_a_real_acceptance_system():
    """The controller reads the servers from the system: faults apply while open, refused after close."""
    system = AcceptanceSystem(load_settings(environ={})).open()
    try:
        faults = ServerFaults(system)
        pids = {p.pid for p in system.postgres.processes()}
        faults.kill("postgres")
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                       for pid in pids)
        assert faults.restart("postgres") > 0
        with system.session("consumer") as conn, conn.cursor() as cur:  # the run's roles still work
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        with faults.paused("redis"):
            assert not system.redis.answers()
        assert system.redis_client(15).ping()
    finally:
        system.close()
    with pytest.raises(SuiteError, match="^no redis server to stop: the system is not open"):
        faults.stop("redis")


def _kwargs(pg: EmbeddedPostgres) -> dict:
    e = pg.admin_endpoint()
    return {"host": e.host, "port": e.port, "dbname": e.dbname, "user": e.user, "password": e.password,
            "connect_timeout": 5}


# -- refusals (no server needed) ------------------------------------------------------------

EXTERNAL = SimpleNamespace(postgres=ExternalServer("PostgreSQL"), redis=ExternalServer("Redis"))


@pytest.mark.parametrize("verb", ["stop", "kill", "restart", "pause", "resume"])
@pytest.mark.parametrize("name", ["postgres", "redis"])
def test_external_servers_are_refused_in_one_line(verb, name):
    with pytest.raises(SuiteError) as err:
        ServerFaults(EXTERNAL).apply(verb, name)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"cannot {verb} the external ")
    assert "fix:" in message


@pytest.mark.parametrize("verb", ["stop", "kill", "restart", "pause", "resume", "start"])
def test_external_server_itself_refuses_every_fault(verb):
    with pytest.raises(SuiteError, match=f"^cannot {verb} the external Redis"):
        getattr(ExternalServer("Redis"), verb)()


def test_unknown_server_verb_or_closed_system_is_refused_in_one_line():
    faults = ServerFaults(EXTERNAL)
    with pytest.raises(SuiteError, match="^unknown server 'mysql' — fix: name one of: postgres, redis$"):
        faults.kill("mysql")
    with pytest.raises(SuiteError, match="^unknown fault 'explode' — fix: use one of: stop, stop_imm"):
        faults.apply("explode", "redis")
    with pytest.raises(SuiteError, match="^no postgres server to pause: the system is not open"):
        ServerFaults(SimpleNamespace(postgres=None, redis=None)).pause("postgres")
    assert faults.history == []

