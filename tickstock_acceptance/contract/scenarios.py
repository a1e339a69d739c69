"""The Test Scenario Integration contract (``contract/reference/scenarios.json``), as the suite owns it.

What every scenario of the generator must be: its TEST_ symbol, its length in weekdays ending at
the anchor date, the bounds its outcome must meet (``expect``), the candlestick patterns planted in
it and the dates TA-Lib must flag them on; where synthetic data lives (the ``synthetic`` schema);
which TA-Lib function and signal recognise each pattern kind. The oracle of the SCN checks: the
producer's own code or report is never taken as the expectation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from tickstock_acceptance.config.paths import CONTRACT_DIR

SCENARIOS_FILE = CONTRACT_DIR / "reference" / "scenarios.json"
ALL_SCENARIOS = "all"  # the loader's name for "every scenario, each with its default symbol"
TEST_SYMBOL_PREFIX = "TEST_"
TEST_SYMBOL_TYPE = "TEST"


@dataclass(frozen=True)
class Planted:
    """A candlestick pattern planted on a date (the last candle of a multi-candle pattern)."""

    pattern: str
    date: date

    def as_dict(self) -> dict:
        return {"pattern": self.pattern, "date": self.date.isoformat()}


@dataclass(frozen=True)
class PatternKind:
    """A pattern kind and the TA-Lib function (and signal value) that recognises it."""

    name: str
    talib_function: str
    signal: int


@dataclass(frozen=True)
class ScenarioContract:
    name: str
    symbol: str
    days: int
    expect: dict
    planted: tuple[Planted, ...]
    declares_plants: bool = False  # the contract lists its plants (an empty list: a control series)

    @property
    def is_control(self) -> bool:
        """A series that declares no plants: no pattern kind may be recognised in it."""
        return self.declares_plants and not self.planted

    def weekdays(self, anchor: date) -> list[date]:
        """The ``days`` consecutive weekdays ending at ``anchor``: the dates the rows must carry."""
        return weekdays_ending(anchor, self.days)


@dataclass(frozen=True)
class ScenarioContractSet:
    anchor_date: date
    schema: str
    symbols_table: str
    bars_table: str
    outcomes_table: str
    patterns: dict[str, PatternKind]
    pattern_date_tolerance_days: int
    scenarios: dict[str, ScenarioContract]

    def by_symbol(self) -> dict[str, ScenarioContract]:
        return {s.symbol: s for s in self.scenarios.values()}

    @property
    def symbols(self) -> list[str]:
        return [s.symbol for s in self.scenarios.values()]

    def planted_series(self) -> list[ScenarioContract]:
        """Scenarios with planted patterns."""
        return [s for s in self.scenarios.values() if s.planted]

    def control_series(self) -> list[ScenarioContract]:
        """Scenarios that declare an empty plant list: no pattern may be recognised in them."""
        return [s for s in self.scenarios.values() if s.is_control]


def weekdays_ending(anchor: date, count: int) -> list[date]:
    """``count`` consecutive weekdays (Monday-Friday) ending at ``anchor`` (a weekday), oldest first."""
    out, day = [], anchor
    while len(out) < count:
        if day.weekday() < 5:
            out.append(day)
        day -= timedelta(days=1)
    return out[::-1]


def _load(data: dict) -> ScenarioContractSet:
    storage = data["storage"]
    scenarios = {
        name: ScenarioContract(name, s["symbol"], int(s["days"]), dict(s.get("expect") or {}),
                               tuple(Planted(p["pattern"], date.fromisoformat(p["date"]))
                                     for p in s.get("planted", [])), "planted" in s)
        for name, s in data["scenarios"].items()}
    return ScenarioContractSet(
        anchor_date=date.fromisoformat(data["anchor_date"]),
        schema=storage["schema"], symbols_table=storage["symbols_table"], bars_table=storage["bars_table"],
        outcomes_table=storage["outcomes_table"],
        patterns={k: PatternKind(k, p["talib"], int(p["signal"])) for k, p in data["patterns"].items()},
        pattern_date_tolerance_days=int(data["pattern_date_tolerance_days"]),
        scenarios=scenarios)


@cache
def scenario_contract() -> ScenarioContractSet:
    """The contract's scenarios, storage and pattern kinds."""
    return _load(json.loads(SCENARIOS_FILE.read_text()))
