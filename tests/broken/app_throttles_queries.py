"""Broken TickStockApp: a query budget far below the spec's load (RES-2 under Locust must turn red).

Its database layer allows 40 queries per second and answers 503 ("database unavailable: query
budget exhausted") beyond that, a rate limit configured for a test desk, not for production. A few
queries at once, or a burst of 18 (RES-2's in-process set), stay within the budget and pass as in
the reference; the sustained load of Locust's users (about 60 UI queries a second on this machine) does not.
Run as ``-D tickstock_app=tests.broken.app_throttles_queries``.
"""

import sys
import threading
import time

from tickstock_app import cli
from tickstock_app.database import Database, DatabaseUnavailable
from tickstock_app.web import TickStockApp

QUERIES_PER_SECOND = 40


class ThrottledDatabase(Database):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._window, self._count = 0, 0

    async def query(self, sql, params=None, **kwargs):
        with self._lock:
            second = int(time.monotonic())
            if second != self._window:
                self._window, self._count = second, 0
            self._count += 1
            over = self._count > QUERIES_PER_SECOND
        if over:
            raise DatabaseUnavailable(f"query budget exhausted ({QUERIES_PER_SECOND} queries a second)")
        return await super().query(sql, params, **kwargs)


class ThrottledApp(TickStockApp):
    def make_database(self) -> Database:
        return ThrottledDatabase(self.config)


def create_app(config):
    return ThrottledApp(config)


if __name__ == "__main__":
    sys.exit(cli.main(factory=create_app))
