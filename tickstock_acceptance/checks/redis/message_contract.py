"""Every message the producer sends follows the contract: channel naming and the event's JSON Schema."""

from __future__ import annotations

from tickstock_acceptance.checks.delivery import acknowledged_on, check_delivery
from tickstock_acceptance.contract.messaging import CHANNEL_NAMING_PATTERN, follows_naming_convention
from tickstock_acceptance.sut.subscriber import Received


def schema_violations(received: list[Received]) -> list[str]:
    """One line per message that breaks its event type's JSON Schema."""
    return [f"{r.channel} {r.event_type}: {p}" for r in received for p in r.problems()]


def misnamed_channels(channels) -> list[str]:
    """Channels that do not follow the naming convention."""
    return sorted(f"{c} (does not match {CHANNEL_NAMING_PATTERN.pattern})"
                  for c in set(channels) if not follows_naming_convention(c))


def unobserved_problems(expansion) -> list[str]:
    """The observer saw every message the producer persisted to its stream, each once, in order
    (the delivery checker, with the stream as the producer's acknowledgement)."""
    if not expansion.persisted:
        return ["the producer persisted no message to its stream"]
    return check_delivery(acknowledged_on(expansion.persisted), expansion.live).problems()
