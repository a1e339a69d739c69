"""Broken producer: publishes every event on its channel but never appends it to the stream.

Live subscribers see nothing wrong; a TickStockApp instance that was offline, or that crashed
before acknowledging, has nothing to catch up from (RED-2, and ETF-3's offline catch-up).
"""

import sys

from tickstock_producer import cli, facade
from tickstock_producer.events import EventPublisher


class ChannelOnlyPublisher(EventPublisher):
    def send(self, channel: str, payload: str) -> tuple[int, str]:
        """PUBLISH only: nothing reaches the stream."""
        return int(self.client.publish(channel, payload)), ""


class Producer(facade.Producer):
    def make_publisher(self):
        return ChannelOnlyPublisher(self.redis, "tickstock_pl.etf_universe_manager")


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
