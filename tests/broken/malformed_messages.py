"""Broken producer: publishes universe_expansion_complete without its required ``failed_count``.

The publisher skips the JSON Schema validation the reference publisher does before every publish,
so the malformed message reaches the channel and the stream. Nothing the consumer acts on is
missing (totals, themes and success count are intact), so only the message-contract check
(RED-1) can notice.
"""

import json
import sys

from tickstock_producer import cli, facade
from tickstock_producer.events import (
    EVENT_CHANNELS,
    STREAM_MAXLEN,
    EventPublisher,
    Published,
    now_iso,
    stream_key,
)


class UnvalidatedPublisher(EventPublisher):
    def publish(self, event_type: str, data: dict) -> Published:
        channel = EVENT_CHANNELS[event_type]
        if event_type == "universe_expansion_complete":
            data = {k: v for k, v in data.items() if k != "failed_count"}
        with self._lock:
            message = self.build(event_type, data)
            message["sequence"] = next(self._sequence)
            message["timestamp"] = now_iso()
            payload = json.dumps(message, separators=(",", ":"))
            pipe = self.client.pipeline(transaction=True)
            pipe.publish(channel, payload)
            pipe.xadd(stream_key(channel), {"data": payload}, maxlen=STREAM_MAXLEN, approximate=True)
            receivers, stream_id = pipe.execute()
        return Published(message["message_id"], message["sequence"], channel, str(stream_id), int(receivers))


class Producer(facade.Producer):
    def make_publisher(self):
        return UnvalidatedPublisher(self.redis, "tickstock_pl.etf_universe_manager")


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer))
