"""Broken producer: publishes every event on its channel but never appends it to the stream.

Live subscribers see nothing wrong; a TickStockApp instance that was offline, or that crashed
before acknowledging, has nothing to catch up from (RED-2, and ETF-3's offline catch-up).
"""

import json
import sys

from tickstock_producer import cli, facade
from tickstock_producer.events import (
    EVENT_CHANNELS,
    EventPublisher,
    InvalidEvent,
    Published,
    now_iso,
    schema_errors,
)


class ChannelOnlyPublisher(EventPublisher):
    def publish(self, event_type: str, data: dict) -> Published:
        channel = EVENT_CHANNELS[event_type]
        with self._lock:
            message = self.build(event_type, data)
            message["sequence"] = next(self._sequence)
            message["timestamp"] = now_iso()
            errors = schema_errors(message)
            if errors:
                raise InvalidEvent(f"{event_type} does not match its schema: {'; '.join(errors)}")
            message["timestamp"] = now_iso()
            receivers = self.client.publish(channel, json.dumps(message, separators=(",", ":")))
        return Published(message["message_id"], message["sequence"], channel, "", int(receivers))


class Producer(facade.Producer):
    def make_publisher(self):
        return ChannelOnlyPublisher(self.redis, "tickstock_pl.etf_universe_manager")


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer))
