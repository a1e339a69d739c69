"""The generated daily bars against the scenario contract (SCN-3): shape, validity and stated outcome.

Problem finders over rows read back from the synthetic storage. The outcome (total return, maximum
drawdown) is computed here from the stored (rounded) closes, by the contract's definitions, and the
generator's statement (stored in the outcomes table and in the loader's report) must equal it.
"""

from __future__ import annotations

from collections.abc import Sequence

from tickstock_acceptance.contract.scenarios import (
    TEST_SYMBOL_PREFIX,
    TEST_SYMBOL_TYPE,
    ScenarioContract,
    weekdays_ending,
)
from tickstock_acceptance.sut.synthetic_storage import Bar

EXPECTATIONS = {  # contract "expect" key → (outcome field, "at least")
    "max_drawdown_at_least": "max_drawdown",
    "total_return_at_least": "total_return",
}


def total_return(closes: Sequence[float]) -> float:
    """close[-1] / close[0] - 1."""
    return closes[-1] / closes[0] - 1.0


def max_drawdown(closes: Sequence[float]) -> float:
    """The largest fall from a running peak: max over t of 1 - close[t] / max(close[..t])."""
    peak, worst = closes[0], 0.0
    for close in closes:
        peak = max(peak, close)
        worst = max(worst, 1.0 - close / peak)
    return worst


def outcome_of(scenario: ScenarioContract, bars: Sequence[Bar]) -> dict:
    """What the rows give: the outcome fields a scenario states, computed from its bars."""
    closes = [b.close for b in bars]
    return {"days": len(bars), "first_date": bars[0].date.isoformat(), "last_date": bars[-1].date.isoformat(),
            "total_return": total_return(closes), "max_drawdown": max_drawdown(closes),
            "planted": [p.as_dict() for p in scenario.planted]}


def date_problems(scenario: ScenarioContract, symbol: str, bars: Sequence[Bar], anchor) -> list[str]:
    """Exactly ``days`` rows on the consecutive weekdays ending at the anchor date."""
    problems = []
    dates = [b.date for b in bars]
    if len(bars) != scenario.days:
        problems.append(f"{symbol}: {len(bars)} rows, the contract says {scenario.days}")
    weekend = [d.isoformat() for d in dates if d.weekday() >= 5]
    if weekend:
        problems.append(f"{symbol}: rows on weekend days {weekend[:3]}{' ...' if len(weekend) > 3 else ''}")
    if dates and dates[-1] != anchor:
        problems.append(f"{symbol}: last date {dates[-1]}, the contract's anchor date is {anchor}")
    if dates and not weekend and dates[-1] == anchor and len(bars) == scenario.days:
        missing = sorted(set(weekdays_ending(anchor, scenario.days)) - set(dates))
        if missing:
            problems.append(f"{symbol}: weekdays missing: {[d.isoformat() for d in missing[:3]]}")
    return problems


def ohlc_problems(symbol: str, bars: Sequence[Bar]) -> list[str]:
    """Every row is valid OHLC (low ≤ open, close ≤ high; prices positive) with a positive volume."""
    problems = []
    for b in bars:
        why = []
        if not (b.low <= min(b.open, b.close) and max(b.open, b.close) <= b.high):
            why.append(f"open {b.open:g}, high {b.high:g}, low {b.low:g}, close {b.close:g} "
                       "is not valid OHLC")
        if b.low <= 0:
            why.append(f"low {b.low:g} is not positive")
        if b.volume <= 0:
            why.append(f"volume {b.volume}")
        if why:
            problems.append(f"{symbol} {b.date}: {'; '.join(why)}")
    return problems


def symbol_problems(scenario: ScenarioContract, registered: dict | None) -> list[str]:
    """The scenario's symbol is registered as a TEST_ symbol of type TEST, under its scenario."""
    if registered is None:
        return [f"{scenario.symbol}: not in the synthetic symbols table"]
    problems = []
    if not scenario.symbol.startswith(TEST_SYMBOL_PREFIX):
        problems.append(f"{scenario.symbol}: not a {TEST_SYMBOL_PREFIX} symbol")
    if registered.get("type") != TEST_SYMBOL_TYPE:
        problems.append(f"{scenario.symbol}: type {registered.get('type')}, expected {TEST_SYMBOL_TYPE}")
    if registered.get("scenario") != scenario.name:
        problems.append(f"{scenario.symbol}: registered under scenario {registered.get('scenario')}")
    return problems


