"""Broken producer: publishes theme_updated with a field its JSON Schema does not allow.

The publisher skips the JSON Schema validation the reference publisher does before every publish,
so the malformed message (an undeclared ``priority`` in ``data``; the contract's schema says
``additionalProperties: false``) reaches the channel and the stream. Everything the consumer acts
on is intact, so only the message-contract check (RED-1) can notice.
"""

import sys

from tickstock_producer import cli, facade
from tickstock_producer.events import EventPublisher


class UnvalidatedPublisher(EventPublisher):
    def publish(self, event_type: str, data: dict):
        if event_type == "theme_updated":
            data = dict(data, priority="high")
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
