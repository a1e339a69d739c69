"""Broken producer: its cache synchronizer reports every task ``completed``, also a task that raised
(the original's "status always completed"). Over an empty symbols table the tasks refuse and roll
back, so the universes stay as they were, but daily_sync_complete says all is well: SYNC-4's
empty-symbols scenario must turn red at its "reports ... as failed" step, and nothing else.
"""

import sys

from tickstock_producer import cli, facade
from tickstock_producer.cache_sync import CacheSynchronizer


class CheerfulSynchronizer(CacheSynchronizer):
    def summarize(self, results):
        for r in results:
            r.status, r.error = "completed", None
        return super().summarize(results)


class Producer(facade.Producer):
    synchronizer_class = CheerfulSynchronizer


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
