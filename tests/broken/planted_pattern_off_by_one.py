"""Broken producer: its generator plants every candlestick pattern one trading day after the date it
states (an off-by-one in the plant index).

The series are otherwise the reference's and the stated outcome still names the contract's dates,
so the rows, counts and returns look right: only the pattern detector's events and TA-Lib's own
reading of the loaded rows show the shift.
"""

import random
import sys
from datetime import timedelta

from tickstock_producer import cli, facade, scenarios
from tickstock_producer.historical_loader import HistoricalLoader


def next_weekday(d):
    d += timedelta(days=1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


class OffByOneLoader(HistoricalLoader):
    def generate(self, name, symbol):
        spec = scenarios.SCENARIOS[name]
        if not spec.planted:
            return super().generate(name, symbol)
        shifted = tuple(scenarios.Plant(p.pattern, next_weekday(p.date)) for p in spec.planted)
        rows = spec.build(random.Random(scenarios._seed(name, symbol)), symbol, spec.days, shifted)
        return scenarios.GeneratedSeries(name, symbol, rows, scenarios.outcome_of(rows, spec.planted))


class Producer(facade.Producer):
    def make_scenario_loader(self):
        return OffByOneLoader(self.connect)


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
