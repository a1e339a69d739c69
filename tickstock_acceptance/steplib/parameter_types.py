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


ISSUE_MIN_TICK_RATE = 2000   # PERF-3's tick feeder: "a fixed rate (≥ 2,000 ticks/s)"


@parse.with_pattern(r"\d+")
def parse_tick_rate(text: str) -> int:
    """"2000 ticks per second": the feeder's rate in config/measurement.py, at least 2,000."""
    from tickstock_acceptance.config import measurement as M

    rate = int(text)
    if rate != M.REALTIME_TICK_RATE:
        raise SpecMismatch(f"the feature says {rate} ticks per second, but config/measurement.py says "
                           f"REALTIME_TICK_RATE = {M.REALTIME_TICK_RATE}")
    if rate < ISSUE_MIN_TICK_RATE:
        raise SpecMismatch(f"the tick feeder's rate {rate}/s is below the {ISSUE_MIN_TICK_RATE} ticks/s "
                           "PERF-3 asks for")
    return rate


register_type(TickRate=parse_tick_rate)


# -- Test Scenario Integration: numbers and names the sentences take from the scenario contract ------
def _scenario_contract():
    from tickstock_acceptance.contract.scenarios import scenario_contract

    return scenario_contract()


@parse.with_pattern(r"\d{4}-\d{2}-\d{2}")
def parse_anchor_date(text: str):
    """The scenarios' anchor date as the feature writes it: must be the contract's."""
    anchor = _scenario_contract().anchor_date
    if text != anchor.isoformat():
        raise SpecMismatch(f"the feature says anchor date {text}, but contract/reference/scenarios.json says "
                           f"{anchor.isoformat()}")
    return anchor


@parse.with_pattern(r"\d+")
def parse_pattern_tolerance(text: str) -> int:
    """The planted-date tolerance in trading days: must be the contract's."""
    tolerance = _scenario_contract().pattern_date_tolerance_days
    if int(text) != tolerance:
        raise SpecMismatch(f"the feature says a tolerance of {text} trading days, but "
                           f"contract/reference/scenarios.json says {tolerance}")
    return tolerance


@parse.with_pattern(r"[a-z][a-z0-9_]*")
def parse_scenario_name(text: str) -> str:
    """A scenario the contract defines."""
    known = _scenario_contract().scenarios
    if text not in known:
        raise SpecMismatch(f"the feature names scenario {text!r}, which contract/reference/scenarios.json "
                           f"does not define (it defines {', '.join(known)})")
    return text


@parse.with_pattern(r"CDL[A-Z]+(?:(?:, | and )CDL[A-Z]+)*")
def parse_talib_functions(text: str) -> list[str]:
    """TA-Lib functions written as "CDLHAMMER, CDLDOJI and ...": exactly the contract's pattern functions."""
    named = [s.strip() for s in text.replace(" and ", ", ").split(", ")]
    functions = [k.talib_function for k in _scenario_contract().patterns.values()]
    if sorted(named) != sorted(functions):
        raise SpecMismatch(f"the feature names {named}, but contract/reference/scenarios.json recognises its "
                           f"patterns with {functions}")
    return named


@parse.with_pattern(r"tickstock\.[a-z_]+\.[a-z_]+")
def parse_contract_channel(text: str) -> str:
    """A channel the message contract (contract/messaging.json) defines."""
    from tickstock_acceptance.contract.messaging import CHANNELS

    if text not in CHANNELS.values():
        raise SpecMismatch(f"the feature names channel {text}, which contract/messaging.json does not define")
    return text


register_type(
    AnchorDate=parse_anchor_date,
    PatternTolerance=parse_pattern_tolerance,
    ScenarioName=parse_scenario_name,
    TalibFunctions=parse_talib_functions,
    ContractChannel=parse_contract_channel,
)


# -- PERF-1: the spec's high-volume message count ("at least 1000 producer messages") ----------------
register_type(HighVolumeMessages=spec_number("the spec's high-volume message count",
                                             T.HIGH_VOLUME_MESSAGE_COUNT))


# -- Service boundaries: names and codes the sentences take from the database contract ------------
def _consumer_must_not_have():
    from tickstock_acceptance.contract.database import DATABASE_CONTRACT

    return DATABASE_CONTRACT.roles[DATABASE_CONTRACT.role_playing("TickStockApp")].must_not_have


