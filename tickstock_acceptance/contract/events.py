"""The events' JSON Schemas (``contract/schemas/<event_type>.json``) and what a message must carry.

``message_problems`` says why a decoded message does not match the schema of its event type
([] when it does), including a timestamp without a UTC offset (delivery latency is measured
against it).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tickstock_acceptance.config.paths import CONTRACT_DIR

SCHEMA_DIR = CONTRACT_DIR / "schemas"
SCHEMA_BASE = "https://schemas.tickstock.local/events/"


def parse_timestamp(text: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp that carries an offset (naive ones are rejected)."""
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return ts.timestamp()


@cache
def schema_registry() -> Registry:
    return Registry().with_resources(
        (SCHEMA_BASE + p.name, Resource.from_contents(json.loads(p.read_text())))
        for p in sorted(SCHEMA_DIR.glob("*.json")))


def message_problems(message: object) -> list[str]:
    """Why ``message`` (a decoded JSON value) does not match its event type's schema ([] if it does)."""
    if not isinstance(message, dict):
        return ["not a JSON object"]
    event_type = message.get("event_type")
    if not isinstance(event_type, str):
        return ["no event_type"]
    try:
        schema = schema_registry()[SCHEMA_BASE + f"{event_type}.json"].contents
    except Exception:  # referencing.exceptions.NoSuchResource
        return [f"no JSON Schema for event type {event_type!r} in {SCHEMA_DIR}"]
    validator = Draft202012Validator(schema, registry=schema_registry(),
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in validator.iter_errors(message)]
    try:
        parse_timestamp(message.get("timestamp", ""))
    except (TypeError, ValueError) as exc:
        problems.append(f"timestamp: {exc}")
    return problems
