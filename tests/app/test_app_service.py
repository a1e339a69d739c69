"""The reference TickStockApp as a process, against throwaway PostgreSQL and Redis it does not own.

One module, real faults: the app follows the real producer's expansion (view, SSE, acknowledged
stream entries), sends malformed notifications to its dead-letter stream while it keeps serving,
answers 503 while PostgreSQL is stopped and 200 again once it is back, reconnects after Redis is
killed and restarted (no restart of the app), connects only as app_readwrite, and stops with
exit 0 on SIGTERM. Every process started here is killed in ``finally``.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import port_for
import pytest
import redis
from psycopg2 import sql

from tests.conftest import ROOT, cli_env
from tests.integration.test_bad_input import create_database
from tickstock_acceptance.infra.db import session

DB = "app_service_test"
DEAD_LETTERS = "tickstock_app:dead_letters"
STREAM = "stream:tickstock.universe.updated"


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05, on_timeout=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    more = f"\n{on_timeout()}" if on_timeout else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r}){more}")


def get(base: str, path: str, timeout: float = 5.0) -> tuple[int, dict | list]:
    try:
        with urllib.request.urlopen(base + path, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def servers():
    """A PostgreSQL and a Redis this module may stop and kill (not the session's shared ones)."""
    from tickstock_acceptance.infra.embedded import EmbeddedPostgres, EmbeddedRedis, RunDir

    run_dir = RunDir()
    pg = rd = None
    try:
        pg = EmbeddedPostgres(run_dir.path).start()
        rd = EmbeddedRedis(run_dir.path).start()
        yield pg, rd, migrated_database(pg, DB)
    finally:
        for server in (rd, pg):
            if server is not None:
                server.close()
        run_dir.remove()


def migrated_database(pg, name: str) -> dict[str, str]:
    """Create ``name`` on ``pg`` with sql/ applied; new passwords for TickStockApp's and the producer's
    roles (role -> password)."""
    create_database(pg, name, migrate=True)
    passwords = {role: secrets.token_urlsafe(12) for role in ("app_readwrite", "tickstock_producer")}
    with session(pg.admin_endpoint(name)) as conn, conn.cursor() as cur:
        for role, password in passwords.items():
            cur.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD %s").format(sql.Identifier(role)),
                        (password,))
    return passwords


class App:
    """``python -m tickstock_app`` on a free port; killed by ``close`` whatever happened."""

    def __init__(self, env: dict, tmp_path: Path) -> None:
        self.port = port_for.select_random()
        self.base = f"http://127.0.0.1:{self.port}"
        self.out = open(tmp_path / "app.stdout", "w+")
        self.err = open(tmp_path / "app.stderr", "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "tickstock_app", "--port", str(self.port),
                                      "--instance", "t1"], cwd=ROOT, env=cli_env(env),
                                     stdout=self.out, stderr=self.err)

    def wait_serving(self) -> None:
        def answers():
            assert self.proc.poll() is None, self.logs()
            try:
                return get(self.base, "/health", timeout=1)[0] == 200
            except OSError:
                return False
        wait_for(answers, 10, "the app's /health")

    def health(self) -> dict:
        status, doc = get(self.base, "/health")
        assert status == 200, doc
        return doc

    def logs(self) -> str:
        self.err.flush()
        return Path(self.err.name).read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.out.close()
        self.err.close()


def app_env(pg, rd, password: str | None) -> dict:
    return {"TICKSTOCK_APP_DB_HOST": pg.host, "TICKSTOCK_APP_DB_PORT": str(pg.port),
            "TICKSTOCK_APP_DB_NAME": DB, "TICKSTOCK_APP_DB_USER": "app_readwrite",
            "TICKSTOCK_APP_DB_PASSWORD": password or "", "TICKSTOCK_APP_REDIS_HOST": rd.host,
            "TICKSTOCK_APP_REDIS_PORT": str(rd.port), "TICKSTOCK_APP_REDIS_DB": "14"}


