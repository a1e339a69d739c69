"""Broken TickStockApp: a listener that loses its Redis connection logs it and gives up: it never
reconnects (RES-1's connection-fault scenarios through the suite's proxy must turn red: a reset link
and a blackholed one; a slow link loses no connection and stays green).

Everything else is the reference: it notices the fault (its log says ``connection lost``), and its
health endpoint keeps answering. Run as ``-D tickstock_app=tests.broken.app_never_reconnects``.
"""

import asyncio
import logging
import sys

from tickstock_app import cli
from tickstock_app.consumer import BACKOFF_MAX_S, BACKOFF_START_S, Consumer
from tickstock_app.database import one_line
from tickstock_app.web import TickStockApp

log = logging.getLogger("tickstock_app")


class GiveUpConsumer(Consumer):
    async def _supervise(self, name, run):
        """The reference's loop, except that a connection lost after it had listened is final."""
        backoff = BACKOFF_START_S
        while True:
            try:
                await run(lambda: self._connected(name))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - as the reference, but see below
                if self.listening[name]:
                    log.warning("redis %s: connection lost (%s); not reconnecting", name, one_line(exc))
                    self.listening[name] = False
                    return
            await asyncio.sleep(backoff)  # not connected yet (starting): retried like the reference
            backoff = min(backoff * 2, BACKOFF_MAX_S)


class GiveUpApp(TickStockApp):
    def make_consumer(self) -> Consumer:
        return GiveUpConsumer(self.config, self.database, self.hub, database_up=self.database_up)


def create_app(config):
    return GiveUpApp(config)


if __name__ == "__main__":
    sys.exit(cli.main(factory=create_app))
