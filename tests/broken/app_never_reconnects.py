"""Broken TickStockApp: a listener that loses its Redis connection logs it and gives up: it never
reconnects (RES-1's connection-fault scenarios through the suite's proxy must turn red: a reset link
and a blackholed one; a slow link loses no connection and stays green).

Everything else is the reference: it notices the fault (its log says ``connection lost``), and its
health endpoint keeps answering. Run as ``-D tickstock_app=tests.broken.app_never_reconnects``.
"""

import logging
import sys

from tickstock_app import cli
from tickstock_app.consumer import REDIS_FAULTS, Consumer, LostConnection
from tickstock_app.web import TickStockApp

log = logging.getLogger("tickstock_app")


class GiveUpConsumer(Consumer):
    async def _supervise(self, name, run):
        try:
            await run(lambda: self._connected(name))
        except (*REDIS_FAULTS, LostConnection) as exc:
            log.warning("redis %s: connection lost (%s); not reconnecting", name, exc)
            self.listening[name] = False


class GiveUpApp(TickStockApp):
    def make_consumer(self) -> Consumer:
        return GiveUpConsumer(self.config, self.database, self.hub, database_up=self.database_up)


def create_app(config):
    return GiveUpApp(config)


if __name__ == "__main__":
    sys.exit(cli.main(factory=create_app))
