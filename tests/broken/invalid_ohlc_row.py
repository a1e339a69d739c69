"""Broken producer: its generator emits one invalid OHLC row (high below close) in crash_2020.

The synthetic schema takes any row (it is a staging area: the suite, not the database, judges the
generator), the row count and the stated outcome (computed from the closes) are unchanged, so only
the row validation can see it.
"""

import sys

from tickstock_producer import cli, facade
from tickstock_producer.historical_loader import HistoricalLoader

BAD_ROW = 100  # the 101st day of the crash


class InvalidRowLoader(HistoricalLoader):
    def generate(self, name, symbol):
        series = super().generate(name, symbol)
        if name == "crash_2020":
            bar = series.rows[BAD_ROW]
            series.rows[BAD_ROW] = bar._replace(high=round(bar.close * 0.98, 4))  # high < close
        return series


class Producer(facade.Producer):
    def make_scenario_loader(self):
        return InvalidRowLoader(self.connect)


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
