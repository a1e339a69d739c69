"""Broken producer: its cache synchronizer does not wait for the end-of-day signal (the original's
fault): as soon as it starts it syncs the next day not yet synced in its scope, from today on, on
its own (SYNC-1's waiting scenario must turn red, and nothing else).

The fabricated signal looks like a real one (a schema-valid ``eod_complete``), so the run is
recorded, published and counted like any other.
"""

import sys
import uuid
from datetime import date, timedelta

from tickstock_producer import cli, facade
from tickstock_producer.cache_sync import CacheSynchronizer, Signal
from tickstock_producer.events import now_iso


class EagerSynchronizer(CacheSynchronizer):
    started = False

    def setup(self) -> None:
        super().setup()
        if not self.started:
            self.started = True
            self.run_sync(Signal("0-1", self._fabricated_signal(), None))

    def _fabricated_signal(self) -> dict:
        day = date.today()
        with self.db() as conn, conn.cursor() as cur:
            cur.execute("SELECT trading_date FROM cache_sync_runs WHERE scope = %s", (self.universe_prefix,))
            taken = {r[0] for r in cur.fetchall()}
        while day in taken:
            day += timedelta(days=1)
        return {
            "event_type": "eod_complete",
            "service": "tickstock_pl.cache_synchronizer",
            "producer_id": "eager",
            "message_id": uuid.uuid4().hex,
            "sequence": 1,
            "timestamp": now_iso(),
            "data": {"trading_date": day.isoformat(), "symbols_processed": 0},
        }


class Producer(facade.Producer):
    synchronizer_class = EagerSynchronizer


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
