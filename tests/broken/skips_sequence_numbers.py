"""Broken producer: numbers its messages 1, 3, 5, ... instead of 1, 2, 3, ...

Every message still arrives, live and on the stream, but a consumer can no longer tell a gap from a
skipped number: the delivery checker, judging against the count the producer acknowledged, reports
losses and messages no producer acknowledged.
"""

import itertools
import sys

from tickstock_producer import cli, facade
from tickstock_producer.events import EventPublisher


class SkippingPublisher(EventPublisher):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sequence = itertools.count(1, 2)


class Producer(facade.Producer):
    def make_publisher(self):
        return SkippingPublisher(self.redis, "tickstock_pl.etf_universe_manager")


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
