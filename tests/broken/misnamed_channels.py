"""Broken producer: its channel configuration uses the original's colon-separated EOD channel name."""

import sys

from tickstock_producer import cli, facade


class Producer(facade.Producer):
    def channels(self):
        channels = super().channels()
        channels["cache_sync_complete"] = "tickstock:cache:sync_complete"
        return channels


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
