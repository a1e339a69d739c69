"""Broken producer: never sends theme_updated (neither on the channel nor on the stream)."""

import sys

from tickstock_producer import cli, facade
from tickstock_producer.etf_universe import EtfUniverseManager


class DroppingManager(EtfUniverseManager):
    def announce(self, event_type: str, data: dict) -> str:
        if event_type == "theme_updated":
            return ""
        return super().announce(event_type, data)


class Producer(facade.Producer):
    def make_etf_manager(self, source):
        return DroppingManager(self.connect, self.publisher, source or facade.load_source())


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
