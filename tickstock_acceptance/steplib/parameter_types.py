"""Parameter types for step sentences (behave ``register_type``), registered when steplib is imported.

Feature files write the spec's numbers in their sentences ("within the message delivery target of
100 ms", "at least 200 distinct ETF symbols", "logical databases 13, 14 and 15"), and these types
check each number against ``config.targets`` (or the contract) while the step is matched: a
sentence whose number differs from the one source fails its step with a message naming both, so
the two can never drift apart silently.
"""

from __future__ import annotations

import re

import parse
from behave import register_type

from tickstock_acceptance.config import targets as T
from tickstock_acceptance.config.targets import Target
from tickstock_acceptance.contract.messaging import REDIS_TEST_DBS


class SpecMismatch(ValueError):
    """A number in a feature sentence differs from the spec's number in config.targets."""


@parse.with_pattern(r"[A-Za-z][A-Za-z ]*? target of [0-9][0-9.]* (?:ms|s|%|MB)")
def parse_target(text: str) -> Target:
    """"message delivery target of 100 ms" → the target, once its limit and unit match the text."""
    m = re.fullmatch(r"(?P<name>.+?) target of (?P<limit>[0-9.]+) (?P<unit>\S+)", text)
    target = T.by_phrase(m["name"])
    if (float(m["limit"]), m["unit"]) != (target.limit, target.unit):
        raise SpecMismatch(f"the feature says '{text}', but config/targets.py says {target.describe()}")
    return target


def spec_number(name: str, value: int):
    """A parameter type for one of the spec's counts: the sentence's number must equal ``value``."""

    @parse.with_pattern(r"\d+")
    def convert(text: str) -> int:
        if int(text) != value:
            raise SpecMismatch(f"the feature says {text} ({name}), but config/targets.py says {value}")
        return value

    return convert


@parse.with_pattern(r"\d+(?:(?:, | and )\d+)*")
def parse_test_databases(text: str) -> list[int]:
    """"13, 14 and 15": the Redis logical databases the contract gives the tests, and only those."""
    dbs = [int(x) for x in text.replace(" and ", ", ").split(", ")]
    if tuple(sorted(dbs)) != REDIS_TEST_DBS:
        raise SpecMismatch(f"the feature names Redis databases {dbs}, but the contract "
                           f"(contract/messaging.json) gives the tests {list(REDIS_TEST_DBS)}")
    return dbs


@parse.with_pattern(r"none|[A-Z][A-Z0-9_.]*(?:(?:, | and )[A-Z][A-Z0-9_.]*)*")
def parse_symbols(text: str) -> list[str]:
    """Ticker symbols written as "SPY, QQQ and IWM" (or "none")."""
    if text == "none":
        return []
    return [s.strip() for s in text.replace(" and ", ", ").split(", ") if s.strip()]


register_type(
    Target=parse_target,
    TestDatabases=parse_test_databases,
    Symbols=parse_symbols,
    MinEtfSymbols=spec_number("the spec's minimum of distinct ETF symbols", T.ETF_MIN_SYMBOLS),
    MinEtfThemes=spec_number("the spec's minimum of ETF themes", T.ETF_MIN_THEMES),
    ConcurrentOperations=spec_number("the spec's concurrent operations", T.CONCURRENT_OPERATIONS),
)
