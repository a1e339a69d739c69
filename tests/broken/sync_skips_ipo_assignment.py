"""Broken producer: its cache synchronizer assigns new listings to their IPO universes but never
publishes ``ipo_assignment`` (the original declared the channel and never used it). SYNC-3's
scenario must turn red at its message step, and nothing else.
"""

import sys

from tickstock_producer import cli, facade
from tickstock_producer.cache_sync import CacheSynchronizer


class SilentSynchronizer(CacheSynchronizer):
    def publish_ipo_assignment(self, data) -> None:
        return None


class Producer(facade.Producer):
    synchronizer_class = SilentSynchronizer


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
