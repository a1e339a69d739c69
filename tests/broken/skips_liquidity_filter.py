"""Broken producer: keeps every ETF of a theme, ignoring the theme's liquidity filter."""

import sys

from tickstock_producer import cli, facade
from tickstock_producer.etf_universe import EtfUniverseManager


class UnfilteredManager(EtfUniverseManager):
    def select_members(self, theme):
        return list(theme.etfs), []


class Producer(facade.Producer):
    def make_etf_manager(self, source):
        return UnfilteredManager(self.connect, self.publisher, source or facade.load_source())


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
