"""Broken producer: publishes universe_expansion_complete without its required ``failed_count``.

The publisher skips the JSON Schema validation the reference publisher does before every publish,
so the malformed message reaches the channel and the stream. Nothing the consumer acts on is
missing (totals, themes and success count are intact), so only the message-contract check
(RED-1) can notice.
"""

import sys

from tickstock_producer import cli, facade
from tickstock_producer.events import EventPublisher


class UnvalidatedPublisher(EventPublisher):
    def publish(self, event_type: str, data: dict):
        if event_type == "universe_expansion_complete":
            data = {k: v for k, v in data.items() if k != "failed_count"}
        return super().publish(event_type, data)

    def validate(self, message: dict) -> None:
        """Skips the JSON Schema check, so the malformed message goes out."""


class Producer(facade.Producer):
    def make_publisher(self):
        return UnvalidatedPublisher(self.redis, "tickstock_pl.etf_universe_manager")


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
