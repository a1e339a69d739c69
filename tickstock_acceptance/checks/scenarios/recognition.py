"""Planted candlestick patterns: TA-Lib's recognition of them (SCN-3) and the detector's events (SCN-2).

The suite runs TA-Lib itself (the ``ta-lib`` wheel pinned in requirements.txt) over the bars read
back from the synthetic storage: a pattern kind is recognised on a date when its TA-Lib function
returns the contract's signal there (``CDLENGULFING``'s +100 is bullish engulfing; -100, bearish,
is another kind). The planted dates, the kinds, the functions and the date tolerance are the
contract's; the detector's events, observed on the pattern channel, are judged against the same
plants, never against the producer's report.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np

from tickstock_acceptance.contract.scenarios import PatternKind, ScenarioContract
from tickstock_acceptance.sut.subscriber import Received
from tickstock_acceptance.sut.synthetic_storage import Bar

PATTERN_EVENT = "pattern_detected"


def recognise(bars: Sequence[Bar], kinds: dict[str, PatternKind]) -> dict[str, list[date]]:
    """Pattern kind → the dates TA-Lib flags it on (its function returns the kind's signal)."""
    import talib  # the pinned TA-Lib wheel (bundles the C library)

    if not bars:
        return {k: [] for k in kinds}
    arrays = [np.array([getattr(b, f) for b in bars], dtype=float) for f in ("open", "high", "low", "close")]
    out = {}
    for name, kind in kinds.items():
        signals = getattr(talib, kind.talib_function)(*arrays)
        out[name] = [bars[i].date for i, s in enumerate(signals) if int(s) == kind.signal]
    return out


def _trading_day_distance(dates: list[date], a: date, b: date) -> int | None:
    if a not in dates or b not in dates:
        return None
    return abs(dates.index(a) - dates.index(b))


def planted_recognition_problems(scenario: ScenarioContract, bars: Sequence[Bar],
                                 hits: dict[str, list[date]], tolerance_days: int) -> list[str]:
    """Each planted pattern is recognised within ``tolerance_days`` trading days of its planted date."""
    dates = [b.date for b in bars]
    problems = []
    if not scenario.planted:
        problems.append(f"{scenario.symbol}: the contract plants no pattern in {scenario.name}")
    for plant in scenario.planted:
        if plant.date not in dates:
            problems.append(f"{scenario.symbol}: no bar on the planted date {plant.date} of {plant.pattern}")
            continue
        near = [d for d in hits.get(plant.pattern, [])
                if _trading_day_distance(dates, d, plant.date) <= tolerance_days]
        if not near:
            seen = [d.isoformat() for d in hits.get(plant.pattern, [])]
            problems.append(f"{scenario.symbol}: {plant.pattern} planted on {plant.date} not recognised "
                            f"within {tolerance_days} trading days (recognised on {seen or 'no date'})")
    return problems


def stray_recognition_problems(scenario: ScenarioContract, hits: dict[str, list[date]]) -> list[str]:
    """No pattern kind is recognised on a date where the contract planted none of that kind."""
    planted = {(p.pattern, p.date) for p in scenario.planted}
    problems = []
    for kind, days in hits.items():
        stray = [d.isoformat() for d in days if (kind, d) not in planted]
        if stray:
            problems.append(f"{scenario.symbol}: {kind} recognised on {stray[:5]}"
                            f"{' ...' if len(stray) > 5 else ''}, where the contract plants none")
    return problems


# -- the detector's events, as TickStockApp receives them -----------------------------------------
def pattern_events(received: Sequence[Received]) -> list[dict]:
    """The data of every pattern_detected event received."""
    return [r.message["data"] for r in received
            if r.event_type == PATTERN_EVENT and isinstance(r.message.get("data"), dict)]


def published_plant_problems(scenario: ScenarioContract, kinds: dict[str, PatternKind],
                             received: Sequence[Received]) -> list[str]:
    """Exactly the planted (pattern, date) pairs were published for the scenario's symbol, each
    once, marked synthetic and naming its scenario and TA-Lib function."""
    events = [d for d in pattern_events(received) if d.get("symbol") == scenario.symbol]
    got = [(d.get("pattern"), d.get("date")) for d in events]
    want = [(p.pattern, p.date.isoformat()) for p in scenario.planted]
    problems = []
    missing = [f"{p} on {d}" for p, d in want if (p, d) not in got]
    if missing:
        problems.append(f"{scenario.symbol}: not published: {missing}")
    extra = sorted({f"{p} on {d}" for p, d in got if (p, d) not in want})
    if extra:
        problems.append(f"{scenario.symbol}: published where nothing was planted: {extra}")
    twice = sorted({f"{p} on {d}" for p, d in got if got.count((p, d)) > 1})
    if twice:
        problems.append(f"{scenario.symbol}: published more than once: {twice}")
    for d in events:
        label = f"{scenario.symbol} {d.get('pattern')} on {d.get('date')}"
        if d.get("synthetic") is not True:
            problems.append(f"{label}: synthetic is {d.get('synthetic')!r}, not true")
        if d.get("scenario") != scenario.name:
            problems.append(f"{label}: scenario {d.get('scenario')!r}, not {scenario.name!r}")
        kind = kinds.get(d.get("pattern"))
        if kind and d.get("talib_function") != kind.talib_function:
            problems.append(f"{label}: talib_function {d.get('talib_function')}, not {kind.talib_function}")
    if not scenario.planted:
        problems.append(f"{scenario.symbol}: the contract plants no pattern in {scenario.name}")
    return problems


def published_for_problems(symbol: str, received: Sequence[Received]) -> list[str]:
    """Nothing was published for ``symbol`` (a control series without plants)."""
    events = [d for d in pattern_events(received) if d.get("symbol") == symbol]
    return [f"{symbol}: {d.get('pattern')} published for {d.get('date')}" for d in events]


def schema_problems(received: Sequence[Received]) -> list[str]:
    """Every message received matches the JSON Schema of its event type (and is a pattern event)."""
    problems = []
    for r in received:
        if r.event_type != PATTERN_EVENT:
            problems.append(f"a {r.event_type or 'message without an event type'} on {r.channel}")
        problems += [f"{r.event_type} {(r.message or {}).get('data', {}).get('symbol', '?')}: {p}"
                     for p in r.problems()]
    return problems


def delivery_problems(published_count: int | None, detections: list | None,
                      received: Sequence[Received]) -> list[str]:
    """TickStockApp received what the detector says it published (count and hits), no more, no less."""
    problems = []
    if not isinstance(published_count, int):
        return ["the detector's report has no published_count"]
    if len(received) != published_count:
        problems.append(f"the detector reports {published_count} events published, TickStockApp received "
                        f"{len(received)}")
    if isinstance(detections, list):
        reported = sorted((d.get("symbol"), d.get("pattern"), d.get("date")) for d in detections)
        seen = sorted((d.get("symbol"), d.get("pattern"), d.get("date")) for d in pattern_events(received))
        if reported != seen:
            problems.append(f"the detector reports detections {reported}, TickStockApp received {seen}")
    return problems
