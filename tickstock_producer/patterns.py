"""The pattern detector: TA-Lib candlestick patterns over loaded daily bars, one event per hit.

For each requested symbol the detector reads its daily bars ordered by date — from
``synthetic.ohlcv_daily`` for ``TEST_`` symbols (the isolated storage of
``contract/reference/scenarios.json``; the scenario comes from ``synthetic.symbols.scenario``) and
from ``public.ohlcv_daily`` for every other symbol — and runs four TA-Lib functions over the
series (numpy float64 open/high/low/close arrays, TA-Lib's default parameters):

=====================  ================  ====================================
pattern                TA-Lib function   counted as a hit
=====================  ================  ====================================
``hammer``             CDLHAMMER         signal != 0 (TA-Lib gives +100)
``bullish_engulfing``  CDLENGULFING      signal == +100 only (-100 is bearish)
``doji``               CDLDOJI           signal != 0 (TA-Lib gives +100)
``morning_star``       CDLMORNINGSTAR    signal != 0 (TA-Lib gives +100)
=====================  ================  ====================================

A hit is dated by the bar TA-Lib flags (the last candle of a multi-candle pattern). Every hit
becomes ONE ``pattern_detected`` event on ``tickstock.patterns.detected`` (through the
``EventPublisher``: schema-validated, pub-sub + bounded stream), all hits of one ``detect`` call
oldest first (date, then symbol, then the table's order). data = ``{symbol, pattern,
talib_function, signal, date (YYYY-MM-DD), synthetic, scenario}``: ``synthetic`` is true exactly
for symbols read from the synthetic schema, and ``scenario`` then names the scenario that
generated them (null otherwise), so production consumers can tell test data apart.

Reading (``read_bars``) is separate from detection (``detect_in_rows``, a pure function of the
rows), so the rules are tested without a database.

``detect(symbols)`` returns a ``DetectionReport``; ``as_dict()`` is what the CLI prints:
``{producer_id, published_count, symbols, detections: [{symbol, pattern, date}], missing,
errors}``. ``missing`` lists requested symbols without any bar; ``errors`` says what failed (an
event that does not match its schema). The CLI (``detect-patterns``) exits 1 when ``missing`` or
``errors`` is non-empty; database and Redis errors propagate (the CLI maps them to exit 3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import talib

from .events import InvalidEvent

SYNTHETIC_PREFIX = "TEST_"

# pattern → (TA-Lib function name, which signals count as a hit: None = any non-zero)
PATTERNS: dict[str, tuple[str, int | None]] = {
    "hammer": ("CDLHAMMER", None),
    "bullish_engulfing": ("CDLENGULFING", 100),
    "doji": ("CDLDOJI", None),
    "morning_star": ("CDLMORNINGSTAR", None),
}
PATTERN_ORDER = {name: i for i, name in enumerate(PATTERNS)}


@dataclass(frozen=True)
class Hit:
    symbol: str
    pattern: str
    talib_function: str
    signal: int
    date: str  # YYYY-MM-DD


def is_synthetic(symbol: str) -> bool:
    return symbol.startswith(SYNTHETIC_PREFIX)


def _day(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def detect_in_rows(symbol: str, rows: Sequence[Sequence]) -> list[Hit]:
    """The four patterns' hits in ``rows`` = ``(date, open, high, low, close, ...)`` ordered by date.

    Prices may be Decimal (NUMERIC columns) or None (read as NaN: TA-Lib flags nothing there).
    Hits come oldest first, the table's order within one date.
    """
    if not rows:
        return []
    columns = [np.array([np.nan if r[i] is None else float(r[i]) for r in rows], dtype=np.float64)
               for i in range(1, 5)]
    days = [_day(r[0]) for r in rows]
    hits: list[Hit] = []
    for pattern, (function, wanted) in PATTERNS.items():
        signals = getattr(talib, function)(*columns)
        for i in np.flatnonzero(signals):
            signal = int(signals[i])
            if wanted is None or signal == wanted:
                hits.append(Hit(symbol, pattern, function, signal, days[i]))
    hits.sort(key=lambda h: (h.date, PATTERN_ORDER[h.pattern]))
    return hits


@dataclass
class DetectionReport:
    producer_id: str
    published_count: int = 0
    symbols: int = 0
    detections: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"producer_id": self.producer_id, "published_count": self.published_count,
                "symbols": self.symbols, "detections": list(self.detections),
                "missing": list(self.missing), "errors": list(self.errors)}


_SYNTHETIC_BARS = """
    SELECT b.symbol, b.date, b.open, b.high, b.low, b.close, b.volume, s.scenario
    FROM synthetic.ohlcv_daily b JOIN synthetic.symbols s ON s.symbol = b.symbol
    WHERE b.symbol = ANY(%s) ORDER BY b.symbol, b.date"""
_PRODUCTION_BARS = """
    SELECT symbol, date, open, high, low, close, volume, NULL
    FROM public.ohlcv_daily WHERE symbol = ANY(%s) ORDER BY symbol, date"""


@dataclass
class SymbolBars:
    symbol: str
    synthetic: bool
    scenario: str | None
    rows: list[tuple] = field(default_factory=list)  # (date, open, high, low, close, volume)


class PatternDetector:
    """Reads daily bars, detects the four patterns, publishes one event per hit (module docstring)."""

    def __init__(self, connect: Callable, publisher) -> None:
        self.connect = connect
        self.publisher = publisher

    def read_bars(self, symbols: Iterable[str]) -> dict[str, SymbolBars]:
        """symbol → its bars (ordered by date) for every requested symbol that has any."""
        symbols = list(dict.fromkeys(symbols))
        synthetic = [s for s in symbols if is_synthetic(s)]
        production = [s for s in symbols if not is_synthetic(s)]
        found: dict[str, SymbolBars] = {}
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                for query, wanted, is_test in ((_SYNTHETIC_BARS, synthetic, True),
                                              (_PRODUCTION_BARS, production, False)):
                    if not wanted:
                        continue
                    cur.execute(query, (wanted,))
                    for sym, day, o, h, lo, c, v, scenario in cur.fetchall():
                        bars = found.get(sym)
                        if bars is None:
                            bars = found[sym] = SymbolBars(sym, is_test, scenario)
                        bars.rows.append((day, o, h, lo, c, v))
        finally:
            conn.close()
        return found

    def detect(self, symbols: list[str]) -> DetectionReport:
        symbols = list(dict.fromkeys(symbols))
        report = DetectionReport(producer_id=getattr(self.publisher, "producer_id", ""),
                                 symbols=len(symbols))
        bars = self.read_bars(symbols)
        report.missing = [s for s in symbols if s not in bars]
        hits: list[tuple[Hit, SymbolBars]] = []
        for sym in symbols:
            if sym in bars:
                hits.extend((hit, bars[sym]) for hit in detect_in_rows(sym, bars[sym].rows))
        hits.sort(key=lambda hb: (hb[0].date, hb[0].symbol, PATTERN_ORDER[hb[0].pattern]))
        for hit, source in hits:
            data = {"symbol": hit.symbol, "pattern": hit.pattern, "talib_function": hit.talib_function,
                    "signal": hit.signal, "date": hit.date, "synthetic": source.synthetic,
                    "scenario": source.scenario if source.synthetic else None}
            try:
                self.publisher.publish("pattern_detected", data)
            except InvalidEvent as exc:
                report.errors.append(str(exc))
                continue
            report.published_count += 1
            report.detections.append({"symbol": hit.symbol, "pattern": hit.pattern, "date": hit.date})
        return report
