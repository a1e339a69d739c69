"""Broken TickStockApp: it acknowledges each stream entry as soon as it reads it, before processing
it. An entry whose processing cannot finish (the database unreachable) is gone from its pending list,
so it is never retried: after its link to PostgreSQL heals, its view still shows the universes as
they were before (RES-1's cut link to PostgreSQL must turn red; the Redis faults stay green, because
there processing never fails).

Everything else is the reference. Run as ``-D tickstock_app=tests.broken.app_acks_before_processing``.
"""

import sys

from tickstock_app import cli
from tickstock_app.consumer import GROUP, Consumer
from tickstock_app.web import TickStockApp


class AckFirstConsumer(Consumer):
    async def _process_entry(self, entry_id, fields) -> bool:
        await self.client.xack(self.stream, GROUP, entry_id)  # acknowledged on receipt: the defect
        await super()._process_entry(entry_id, fields)
        return True  # whatever happened, there is nothing left to retry


class AckFirstApp(TickStockApp):
    def make_consumer(self) -> Consumer:
        return AckFirstConsumer(self.config, self.database, self.hub, database_up=self.database_up)


def create_app(config):
    return AckFirstApp(config)


if __name__ == "__main__":
    sys.exit(cli.main(factory=create_app))
