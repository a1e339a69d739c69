"""Every message the producer sends follows the contract: channel naming and the event's JSON Schema."""

from __future__ import annotations

from tickstock_acceptance.contract.messaging import CHANNEL_NAMING_PATTERN, follows_naming_convention
from tickstock_acceptance.sut.subscriber import Received


def schema_violations(received: list[Received]) -> list[str]:
    """One line per message that breaks its event type's JSON Schema."""
    return [f"{r.channel} {r.event_type}: {p}" for r in received for p in r.problems()]


def misnamed_channels(channels) -> list[str]:
    """Channels that do not follow the naming convention."""
    return sorted(f"{c} (does not match {CHANNEL_NAMING_PATTERN.pattern})"
                  for c in set(channels) if not follows_naming_convention(c))


def unobserved_problems(live: list[Received], persisted: list[Received]) -> list[str]:
    """Messages the producer persisted to its stream that the observer did not see live (and back)."""
    if not persisted:
        return ["the producer persisted no message to its stream"]
    seen, kept = sorted(r.message_id for r in live), sorted(r.message_id for r in persisted)
    if seen == kept:
        return []
    return [f"observed {len(seen)} messages live, the producer persisted {len(kept)}; "
            f"{len(set(kept) - set(seen))} persisted but not observed, "
            f"{len(set(seen) - set(kept))} observed but not persisted"]
