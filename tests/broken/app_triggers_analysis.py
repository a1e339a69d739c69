"""Broken TickStockApp: every universe update makes it request an analysis (SVC-2 must turn red).

It keeps its view as the reference does, then publishes an ``analysis_requested`` message for each
refreshed theme on ``tickstock.analysis.requested`` from its own Redis connection (client name
``tickstock_app.<instance>``): the kind of coupling SVC-2 forbids (the producer's expansion would
trigger work in TickStockApp). The observer sees a message that is not the producer's, MONITOR sees
TickStockApp publish. Run as ``-D tickstock_app=tests.broken.app_triggers_analysis``.
"""

import json
import sys

from tickstock_app import cli
from tickstock_app.consumer import Consumer, now_iso, themes_to_refresh
from tickstock_app.web import TickStockApp

ANALYSIS_CHANNEL = "tickstock.analysis.requested"


class AnalysingConsumer(Consumer):
    async def refresh_view(self, message: dict) -> None:
        await super().refresh_view(message)
        for theme in themes_to_refresh(message):
            entry = self.view.themes.get(theme) or {}
            request = {"timestamp": now_iso(), "service": "tickstock_app", "event_type": "analysis_requested",
                       "data": {"theme": theme, "symbols": entry.get("symbols", []),
                                "because_of": message.get("message_id")}}
            await self.client.publish(ANALYSIS_CHANNEL, json.dumps(request))


class AnalysingApp(TickStockApp):
    def make_consumer(self) -> Consumer:
        return AnalysingConsumer(self.config, self.database, self.hub, database_up=self.database_up)


def create_app(config):
    return AnalysingApp(config)


if __name__ == "__main__":
    sys.exit(cli.main(factory=create_app))