def expand(pg, rd, password: str) -> dict:
    env = cli_env({"TICKSTOCK_PL_DB_HOST": pg.host, "TICKSTOCK_PL_DB_PORT": str(pg.port),
                   "TICKSTOCK_PL_DB_NAME": DB, "TICKSTOCK_PL_DB_USER": "tickstock_producer",
                   "TICKSTOCK_PL_DB_PASSWORD": password, "TICKSTOCK_PL_REDIS_HOST": rd.host,
                   "TICKSTOCK_PL_REDIS_PORT": str(rd.port), "TICKSTOCK_PL_REDIS_DB": "14"})
    proc = subprocess.run([sys.executable, "-m", "tickstock_producer", "--json", "expand"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def next_event(stream) -> dict:
    """The next ``data:`` event of a server-sent-events response (comments and blank lines skipped)."""
    while True:
        line = stream.readline()
        assert line, "the event stream ended"
        if line.startswith(b"data: "):
            return json.loads(line[6:])


def view_matches(app: App, report: dict, previous_ids: set[str] = frozenset()):
    themes = {t["theme"]: t["symbol_count"] for t in report["themes"] if t["status"] == "completed"}
    view = get(app.base, "/api/view")[1]["themes"]
    ok = ({k: v["symbol_count"] for k, v in view.items()} == themes
          and not {v["source_message_id"] for v in view.values()} & previous_ids)
    return view if ok else None


def test_app_follows_the_producer_survives_bad_messages_and_faults(servers, tmp_path):
    pg, rd, passwords = servers
    app = App(app_env(pg, rd, passwords["app_readwrite"]), tmp_path)
    sse = None
    try:
        app.wait_serving()
        wait_for(lambda: app.health()["status"] == "ok" and all(app.health()["listeners"].values()),
                 5, "health ok with both listeners")

        # -- the producer's expansion reaches the view, the SSE clients and the acknowledged group
        sse = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
        sse.request("GET", "/api/notifications/stream")
        stream = sse.getresponse()
        assert stream.status == 200 and stream.getheader("content-type").startswith("text/event-stream")
        assert stream.readline() == b": connected\n"
        report = expand(pg, rd, passwords["tickstock_producer"])
        assert report["success_count"] >= 1
        view = wait_for(lambda: view_matches(app, report), 5, "the view to follow the expansion")
        assert next_event(stream)["event_type"] == "universe_expansion_complete"
        assert next_event(stream)["event_type"] == "theme_updated"
        status, summary = get(app.base, "/api/universes")
        assert status == 200 and {r["theme"]: r["symbol_count"] for r in summary} == {
            k: v["symbol_count"] for k, v in view.items()}
        theme = sorted(view)[0]
        status, universe = get(app.base, f"/api/universes/{theme}?filtered=false")
        assert status == 200 and universe["symbols"] == view[theme]["symbols"]
        assert get(app.base, "/api/universes/no_such_theme")[0] == 404
        r = redis.Redis(host=rd.host, port=rd.port, db=14, socket_timeout=5)
        wait_for(lambda: r.xpending(STREAM, "tickstock_app")["pending"] == 0 and
                 app.health()["acknowledged"] >= len(view) + 1, 5, "every stream entry acknowledged")
        consumed = app.health()["consumed"]
        assert consumed == len(view) + 1  # each message once, although it came by pub-sub and stream

        # -- malformed notifications: dead letters with a reason; the app keeps serving
        bad = [b"{not json", json.dumps({"event_type": "start_analysis", "service": "x"}).encode(),
               b'{"event_type": "theme_updated", "data": {"theme": 5}}', b"x" * (65 * 1024)]
        for payload in bad:
            r.publish("tickstock.universe.updated", payload)
        r.xadd(STREAM, {"data": b"[]"})
        wait_for(lambda: r.xlen(DEAD_LETTERS) == 5, 5, "five dead letters", on_timeout=app.logs)
        letters = [{k.decode(): v for k, v in fields.items()} for _, fields in r.xrange(DEAD_LETTERS)]
        reasons = sorted(f["reason"].decode() for f in letters)
        assert any(x.startswith("not JSON") for x in reasons), reasons
        assert any(x.startswith("unknown event_type: 'start_analysis'") for x in reasons), reasons
        assert any(x.startswith("schema theme_updated: missing required field") for x in reasons), reasons
        assert any(x.startswith("oversized") for x in reasons), reasons
        assert any(x.startswith("not a JSON object") for x in reasons), reasons
        assert all(len(f["payload"]) <= 4096 and f["received_at"] for f in letters)
        assert {f["channel"].decode() for f in letters} == {"tickstock.universe.updated", STREAM}
        health = app.health()
        assert health["dead_letters"] == 5 and health["consumed"] == consumed and health["status"] == "ok"
        wait_for(lambda: r.xpending(STREAM, "tickstock_app")["pending"] == 0, 5, "the bad entry acknowledged")

        # -- PostgreSQL stopped: health says so, /api answers 503 fast; back by itself after restart
        pg.stop()
        t0 = time.monotonic()
        status, body = get(app.base, "/api/universes")
        assert status == 503 and body["error"].startswith("database unavailable")
        assert time.monotonic() - t0 < 3
        wait_for(lambda: app.health()["database"]["state"] == "down", 2.5, "health: database down")
        assert app.health()["status"] == "degraded" and app.health()["redis"]["state"] == "up"
        pg.start()
        wait_for(lambda: get(app.base, "/api/universes")[0] == 200, 5, "/api/universes again")
        wait_for(lambda: app.health()["database"]["state"] == "up", 2.5, "health: database up")

        # -- Redis killed and restarted (empty: no persistence): the listeners come back by themselves
        rd.kill()
        wait_for(lambda: app.health()["redis"]["state"] == "down", 2.5, "health: redis down")
        rd.start()
        wait_for(lambda: app.health()["redis"]["state"] == "up" and all(app.health()["listeners"].values()),
                 5, "health: redis up, both listeners back")
        ids = {v["source_message_id"] for v in view.values()}
        report = expand(pg, rd, passwords["tickstock_producer"])
        wait_for(lambda: view_matches(app, report, ids), 5, "the view to follow the second expansion")

        # -- it connected to PostgreSQL only as app_readwrite, named tickstock_app
        with session(pg.admin_endpoint(DB)) as conn, conn.cursor() as cur:
            cur.execute("SELECT DISTINCT usename FROM pg_stat_activity "
                        "WHERE application_name = 'tickstock_app'")
            assert [row[0] for row in cur.fetchall()] == ["app_readwrite"]
        clients = redis.Redis(host=rd.host, port=rd.port).client_list()
        assert {c["name"] for c in clients if c["name"].startswith("tickstock_app")} == {"tickstock_app.t1"}

        # -- SIGTERM with an event stream open: a clean stop, exit 0
        app.proc.send_signal(signal.SIGTERM)
        assert app.proc.wait(10) == 0, app.logs()
        logs = app.logs()
        assert "Traceback" not in logs and passwords["app_readwrite"] not in logs
        for line in ("database down", "database up again", "redis pubsub: connection lost",
                     "redis pubsub: reconnected"):
            assert line in logs, logs
    finally:
        if sse is not None:
            sse.close()
        app.close()


def test_app_starts_without_its_servers_and_answers_503(tmp_path):
    nowhere = port_for.select_random()
    env = {"TICKSTOCK_APP_DB_HOST": "127.0.0.1", "TICKSTOCK_APP_DB_PORT": str(nowhere),
           "TICKSTOCK_APP_REDIS_HOST": "127.0.0.1", "TICKSTOCK_APP_REDIS_PORT": str(nowhere)}
    app = App(env, tmp_path)
    try:
        app.wait_serving()
        health = app.health()
        assert health["status"] == "degraded"
        assert health["database"]["state"] == "down" and health["redis"]["state"] == "down"
        t0 = time.monotonic()
        status, body = get(app.base, "/api/universes/growth")
        assert status == 503 and list(body) == ["error"] and time.monotonic() - t0 < 3
        assert app.proc.poll() is None
        os.kill(app.proc.pid, signal.SIGTERM)
        assert app.proc.wait(10) == 0, app.logs()
    finally:
        app.close()
