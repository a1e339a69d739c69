"""PostgreSQL access as the configured identity (``app_readwrite`` in the suite), off the event loop.

Every query runs in a thread pool (psycopg2 blocks) under an asyncio deadline, so a stopped,
killed or frozen server costs a request at most ``QUERY_DEADLINE_S`` and never blocks the loop.
Connections: ``application_name=tickstock_app``, ``connect_timeout=2``, ``statement_timeout``
2000 ms, TCP keepalives, and ``default_transaction_read_only=on`` (the app only reads; the role's
grants are the real boundary, this is defence in depth). A connection that fails is thrown away
and the next query connects again: that is the whole reconnect logic, so the app recovers by
itself when the server comes back. A connection whose query missed the deadline is discarded
when its thread returns.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import psycopg2.extensions

from .config import AppConfig

APPLICATION_NAME = "tickstock_app"
CONNECT_TIMEOUT_S = 2
STATEMENT_TIMEOUT_MS = 2000
QUERY_DEADLINE_S = 2.5  # connect or statement timeout plus a margin: the HTTP answer never waits longer
POOL_THREADS = 16
MAX_IDLE = 8


class DatabaseUnavailable(Exception):
    """The database could not answer (down, unreachable, refused, too slow): one-line message."""


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    text = str(exc).strip() or (type(exc).__name__ if isinstance(exc, BaseException) else "")
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class Database:
    """Read-only queries as one identity, each on a pooled connection in a worker thread."""

    session_options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c default_transaction_read_only=on"

    def __init__(self, config: AppConfig, threads: int = POOL_THREADS) -> None:
        self.config = config
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tickstock_app-db")
        self._idle: list = []
        self._lock = threading.Lock()
        self._closed = False

    # -- connections (worker threads) ---------------------------------------------------------

    def connect(self):
        c = self.config
        conn = psycopg2.connect(host=c.db_host, port=c.db_port, dbname=c.db_name, user=c.db_user,
                                password=c.db_password, connect_timeout=CONNECT_TIMEOUT_S,
                                application_name=APPLICATION_NAME, options=self.session_options,
                                keepalives=1, keepalives_idle=5, keepalives_interval=1,
                                keepalives_count=3)
        conn.autocommit = True
        return conn

    def _take(self) -> tuple[object, bool]:
        """A connection and whether it was reused (an idle one may have died with its server)."""
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn, True
        return self.connect(), False

    def _give_back(self, conn, abandoned: threading.Event) -> None:
        with self._lock:
            if not (self._closed or abandoned.is_set() or conn.closed) and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        _close(conn)

    def discard_idle(self) -> None:
        """Forget pooled connections (called when the server is seen down: they are dead)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)

    def _run(self, sql: str, params: tuple | None, abandoned: threading.Event) -> list[tuple]:
        while True:
            try:
                conn, reused = self._take()
            except psycopg2.Error as exc:
                raise DatabaseUnavailable(one_line(exc)) from None
            try:
                with conn.cursor() as cur:
                    cur.execute(sql, params)
                    rows = cur.fetchall()
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                _close(conn)  # broken or timed out: the next query connects afresh
                if reused and not isinstance(exc, psycopg2.extensions.QueryCanceledError):
                    continue  # a pooled connection that died with a restarted server: retry on a new one
                raise DatabaseUnavailable(one_line(exc)) from None
            except psycopg2.Error:
                self._give_back(conn, abandoned)  # a query error (e.g. permission denied): connection is fine
                raise
            self._give_back(conn, abandoned)
            return rows

    # -- the event loop's side ----------------------------------------------------------------

    async def query(self, sql: str, params: tuple | None = None,
                    deadline_s: float = QUERY_DEADLINE_S) -> list[tuple]:
        """Rows of ``sql``; DatabaseUnavailable when the server fails or misses the deadline."""
        if self._closed:
            raise DatabaseUnavailable("the app is shutting down")
        abandoned = threading.Event()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._run, sql, params, abandoned)
        try:
            return await asyncio.wait_for(asyncio.shield(future), deadline_s)
        except TimeoutError:
            abandoned.set()
            future.add_done_callback(_consume_result)
            raise DatabaseUnavailable(f"no answer within {deadline_s:g} s") from None
        except asyncio.CancelledError:
            abandoned.set()
            future.add_done_callback(_consume_result)
            raise

    async def universe(self, theme: str, filtered: bool = False) -> dict:
        rows = await self.query("SELECT get_etf_universe(%s, %s)", (theme, filtered))
        return rows[0][0] if rows else {"error": f"Universe not found: {theme}"}

    async def summary(self) -> list[dict]:
        rows = await self.query("SELECT theme, symbol_count, last_updated, focus, criteria, symbols_sample "
                                "FROM get_etf_universes_summary()")
        keys = ("theme", "symbol_count", "last_updated", "focus", "criteria", "symbols_sample")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def ping(self, deadline_s: float) -> None:
        await self.query("SELECT 1", deadline_s=deadline_s)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)
        self._executor.shutdown(wait=False, cancel_futures=True)


def _close(conn) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing a broken connection must not raise
        pass


def _consume_result(future) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: no "exception was never retrieved" noise
