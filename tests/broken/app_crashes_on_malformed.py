"""Broken TickStockApp: a malformed notification takes it down (RES-4's bad-notification scenario must
turn red).

Instead of recording a message that fails validation in its dead-letter stream, it logs one line and
exits the whole process (``os._exit``): the error is not isolated to the message. Valid
notifications are handled as the reference handles them, so nothing else it does changes. Run as
``-D tickstock_app=tests.broken.app_crashes_on_malformed``.
"""

import logging
import os
import sys

from tickstock_app import cli
from tickstock_app.consumer import Consumer
from tickstock_app.web import TickStockApp

log = logging.getLogger("tickstock_app")


class CrashingConsumer(Consumer):
    async def handle_invalid(self, channel: str, reason: str, raw) -> None:
        log.error("malformed notification on %s: %s; exiting", channel, reason)
        logging.shutdown()
        os._exit(70)


class CrashingApp(TickStockApp):
    def make_consumer(self) -> Consumer:
        return CrashingConsumer(self.config, self.database, self.hub, database_up=self.database_up)


def create_app(config):
    return CrashingApp(config)


if __name__ == "__main__":
    sys.exit(cli.main(factory=create_app))
