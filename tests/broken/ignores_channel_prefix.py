"""Broken producer: it ignores its channel prefix (``TICKSTOCK_PL_CHANNEL_PREFIX``) and publishes on the
spec's names whatever namespace it is given, so a run in a namespace (a parallel worker, a Redis shared
with a staging TickStockApp) hears nothing of it and a TickStockApp on the spec's names hears the run.
ENV-3 must name the channels outside the run's namespace. Run as
``-D producer=tests.broken.ignores_channel_prefix`` with ``-D redis_namespace=test_<name>:``.
"""

import sys
from dataclasses import replace

from tickstock_producer import cli, facade


def create_producer(config, source=None):
    return facade.Producer(replace(config, channel_prefix=""), source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
