"""Broken TickStockApp: it keeps a copy of every notification it receives, blown up to 64 KiB (RES-3 must
turn red).

Everything else is the reference: it validates, counts, pushes and updates its view as before, so
the service boundaries and the concurrency scenarios still pass. But each message that reaches it
(on the live channel or on its stream) leaves 64 KiB of resident memory behind, the kind of
per-message leak (an unbounded cache of raw payloads) that only a run under load shows: through
RES-3's stress profile (a background expander publishing a dozen notifications per round, bursts
of expansions) its RSS grows by hundreds of MB. Run as ``-D tickstock_app=tests.broken.app_leaks_memory``.
"""

import sys

from tickstock_app import cli
from tickstock_app.consumer import Consumer
from tickstock_app.web import TickStockApp

LEAK_BYTES = 64 * 1024


class LeakingConsumer(Consumer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kept: list[bytes] = []

    async def receive(self, channel: str, raw: bytes | str, durable: bool) -> bool:
        data = raw.encode() if isinstance(raw, str) else bytes(raw)
        self.kept.append((data * (LEAK_BYTES // max(1, len(data)) + 1))[:LEAK_BYTES])  # written: resident
        return await super().receive(channel, raw, durable)


class LeakingApp(TickStockApp):
    def make_consumer(self) -> Consumer:
        return LeakingConsumer(self.config, self.database, self.hub, database_up=self.database_up)


def create_app(config):
    return LeakingApp(config)


if __name__ == "__main__":
    sys.exit(cli.main(factory=create_app))
