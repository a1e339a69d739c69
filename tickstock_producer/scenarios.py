"""Scenario generator: deterministic synthetic daily OHLCV for the Test Scenario Integration.

Seven scenarios (the contract is ``contract/reference/scenarios.json``; a unit test keeps the
definitions below equal to it):

- ``crash_2020`` (252 days): a calm rise, a crash of 40 % from the segment's start in 23 days,
  then a slow recovery; maximum drawdown >= 30 %.
- ``growth_2021`` (252 days): a rise, a shallow pull-back, a longer rise; total return ~ +30 %.
- ``volatility_periods`` (126 days): six 21-day windows, calm (0.4 % daily moves) and volatile
  (3.5 %) in turn.
- ``trend_changes`` (189 days): legs of 47 days: up, down, sideways, up.
- ``high_low_events`` (63 days): new highs, then new lows below the start, then new highs again.
- ``candlestick_patterns`` (126 days): a pattern-free base series with four planted candlestick
  patterns (hammer, bullish engulfing, doji, morning star), each flagged by TA-Lib exactly on its
  planted date (the last candle of the pattern) and on no other date.
- ``pattern_control`` (126 days): the same kind of base series without plants: none of TA-Lib's
  CDLHAMMER, CDLENGULFING, CDLDOJI, CDLMORNINGSTAR flags any date.

The base series of the two pattern scenarios consists of black (falling) candles only, with bodies
of 55-70 % of their range, lower shadows shorter than the body and real-body gaps up between
candles: engulfing needs two colours, a morning star a white third candle and a real-body gap down,
a hammer a lower shadow longer than its body, a doji a body under 10 % of the average range — the
base has none of these. Each plant is built with its context (a short slide before the hammer, a
long black candle before the morning star's star) from TA-Lib's own candle settings (averages of
the previous 10 bodies/ranges, "near" = 20 % of the 5-candle average range), with wide margins, and
the candle after a white plant opens below the plant's close so that it cannot engulf it.

Determinism: the random source is ``random.Random`` seeded with the first 8 bytes of
SHA-256("<scenario>:<symbol>") (never Python's ``hash()``), and prices are computed with IEEE-754
basic arithmetic only (no ``math.log``/``exp``/``gauss``, whose last bit may differ between C
libraries), each rounded to 4 decimals as it is produced. Dates are the weekdays ending at the
fixed anchor ``ANCHOR_DATE`` (2026-10-30). So a scenario and symbol give byte-identical rows on
every machine (``rows_digest`` fingerprints them).

Each generated series states its outcome, computed from the rounded rows as written: days, first
and last date, ``total_return`` = close[-1]/close[0] - 1, ``max_drawdown`` = max over t of
1 - close[t]/max(close[:t+1]), and the planted patterns with their dates.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from .historical_loader import ANCHOR_DATE, trading_days

SQRT3 = 1.7320508075688772  # scales a sum of four uniforms (variance 1/3) to unit variance


class Bar(NamedTuple):
    symbol: str
    date: date
    open: float
    high: float
    low: float
    close: float
    volume: int


@dataclass(frozen=True)
class Plant:
    pattern: str
    date: date

    def as_dict(self) -> dict:
        return {"pattern": self.pattern, "date": self.date.isoformat()}


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    symbol: str          # the default TEST_ symbol
    days: int
    description: str
    planted: tuple[Plant, ...] = ()
    # build(rng, symbol, days, planted) -> rows
    build: Callable[[random.Random, str, int, tuple[Plant, ...]], list[Bar]] | None = field(
        default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        return {"name": self.name, "symbol": self.symbol, "days": self.days,
                "description": self.description, "planted": [p.as_dict() for p in self.planted]}


@dataclass
class GeneratedSeries:
    scenario: str
    symbol: str
    rows: list[Bar]
    outcome: dict


# ---- random helpers (basic arithmetic only) --------------------------------------------------

def _seed(name: str, symbol: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{name}:{symbol}".encode()).digest()[:8], "big")


def _normal(rng: random.Random) -> float:
    """Approximately standard normal (Irwin-Hall of four uniforms), no libm involved."""
    return (rng.random() + rng.random() + rng.random() + rng.random() - 2.0) * SQRT3


def _uniform(rng: random.Random, a: float, b: float) -> float:
    return a + (b - a) * rng.random()


def _r(x: float) -> float:
    return round(x, 4)


def _volume(rng: random.Random) -> int:
    return 200_000 + int(rng.random() * 2_800_000)


# ---- path scenarios (the original five) ------------------------------------------------------

# A segment: (days, multiple of the segment's starting close reached at its end, daily volatility)
Segment = tuple[int, float, float]


def _path_closes(rng: random.Random, start: float, segments: list[Segment]) -> tuple[list[float],
                                                                                    list[float]]:
    """Closes (start first) following the segments: a straight line between the segment's ends plus
    a random walk pinned to zero at both ends (a bridge), so every segment ends exactly where it
    says. Returns the closes and each day's volatility (for the candles' shadows)."""
    closes, vols = [start], [segments[0][2]]
    for days, multiple, vol in segments:
        s = closes[-1]
        e = s * multiple
        walk, w = [], 0.0
        for _ in range(days):
            w += vol * _normal(rng)
            walk.append(w)
        for k in range(1, days + 1):
            frac = k / days
            bridge = walk[k - 1] - frac * walk[-1]
            closes.append(s + (e - s) * frac + s * bridge)
            vols.append(vol)
    return closes, vols


def _candles_from_closes(rng: random.Random, symbol: str, days: list[date], closes: list[float],
                         vols: list[float]) -> list[Bar]:
    rows: list[Bar] = []
    prev = closes[0] * (1 + 0.3 * vols[0] * _normal(rng))
    for d, c, vol in zip(days, closes, vols, strict=True):
        o = prev * (1 + 0.25 * vol * _normal(rng))
        o, c = _r(o), _r(c)
        hi = _r(max(o, c) * (1 + 0.5 * vol * abs(_normal(rng))))
        lo = _r(min(o, c) * (1 - 0.5 * vol * abs(_normal(rng))))
        rows.append(Bar(symbol, d, o, hi, lo, c, _volume(rng)))
        prev = c
    return rows


def _path_builder(segments: list[Segment]) -> Callable:
    def build(rng: random.Random, symbol: str, days: int, _plants: tuple[Plant, ...]) -> list[Bar]:
        assert 1 + sum(s[0] for s in segments) == days
        start = 40.0 + rng.random() * 160.0
        closes, vols = _path_closes(rng, start, segments)
        return _candles_from_closes(rng, symbol, trading_days(days, ANCHOR_DATE), closes, vols)
    return build


# ---- candlestick scenarios -------------------------------------------------------------------

AVG = 10   # TA-Lib's averaging period for bodies, ranges and shadows (BodyShort/Long, BodyDoji, ...)
NEAR = 5   # TA-Lib's averaging period for Near


class _Candles:
    """Builds a series candle by candle; every price rounded as it is produced."""

    def __init__(self, rng: random.Random, symbol: str, days: list[date], start: float) -> None:
        self.rng, self.symbol, self.days, self.start = rng, symbol, days, start
        self.rows: list[Bar] = []

    # What TA-Lib averages over (the candles before the next one).
    def avg_body(self, n: int = AVG) -> float:
        last = self.rows[-n:]
        return sum(abs(b.close - b.open) for b in last) / len(last)

    def avg_range(self, n: int = AVG) -> float:
        last = self.rows[-n:]
        return sum(b.high - b.low for b in last) / len(last)

    @property
    def last(self) -> Bar:
        return self.rows[-1]

    def add(self, o: float, h: float, lo: float, c: float) -> None:
        o, h, lo, c = _r(o), _r(h), _r(lo), _r(c)
        self.rows.append(Bar(self.symbol, self.days[len(self.rows)], o, max(h, o, c), min(lo, o, c),
                             c, _volume(self.rng)))

    def black(self, o: float, body_frac: float | None = None) -> None:
        """A base candle: black, body 55-70 % of its range, each shadow shorter than the body."""
        rng = self.rng
        body = o * (body_frac if body_frac is not None else _uniform(rng, 0.008, 0.012))
        rng_len = body / _uniform(rng, 0.55, 0.70)
        shadows = rng_len - body
        upper = shadows * _uniform(rng, 0.35, 0.65)
        c = o - body
        self.add(o, o + upper, c - (shadows - upper), c)

    def base_open(self) -> float:
        """Next base open: a real-body gap up (so no star, no engulfing), pulled towards the start."""
        c = self.last.close
        pull = 0.05 * (self.start - c) / self.start
        return c * (1 + _uniform(self.rng, 0.004, 0.016) + pull)


def _plant_hammer(s: _Candles) -> None:
    # Context: a four-day slide (opens at the previous close, no gap up).
    for _ in range(4):
        s.black(s.last.close * 1.0005)
    prev = s.last
    body = 0.35 * s.avg_body()
    o = prev.low + 0.3 * (prev.close - prev.low)     # body near (below) the previous low
    c = o - body
    lower = 0.9 * s.avg_range()                        # long lower shadow, > 2x the body
    s.add(o, o + 0.02 * body, c - lower, c)            # (almost) no upper shadow


def _plant_bullish_engulfing(s: _Candles) -> None:
    s.black(s.base_open(), 0.007)                      # the small black candle
    prev = s.last
    o = prev.close * 0.998                             # opens below its close ...
    c = prev.open * 1.003                              # ... closes above its open
    body = c - o
    s.add(o, c + 0.15 * body, o - 0.1 * body, c)
    s.black(s.last.close * 0.999)                      # next opens below the white close


def _plant_doji(s: _Candles) -> None:
    o = s.base_open()
    rng_len = s.avg_range()
    c = o - 0.02 * rng_len                             # black, body 2 % of the average range
    s.add(o, o + 0.47 * rng_len, c - 0.47 * rng_len, c)


def _plant_morning_star(s: _Candles) -> None:
    s.black(s.base_open(), 2.5 * s.avg_body() / s.last.close)   # long black candle
    first = s.last
    star_o = first.close * 0.996                       # real body gaps down
    star_body = 0.4 * s.avg_body()
    star_c = star_o - star_body
    s.add(star_o, star_o + 0.4 * star_body, star_c - 0.5 * star_body, star_c)
    star = s.last
    o = star.close + 0.5 * (star.open - star.close)    # opens inside the star's body
    c = first.close + 0.6 * (first.open - first.close)  # closes well into the first body
    body = c - o
    s.add(o, c + 0.1 * body, o - 0.1 * body, c)
    s.black(s.last.close * 0.999)                      # next opens below the white close


PLANTERS: dict[str, tuple[int, Callable[[_Candles], None]]] = {
    # pattern: (candles the planter adds before and including the planted date, planter)
    "hammer": (5, _plant_hammer),
    "bullish_engulfing": (2, _plant_bullish_engulfing),
    "doji": (1, _plant_doji),
    "morning_star": (3, _plant_morning_star),
}


def _pattern_builder(rng: random.Random, symbol: str, days: int,
                     plants: tuple[Plant, ...]) -> list[Bar]:
    dates = trading_days(days, ANCHOR_DATE)
    start = 40.0 + rng.random() * 160.0
    s = _Candles(rng, symbol, dates, start)
    s.black(start)
    plant_at = {dates.index(p.date) - PLANTERS[p.pattern][0] + 1: p for p in plants}
    while len(s.rows) < days:
        plant = plant_at.get(len(s.rows))
        if plant is not None:
            PLANTERS[plant.pattern][1](s)
        else:
            s.black(s.base_open())
    return s.rows[:days]


# ---- the scenarios ---------------------------------------------------------------------------

def _d(iso: str) -> date:
    return date.fromisoformat(iso)


SCENARIOS: dict[str, ScenarioSpec] = {spec.name: spec for spec in (
    ScenarioSpec("crash_2020", "TEST_CRASH_2020", 252,
                 "calm rise, then a 40 % crash in 23 days and a slow recovery (max drawdown >= 30 %)",
                 build=_path_builder([(69, 1.12, 0.008), (23, 0.60, 0.025), (159, 1.45, 0.015)])),
    ScenarioSpec("growth_2021", "TEST_GROWTH_2021", 252,
                 "steady growth with a shallow pull-back (total return about +30 %)",
                 build=_path_builder([(80, 1.10, 0.010), (40, 0.97, 0.012), (131, 1.22, 0.009)])),
    ScenarioSpec("volatility_periods", "TEST_VOLATILITY", 126,
                 "21-day windows alternating calm (0.4 % daily) and volatile (3.5 % daily)",
                 build=_path_builder([(20, 1.01, 0.004), (21, 0.97, 0.035), (21, 1.01, 0.004),
                                      (21, 1.04, 0.035), (21, 1.00, 0.004), (21, 0.98, 0.035)])),
    ScenarioSpec("trend_changes", "TEST_TREND_CHANGES", 189,
                 "47-day legs: up, down, sideways, up",
                 build=_path_builder([(47, 1.15, 0.010), (47, 0.88, 0.010), (47, 1.00, 0.008),
                                      (47, 1.10, 0.010)])),
    ScenarioSpec("high_low_events", "TEST_HIGH_LOW", 63,
                 "new highs, then new lows below the start, then new highs above the first peak",
                 build=_path_builder([(15, 1.10, 0.010), (20, 0.82, 0.012), (27, 1.30, 0.012)])),
    ScenarioSpec("candlestick_patterns", "TEST_PATTERNS", 126,
                 "pattern-free base series with a planted hammer, bullish engulfing, doji and "
                 "morning star, each flagged by TA-Lib exactly on its date",
                 planted=(Plant("hammer", _d("2026-06-19")),
                          Plant("bullish_engulfing", _d("2026-07-24")),
                          Plant("doji", _d("2026-08-28")),
                          Plant("morning_star", _d("2026-10-02"))),
                 build=_pattern_builder),
    ScenarioSpec("pattern_control", "TEST_CONTROL", 126,
                 "the same kind of base series without plants: TA-Lib flags none of the four "
                 "patterns on any date",
                 build=_pattern_builder),
)}


def outcome_of(rows: list[Bar], plants: tuple[Plant, ...] = ()) -> dict:
    """What a series states about itself, computed from its (rounded) rows."""
    closes = [float(b.close) for b in rows]
    peak, drawdown = closes[0], 0.0
    for c in closes:
        peak = max(peak, c)
        drawdown = max(drawdown, 1 - c / peak)
    return {"days": len(rows), "first_date": rows[0].date.isoformat(),
            "last_date": rows[-1].date.isoformat(), "total_return": closes[-1] / closes[0] - 1,
            "max_drawdown": drawdown, "planted": [p.as_dict() for p in plants]}


def generate(name: str, symbol: str | None = None) -> GeneratedSeries:
    """The scenario's rows for ``symbol`` (default: the scenario's own TEST_ symbol) and their
    stated outcome. Raises KeyError for an unknown scenario."""
    spec = SCENARIOS[name]
    symbol = symbol or spec.symbol
    rows = spec.build(random.Random(_seed(name, symbol)), symbol, spec.days, spec.planted)
    return GeneratedSeries(name, symbol, rows, outcome_of(rows, spec.planted))


def rows_digest(rows: list[Bar]) -> str:
    """SHA-256 of the rows in a canonical text form (4 decimals), to compare across machines."""
    text = "".join(f"{b.symbol},{b.date.isoformat()},{b.open:.4f},{b.high:.4f},{b.low:.4f},"
                   f"{b.close:.4f},{b.volume}\n" for b in rows)
    return hashlib.sha256(text.encode()).hexdigest()
