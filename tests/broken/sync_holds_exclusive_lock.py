"""Broken producer: its cache synchronizer locks symbols and cache_entries exclusively (ACCESS
EXCLUSIVE: no reader, no writer) at the start of the market-cap recalculation and holds the lock
for 1 s while it "recalculates". TickStockApp's reads and the real-time writes wait for it:
SYNC-2's scenario (write p95 far over 500 ms) and DB-4's (read p95 far over 50 ms) must turn red, and
nothing else (the 30-minute window is still met).
"""

import sys

from tickstock_producer import cli, facade
from tickstock_producer.cache_sync import CacheSynchronizer

HOLD_S = 1.0


class LockingSynchronizer(CacheSynchronizer):
    def market_cap_recalculation(self, cur, ctx):
        cur.execute("LOCK TABLE symbols, cache_entries IN ACCESS EXCLUSIVE MODE")
        cur.execute("SELECT pg_sleep(%s)", (HOLD_S,))
        return super().market_cap_recalculation(cur, ctx)


class Producer(facade.Producer):
    synchronizer_class = LockingSynchronizer


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