def stated_outcome_problems(scenario: ScenarioContract, symbol: str, stated: dict | None, actual: dict,
                            tolerance: float, where: str) -> list[str]:
    """The generator's statement (from ``where``) equals what the rows give; floats within ``tolerance``."""
    if not isinstance(stated, dict):
        return [f"{scenario.name}/{symbol}: no outcome stated in {where}"]
    problems = []
    for key, value in actual.items():
        got = stated.get(key)
        if isinstance(value, float):
            if not isinstance(got, (int, float)) or abs(got - value) > tolerance:
                problems.append(f"{scenario.name}/{symbol}: {where} states {key} {got}, "
                                f"the rows give {value:.6f}")
        elif key == "planted":
            if sorted(map(_plant_key, got or [])) != sorted(map(_plant_key, value)):
                problems.append(f"{scenario.name}/{symbol}: {where} states planted {got}, "
                                f"the contract {value}")
        elif got != value:
            problems.append(f"{scenario.name}/{symbol}: {where} states {key} {got}, the rows give {value}")
    return problems


def _plant_key(plant) -> tuple:
    return (plant.get("pattern"), plant.get("date")) if isinstance(plant, dict) else (str(plant), "")


def expectation_problems(scenario: ScenarioContract, actual: dict) -> list[str]:
    """The outcome meets the contract's bounds (e.g. crash_2020's drawdown of at least 30 %)."""
    problems = []
    for key, bound in scenario.expect.items():
        field = EXPECTATIONS.get(key)
        if field is None:
            problems.append(f"{scenario.name}: the suite does not know the expectation {key!r}")
        elif actual[field] < bound:
            problems.append(f"{scenario.name}: {field} {actual[field]:.4f}, "
                            f"the contract expects at least {bound}")
    return problems


# -- every scenario of the contract at once (what the steps call) --------------------------------

def every_stated_outcome_problem(scenarios: Sequence[ScenarioContract], bars: dict[str, Sequence[Bar]],
                                 stored: dict, reported: dict, tolerance: float) -> list[str]:
    """Each scenario's statement, in the outcomes table (``stored``: (scenario, symbol) → outcome) and
    in the loader's report (``reported``: scenario → symbol → outcome), equals what its rows give."""
    problems = []
    for s in scenarios:
        if not bars.get(s.symbol):
            problems.append(f"{s.symbol}: no rows")
            continue
        actual = outcome_of(s, bars[s.symbol])
        problems += stated_outcome_problems(s, s.symbol, stored.get((s.name, s.symbol)), actual,
                                            tolerance, "the outcomes table")
        problems += stated_outcome_problems(s, s.symbol, (reported.get(s.name) or {}).get(s.symbol), actual,
                                            tolerance, "the loader's report")
    return problems


def bounded_figures(scenarios: Sequence[ScenarioContract],
                    bars: dict[str, Sequence[Bar]]) -> list[tuple[str, float, str]]:
    """(name, value, bound) of every figure a contract bounds, computed from the rows (for evidence)."""
    figures = []
    for s in scenarios:
        if bars.get(s.symbol):
            actual = outcome_of(s, bars[s.symbol])
            for key, bound in s.expect.items():
                field = EXPECTATIONS.get(key, key)
                figures.append((f"{s.name} {field}", actual.get(field, 0.0), f"{key} {bound}"))
    return figures


def every_expectation_problem(scenarios: Sequence[ScenarioContract],
                              bars: dict[str, Sequence[Bar]]) -> list[str]:
    """Each scenario's outcome, computed from its rows, meets the bounds its contract expects."""
    problems = []
    for s in scenarios:
        if not bars.get(s.symbol):
            problems.append(f"{s.symbol}: no rows")
            continue
        problems += expectation_problems(s, outcome_of(s, bars[s.symbol]))
    return problems
