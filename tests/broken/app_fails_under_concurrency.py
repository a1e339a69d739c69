"""Broken TickStockApp: more than 8 database queries at once and it answers 503 (RES-2 must turn red).

A fixed pool of 8 connections that fails fast when every connection is busy ("pool exhausted"),
instead of queueing the request: one query at a time, or a few, work as in the reference, so the
functional scenarios pass; 10+ simultaneous UI queries (RES-2's mixed operations) get errors.
Run as ``-D tickstock_app=tests.broken.app_fails_under_concurrency``.
"""

import sys
import threading

from tickstock_app import cli
from tickstock_app.database import Database, DatabaseUnavailable
from tickstock_app.web import TickStockApp

POOL_SIZE = 8


class FailFastPool(Database):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(POOL_SIZE)

    async def query(self, sql, params=None, **kwargs):
        if not self._slots.acquire(blocking=False):
            raise DatabaseUnavailable(f"connection pool exhausted ({POOL_SIZE} queries in flight)")
        try:
            return await super().query(sql, params, **kwargs)
        finally:
            self._slots.release()


class FailFastApp(TickStockApp):
    def make_database(self) -> Database:
        return FailFastPool(self.config)


def create_app(config):
    return FailFastApp(config)


if __name__ == "__main__":
    sys.exit(cli.main(factory=create_app))