@parse.with_pattern(r"[a-z_]+(?:(?:, | and )[a-z_]+)*")
def parse_producer_tables(text: str) -> list[str]:
    """"symbols, cache_entries and ohlcv_daily": exactly the tables the contract forbids TickStockApp
    to write."""
    named = [t.strip() for t in text.replace(" and ", ", ").split(", ")]
    forbidden = sorted(t for t, rights in _consumer_must_not_have().tables.items() if "INSERT" in rights)
    if sorted(named) != forbidden:
        raise SpecMismatch(f"the feature names tables {named}, but contract/database.toml forbids "
                           f"TickStockApp's role to write {forbidden}")
    return named


@parse.with_pattern(r"[a-z_]+")
def parse_producer_function(text: str) -> str:
    """A function the contract forbids TickStockApp's role to call."""
    forbidden = list(_consumer_must_not_have().execute)
    if text not in forbidden:
        raise SpecMismatch(f"the feature names function {text}, but contract/database.toml forbids "
                           f"TickStockApp's role to call {forbidden}")
    return text


@parse.with_pattern(r"[0-9A-Z]{5}")
def parse_permission_sqlstate(text: str) -> str:
    """"42501": PostgreSQL's insufficient_privilege, the error a refused write must carry."""
    from psycopg2 import errorcodes

    if text != errorcodes.INSUFFICIENT_PRIVILEGE:
        raise SpecMismatch(f"the feature says SQLSTATE {text}, but PostgreSQL's permission error "
                           f"(insufficient_privilege) is {errorcodes.INSUFFICIENT_PRIVILEGE}")
    return text


register_type(
    ProducerTables=parse_producer_tables,
    ProducerFunction=parse_producer_function,
    PermissionSqlstate=parse_permission_sqlstate,
)


# -- Resilience under load (RES-2, RES-3): the resource sampler's interval written in the sentence ----
@parse.with_pattern(r"\d+")
def parse_res_sample_interval(text: str) -> int:
    """"sampled every 100 ms": the sampler's interval in config/measurement.py."""
    from tickstock_acceptance.config import measurement as M

    if int(text) != M.RES_SAMPLE_INTERVAL_MS:
        raise SpecMismatch(f"the feature says every {text} ms, but config/measurement.py says "
                           f"RES_SAMPLE_INTERVAL_MS = {M.RES_SAMPLE_INTERVAL_MS}")
    return int(text)


register_type(ResSampleIntervalMs=parse_res_sample_interval)


# -- Cache Synchronization: numbers the sentences take from the contract and config/measurement.py -----
def _measured(name: str, value: float, source: str):
    """A number a sentence states that must equal ``value`` (``source`` says where it is defined)."""

    @parse.with_pattern(r"\d+(?:\.\d+)?")
    def convert(text: str) -> float:
        if float(text) != float(value):
            raise SpecMismatch(f"the feature says {text} ({name}), but {source} says {value:g}")
        return float(value)

    return convert


def _market_size(text: str) -> int:
    from tickstock_acceptance.contract.cache_sync import MARKET_SIZE

    if int(text) != MARKET_SIZE:
        raise SpecMismatch(f"the feature says a market of {text} symbols, but "
                           f"contract/reference/cache_sync.json says {MARKET_SIZE}")
    return MARKET_SIZE


_market_size.pattern = r"\d+"


@parse.with_pattern(r"Redis|PostgreSQL")
def parse_link_server(text: str) -> str:
    """The server at the far end of the suite's fault proxy: "Redis" or "PostgreSQL"."""
    return text


def _register_sync_types() -> None:
    from tickstock_acceptance.config import measurement as M

    register_type(
        MarketSize=_market_size,
        SyncStartLimit=_measured("the sync's start after a signal, s", M.SYNC_START_LIMIT_S,
                                 "config/measurement.py SYNC_START_LIMIT_S"),
        QuietSeconds=_measured("the quiet period, s", M.SYNC_QUIET_S, "config/measurement.py SYNC_QUIET_S"),
        LinkLatency=_measured("the slow link's delay, ms", M.LINK_LATENCY_MS,
                              "config/measurement.py LINK_LATENCY_MS"),
        SlowSeconds=_measured("how long the link stays slow, s", M.LINK_SLOW_S,
                              "config/measurement.py LINK_SLOW_S"),
        LinkServer=parse_link_server,
        LocustUsers=_measured("Locust's users", M.LOCUST_USERS, "config/measurement.py LOCUST_USERS"),
        LocustSeconds=_measured("how long Locust's users run, s", M.LOCUST_SECONDS,
                                "config/measurement.py LOCUST_SECONDS"),
        LocustWorkers=_measured("Locust's worker processes", M.LOCUST_WORKERS,
                                "config/measurement.py LOCUST_WORKERS"),
    )


_register_sync_types()
