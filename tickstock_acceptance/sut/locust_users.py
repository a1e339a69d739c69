"""Locust users for RES-2's mixed load: the locustfile that ``sut.locust_load`` starts (``locust -f``).

Runs only inside Locust's own processes (a master and its workers; Locust monkey-patches the whole
process with gevent on import, so the suite never imports this module: it imports nothing of the
suite either). Every kind of operation is a user class, and every operation is reported through
Locust's ``request`` event, so Locust's statistics (its CSV and JSON) hold every one of them:

* ``UiQueryUser`` (HttpUser): TickStockApp's ``/api/universes/<theme>?filtered=true``, every fourth
  request ``/api/view``;
* ``EtfQueryUser``: ``SELECT get_etf_universe(theme, true)`` as TickStockApp's database role;
* ``UniverseUpdateUser``: ``update_etf_universe`` on a ``test_loc_`` universe as the producer's role;
* ``ExpansionUser``: the producer under test's ``expand --themes <theme>`` (a process: it writes
  and publishes its notifications), failed when it exits non-zero.

psycopg2 is made cooperative with psycogreen (its wait callback), so a query waits in the gevent
loop, not in the C library. Configuration comes from the environment (``TICKSTOCK_LOCUST_*``;
passwords only inside the DSNs there, never on a command line). Each worker process also appends
one line per request (kind, start, milliseconds, error) to ``requests-<pid>.tsv`` in
``TICKSTOCK_LOCUST_LOG_DIR``: the suite sweeps the requests in flight from those times.

Remote workers: run ``locust -f tickstock_acceptance/sut/locust_users.py --worker --master-host
<the suite's machine> --master-port <its port>`` with the same ``TICKSTOCK_LOCUST_*`` variables.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import psycopg2
from locust import HttpUser, User, constant, events, task
from psycogreen.gevent import patch_psycopg

patch_psycopg()

ENV = "TICKSTOCK_LOCUST_"
THEMES = json.loads(os.environ.get(ENV + "THEMES", "[]")) or ["technology"]
LOG_DIR = os.environ.get(ENV + "LOG_DIR", "")
EXPANSION = "producer expansion (publishes)"
_log = None


@events.request.add_listener
def _record(request_type, name, response_time, exception=None, start_time=None, **_kwargs):
    """One line per request: kind, start (epoch s), milliseconds, the error (empty when it succeeded)."""
    global _log
    if not LOG_DIR:
        return
    if _log is None:
        _log = open(os.path.join(LOG_DIR, f"requests-{os.getpid()}.tsv"), "a", buffering=1)  # noqa: SIM115
    started = start_time if start_time is not None else time.time() - response_time / 1000
    error = "" if exception is None else " ".join(str(exception).split())[:300]
    _log.write(f"{name}\t{started:.6f}\t{response_time:.3f}\t{error}\n")


def _theme(user) -> str:
    user.turn = getattr(user, "turn", -1) + 1
    return THEMES[(id(user) + user.turn) % len(THEMES)]


class _Timed(User):
    """A user whose operation is not HTTP: it reports each call through Locust's request event."""

    abstract = True
    kind = ""

    def timed(self, what, call) -> None:
        started, t0 = time.time(), time.perf_counter()
        error = None
        try:
            call()
        except Exception as exc:  # every failure is reported to Locust, not raised in the greenlet
            error = exc
        self.environment.events.request.fire(
            request_type="op", name=self.kind, response_time=(time.perf_counter() - t0) * 1000,
            response_length=0, exception=error, context={"what": what}, start_time=started)


class _Sql(_Timed):
    abstract = True
    dsn_env = ""

    def on_start(self) -> None:
        self.conn = psycopg2.connect(os.environ[ENV + self.dsn_env], application_name="tickstock_locust")
        self.conn.autocommit = True

    def on_stop(self) -> None:
        self.conn.close()

    def query(self, sql: str, args) -> None:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            cur.fetchall()


class UiQueryUser(HttpUser):
    fixed_count = 4
    wait_time = constant(0)
    host = os.environ.get(ENV + "APP_URL", "http://127.0.0.1")

    @task
    def query(self) -> None:
        self.turn = getattr(self, "turn", -1) + 1
        path = "/api/view" if self.turn % 4 == 3 else f"/api/universes/{_theme(self)}?filtered=true"
        with self.client.get(path, name="TickStockApp HTTP query", catch_response=True) as response:
            if response.status_code != 200:  # what TickStockApp said, not only its status
                response.failure(f"{response.status_code} from {path.split('?')[0]}: "
                                 f"{' '.join(response.text.split())[:200]}")


class EtfQueryUser(_Sql):
    fixed_count = 4
    wait_time = constant(0)
    kind = "ETF universe query (TickStockApp's role)"
    dsn_env = "CONSUMER_DSN"

    @task
    def query_universe(self) -> None:
        theme = _theme(self)
        self.timed(theme, lambda: self.query("SELECT get_etf_universe(%s, true)", (theme,)))


class UniverseUpdateUser(_Sql):
    fixed_count = 2
    wait_time = constant(0)
    kind = "universe update (producer's role)"
    dsn_env = "PRODUCER_DSN"

    @task
    def update(self) -> None:
        theme = f"test_loc_{'ab'[id(self) % 2]}"
        symbols = json.dumps(["SPY", "QQQ"])
        self.timed(theme, lambda: self.query("SELECT update_etf_universe(%s, %s)", (theme, symbols)))


class ExpansionUser(_Timed):
    fixed_count = 2
    wait_time = constant(0)
    kind = EXPANSION

    @task
    def expand(self) -> None:
        theme = _theme(self)
        argv = [*json.loads(os.environ[ENV + "PRODUCER_ARGV"]), "expand", "--themes", theme]

        def run() -> None:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(f"exit {done.returncode}: {tail[0]}")

        self.timed(theme, run)
