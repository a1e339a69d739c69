"""Parameter types for step sentences (behave ``register_type``); imported by step modules."""

from __future__ import annotations

import parse
from behave import register_type

from .targets import Target, by_phrase


@parse.with_pattern(r"[a-z][a-z ]*?")
def parse_target(text: str) -> Target:
    return by_phrase(text)


@parse.with_pattern(r"\d+(?:(?:, | and )\d+)*")
def parse_int_list(text: str) -> list[int]:
    return [int(x) for x in text.replace(" and ", ", ").split(", ")]


register_type(Target=parse_target, IntList=parse_int_list)
