"""Broken producer: its cache synchronizer trusts an empty symbols table. With no symbol in scope
the recalculation writes empty tiers and the cleanup removes every member as "missing": the
universes are wiped, and every task says completed. SYNC-4's empty-symbols scenario must turn red
at its "exactly as it was before" step, and nothing else.
"""

import sys

from tickstock_producer import cli, facade
from tickstock_producer.cache_sync import CacheSynchronizer


class TrustingSynchronizer(CacheSynchronizer):
    def _require_active(self, cur, ctx) -> None:
        return None

    def _scope_counts(self, cur):
        total, active = super()._scope_counts(cur)
        return max(total, 1), active  # "there are symbols": the cleanup's refusal never fires


class Producer(facade.Producer):
    synchronizer_class = TrustingSynchronizer


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
