"""Broken producer: real-time processing stalls while a scenario loads.

"To keep bars consistent with history", the loader takes a PostgreSQL advisory lock for the whole
load (and writes its rows one statement at a time, reading each back, as loaders that grew by
accretion do), and the tick processor takes the same lock, shared, before it publishes each batch
of events. Nothing is
lost and nothing is wrong outside a load; during one, ticks queue up on the stream and their bars
and threshold events leave late, so tick-to-event latency during the load blows the delivery target.
"""

import json
import sys

from tickstock_producer import cli, facade
from tickstock_producer.historical_loader import HistoricalLoader
from tickstock_producer.realtime import TickProcessor

HISTORY_LOCK = 31_337  # the advisory lock both sides agree on


class LockingLoader(HistoricalLoader):
    def load_scenario(self, name, symbols=None):
        lock = self.connect()
        try:
            with lock.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock(%s)", (HISTORY_LOCK,))
            return super().load_scenario(name, symbols)
        finally:
            lock.close()  # ends the session: the lock goes with it

    @staticmethod
    def write_scenario(conn, scenario, series):
        symbols = [s.symbol for s in series]
        with conn.cursor() as cur:
            cur.execute("DELETE FROM synthetic.scenario_outcomes WHERE symbol = ANY(%s)", (symbols,))
            cur.execute("DELETE FROM synthetic.symbols WHERE symbol = ANY(%s)", (symbols,))
            for s in series:
                cur.execute("INSERT INTO synthetic.symbols (symbol, name, type, scenario) "
                            "VALUES (%s, %s, 'TEST', %s)", (s.symbol, f"Synthetic {scenario}", scenario))
                for row in s.rows:
                    cur.execute("INSERT INTO synthetic.ohlcv_daily (symbol, date, open, high, low, close, "
                                "volume) VALUES (%s, %s, %s, %s, %s, %s, %s)", tuple(row))
                    # ... and reads each row back "to be sure", still holding the lock
                    cur.execute("SELECT count(*) FROM synthetic.ohlcv_daily WHERE symbol = %s AND date <= %s",
                                (row[0], row[1]))
                    cur.fetchone()
                cur.execute("INSERT INTO synthetic.scenario_outcomes (scenario, symbol, stated) "
                            "VALUES (%s, %s, %s::jsonb)",
                            (scenario, s.symbol, json.dumps(s.outcome)))


class LockingProcessor(TickProcessor):
    def __init__(self, connect, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.db = connect()
        self.db.autocommit = True

    def publish(self, events):
        if events:
            with self.db.cursor() as cur:  # wait until no load holds the history lock
                cur.execute("SELECT pg_advisory_lock_shared(%s)", (HISTORY_LOCK,))
                cur.execute("SELECT pg_advisory_unlock_shared(%s)", (HISTORY_LOCK,))
        super().publish(events)


class Producer(facade.Producer):
    def make_scenario_loader(self):
        return LockingLoader(self.connect)

    def make_tick_processor(self, threshold_step):
        return LockingProcessor(self.connect, self.tick_redis(),
                                facade.EventPublisher(self.redis, "tickstock_pl.tick_processor"),
                                threshold_step)


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
