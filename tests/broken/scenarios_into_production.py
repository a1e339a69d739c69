"""Broken producer: its historical loader also copies every synthetic row into production storage.

The synthetic schema still gets everything it should (so the generator, the detector and TA-Lib are
satisfied), but the TEST_ symbols and their daily bars land in ``public.symbols`` and
``public.ohlcv_daily`` as well, where TickStockApp reads. Only the isolation checks can see it.
"""

import sys

from psycopg2.extras import execute_values

from tickstock_producer import cli, facade
from tickstock_producer.historical_loader import HistoricalLoader


class LeakingLoader(HistoricalLoader):
    @staticmethod
    def write_scenario(conn, scenario, series):
        HistoricalLoader.write_scenario(conn, scenario, series)
        with conn.cursor() as cur:  # "so the charts can show them too"
            execute_values(cur, """INSERT INTO symbols (symbol, name, type, active) VALUES %s
                                   ON CONFLICT (symbol) DO UPDATE SET name = EXCLUDED.name""",
                           [(s.symbol, f"Synthetic {scenario}", "TEST", True) for s in series])
            execute_values(cur, """INSERT INTO ohlcv_daily (symbol, date, open, high, low, close, volume)
                                   VALUES %s ON CONFLICT (symbol, date) DO UPDATE
                                   SET close = EXCLUDED.close""",
                           [tuple(row) for s in series for row in s.rows], page_size=2000)


class Producer(facade.Producer):
    def make_scenario_loader(self):
        return LeakingLoader(self.connect)


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
