"""Connection states, refreshed every ``INTERVAL_S`` (a cheap ``SELECT 1`` / ``PING``).

Each check has its own deadline (``CHECK_DEADLINE_S``), so a stopped, killed or frozen server shows
as ``down`` within about ``INTERVAL_S + CHECK_DEADLINE_S`` (< 2 s); it shows ``up`` again at the
first check that answers. Every change of state is logged as one line on stderr (the error's
first line, never a secret). The database check runs on its own connection and thread: a frozen
server holds at most that one thread, never the pool that serves the HTTP queries.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg2
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .consumer import DeadLetters, now_iso
from .database import Database, one_line

log = logging.getLogger("tickstock_app")

INTERVAL_S = 0.5
CHECK_DEADLINE_S = 1.0


class State:
    """One server's state as /health shows it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = "unknown"
        self.error: str | None = None
        self.checked_at: str | None = None
        self.since: str | None = None
        self._down_since: float | None = None

    @property
    def up(self) -> bool:
        return self.state == "up"

    def set(self, error: str | None) -> bool:
        """Record a check's outcome; True when the state changed to down (or up)."""
        new = "up" if error is None else "down"
        self.checked_at = now_iso()
        self.error = error
        if new == self.state:
            return False
        old, self.state, self.since = self.state, new, self.checked_at
        if new == "down":
            self._down_since = time.monotonic()
            log.warning("%s down%s: %s", self.name, " at start" if old == "unknown" else "", error)
        elif old == "down":
            log.warning("%s up again after %.2f s", self.name, time.monotonic() - (self._down_since or 0))
        return True

    def as_dict(self) -> dict:
        return {"state": self.state, "error": self.error, "checked_at": self.checked_at, "since": self.since}


class HealthMonitor:
    def __init__(self, database: Database, client: aioredis.Redis, dead_letters: DeadLetters | None = None,
                 interval_s: float = INTERVAL_S) -> None:
        self.database = database
        self.client = client
        self.dead_letters = dead_letters
        self.interval_s = interval_s
        self.db = State("database")
        self.redis = State("redis")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tickstock_app-health")
        self._conn = None
        self._db_check: Future | None = None
        self._db_check_started = 0.0
        self._task: asyncio.Task | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            if self._conn is not None:
                _close(self._conn)

    async def check_once(self) -> None:
        await asyncio.gather(self._check_database(), self._check_redis())

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.check_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the monitor must keep running
                log.warning("health check failed: %s: %s", type(exc).__name__, one_line(exc))
            await asyncio.sleep(max(0.05, self.interval_s - (time.monotonic() - started)))

    # -- database ---------------------------------------------------------------------------------

    def _select_one(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        try:
            if conn is None or conn.closed:
                conn = self.database.connect()
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
        except BaseException:
            if conn is not None:
                _close(conn)
            raise
        with self._lock:
            self._conn = conn

    async def _check_database(self) -> None:
        if self._db_check is not None and not self._db_check.done():
            waited = time.monotonic() - self._db_check_started
            self._set_db(f"no answer to SELECT 1 for {waited:.1f} s")
            return
        self._db_check = self._executor.submit(self._select_one)
        self._db_check_started = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._db_check)), CHECK_DEADLINE_S)
        except TimeoutError:
            self._set_db(f"no answer to SELECT 1 within {CHECK_DEADLINE_S:g} s")
        except Exception as exc:  # noqa: BLE001 - psycopg2's errors and anything else: the state says why
            problem = one_line(exc)
            self._set_db(problem if isinstance(exc, psycopg2.Error) else f"{type(exc).__name__}: {problem}")
        else:
            self._set_db(None)

    def _set_db(self, error: str | None) -> None:
        if self.db.set(error) and error is not None:
            self.database.discard_idle()  # pooled connections died with the server

    # -- redis ------------------------------------------------------------------------------------

    async def _check_redis(self) -> None:
        try:
            await asyncio.wait_for(self.client.ping(), CHECK_DEADLINE_S)
        except TimeoutError:
            self.redis.set(f"no answer to PING within {CHECK_DEADLINE_S:g} s")
            return
        except (RedisError, OSError) as exc:
            self.redis.set(one_line(exc) or type(exc).__name__)
            return
        self.redis.set(None)
        if self.dead_letters is not None and self.dead_letters.backlog:
            await self.dead_letters.flush()


def _close(conn) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001
        pass
