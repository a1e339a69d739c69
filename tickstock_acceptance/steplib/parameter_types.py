"""Parameter types for step sentences (behave ``register_type``); imported by step modules."""

from __future__ import annotations

import parse
from behave import register_type

from tickstock_acceptance.config.targets import Target, by_phrase


@parse.with_pattern(r"[a-z][a-z ]*?")
def parse_target(text: str) -> Target:
    return by_phrase(text)


@parse.with_pattern(r"\d+(?:(?:, | and )\d+)*")
def parse_int_list(text: str) -> list[int]:
    return [int(x) for x in text.replace(" and ", ", ").split(", ")]


register_type(Target=parse_target, IntList=parse_int_list)


@parse.with_pattern(r"[A-Za-z][A-Za-z ]*?")
def parse_named_target(text: str) -> Target:
    """A target named with capitals too, e.g. "ETF universe query" or "UI query"."""
    return by_phrase(text)


@parse.with_pattern(r"[A-Z][A-Z0-9_.]*(?:(?:, | and )[A-Z][A-Z0-9_.]*)*")
def parse_symbols(text: str) -> list[str]:
    """Ticker symbols written as "SPY, QQQ and IWM"."""
    return [s.strip() for s in text.replace(" and ", ", ").split(", ") if s.strip()]


register_type(NamedTarget=parse_named_target, Symbols=parse_symbols)
