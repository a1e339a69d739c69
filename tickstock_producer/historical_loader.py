"""Historical loader: daily OHLCV for the ETF universe members, from a deterministic local source.

No network. ``synthetic_bars(symbol, days)`` derives a seeded random walk from the symbol name
(SHA-256), so the same symbol always gets the same bars on any machine. Dates are the ``days``
weekdays ending at ``ANCHOR_DATE`` (a fixed Friday), so runs are reproducible. Every bar is valid
OHLC (low <= open, close <= high) as ``ohlcv_daily``'s CHECK constraint demands.

``load_etf_universes()`` reads the members of every ETF universe (``get_etf_universe``), registers
them in ``symbols`` as type ``ETF`` (active, name from the universe's symbol facts), and upserts
their bars into ``ohlcv_daily`` — all as the producer role, in one transaction.

``load_scenario(name, symbols)`` is the scenario mode: it generates a test scenario
(``scenarios.py``; ``name`` may be ``all``) and loads it into the separate schema ``synthetic``
(``synthetic.symbols`` as type TEST with the scenario's name, ``synthetic.ohlcv_daily``,
``synthetic.scenario_outcomes``), never into the production tables, in one transaction that first
deletes the symbols' earlier synthetic rows, so reloading replaces them. Generation and loading are
timed separately.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import psycopg2
from psycopg2.extras import Json, execute_values

ANCHOR_DATE = date(2026, 10, 30)  # a Friday


def trading_days(days: int, end: date = ANCHOR_DATE) -> list[date]:
    """The last ``days`` weekdays up to and including ``end``, oldest first."""
    out: list[date] = []
    d = end
    while len(out) < days:
        if d.weekday() < 5:
            out.append(d)
        d -= timedelta(days=1)
    return out[::-1]


def synthetic_bars(symbol: str, days: int) -> list[tuple]:
    """(symbol, date, open, high, low, close, volume) rows, deterministic per symbol."""
    seed = int.from_bytes(hashlib.sha256(symbol.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    price = 20.0 + rng.random() * 380.0
    rows = []
    for d in trading_days(days):
        open_ = price * (1 + rng.gauss(0, 0.004))
        close = open_ * (1 + rng.gauss(0, 0.012))
        high = max(open_, close) * (1 + abs(rng.gauss(0, 0.006)))
        low = min(open_, close) * (1 - abs(rng.gauss(0, 0.006)))
        volume = int(50_000 + rng.random() * 5_000_000)
        rows.append((symbol, d, round(open_, 4), round(high, 4), round(low, 4), round(close, 4), volume))
        price = close
    return rows


@dataclass
class LoadReport:
    universes: int
    symbols: int
    bars: int
    elapsed_s: float


SYMBOL_PATTERN = re.compile(r"^[A-Z0-9_.]{1,20}$")
TEST_PREFIX = "TEST_"
ALL_SCENARIOS = "all"


class ScenarioTargetError(ValueError):
    """A scenario load that must not run (unknown scenario, bad or non-test symbol); one line."""


@dataclass
class ScenarioLoad:
    scenario: str
    symbols: list[str]
    rows: int
    generation_s: float
    loading_s: float
    stated: dict[str, dict] = field(default_factory=dict)  # symbol -> outcome


@dataclass
class ScenarioLoadReport:
    scenarios: list[ScenarioLoad]
    rows: int
    generation_s: float  # generating every series (sum over scenarios)
    loading_s: float     # the database part: connect, delete, insert, commit
    elapsed_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def check_symbol(symbol: str) -> str | None:
    """Why ``symbol`` is not a valid symbol, or None."""
    if not SYMBOL_PATTERN.match(symbol):
        return f"bad symbol {symbol!r} (expected 1-20 of A-Z 0-9 _ .)"
    return None


def scenario_targets(name: str, symbols: list[str] | None = None) -> list[tuple[str, list[str]]]:
    """(scenario, symbols) pairs to load; raises ScenarioTargetError for what must not be loaded.

    ``name`` is a scenario or ``all`` (every scenario with its own symbol; no ``symbols`` then);
    without ``symbols`` a scenario goes to its default TEST_ symbol."""
    from .scenarios import SCENARIOS  # here: scenarios imports this module

    if name == ALL_SCENARIOS:
        if symbols:
            raise ScenarioTargetError("--symbols cannot be used with --scenario all "
                                      "(every scenario goes to its own TEST_ symbol)")
        return [(spec.name, [spec.symbol]) for spec in SCENARIOS.values()]
    if name not in SCENARIOS:
        raise ScenarioTargetError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)}, "
                                  f"{ALL_SCENARIOS})")
    if not symbols:
        return [(name, [SCENARIOS[name].symbol])]
    for sym in symbols:
        problem = check_symbol(sym)
        if problem:
            raise ScenarioTargetError(problem)
        if not sym.startswith(TEST_PREFIX):
            raise ScenarioTargetError(f"{sym} is not a test symbol: synthetic data goes only to "
                                      f"{TEST_PREFIX} symbols")
    return [(name, list(dict.fromkeys(symbols)))]


class HistoricalLoader:
    def __init__(self, connect: Callable[[], psycopg2.extensions.connection]) -> None:
        self.connect = connect

    def etf_members(self, conn) -> dict[str, dict]:
        """symbol → {name, theme} for every member of every ETF universe."""
        members: dict[str, dict] = {}
        with conn.cursor() as cur:
            cur.execute("""SELECT name FROM cache_entries
                           WHERE type = 'etf_universe' AND universe_category = 'ETF'
                           ORDER BY name""")
            themes = [r[0] for r in cur.fetchall()]
            for theme in themes:
                cur.execute("SELECT get_etf_universe(%s, false)", (theme,))
                universe = cur.fetchone()[0]
                facts = ((universe.get("metadata") or {}).get("symbol_facts") or {})
                for sym in universe.get("symbols", []):
                    members.setdefault(sym, {"name": (facts.get(sym) or {}).get("name") or sym,
                                             "theme": theme})
        return members

    def load_etf_universes(self, days: int = 30) -> LoadReport:
        t0 = time.perf_counter()
        conn = self.connect()
        try:
            with conn:
                members = self.etf_members(conn)
                self.register_symbols(conn, members)
                bars = self.load_bars(conn, sorted(members), days)
            universes = len({m["theme"] for m in members.values()})
        finally:
            conn.close()
        return LoadReport(universes, len(members), bars, time.perf_counter() - t0)

    @staticmethod
    def register_symbols(conn, members: dict[str, dict]) -> None:
        rows = [(sym, m["name"], "ETF", True, m["theme"]) for sym, m in sorted(members.items())]
        with conn.cursor() as cur:
            execute_values(cur, """
                INSERT INTO symbols (symbol, name, type, active, sector) VALUES %s
                ON CONFLICT (symbol) DO UPDATE
                   SET name = EXCLUDED.name, type = 'ETF', active = true,
                       sector = EXCLUDED.sector, updated_at = now()""", rows, page_size=500)

    @staticmethod
    def load_bars(conn, symbols: Iterable[str], days: int) -> int:
        rows = [bar for sym in symbols for bar in synthetic_bars(sym, days)]
        with conn.cursor() as cur:
            execute_values(cur, """
                INSERT INTO ohlcv_daily (symbol, date, open, high, low, close, volume) VALUES %s
                ON CONFLICT (symbol, date) DO UPDATE
                   SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
                       close = EXCLUDED.close, volume = EXCLUDED.volume""", rows, page_size=2000)
        return len(rows)

    # ---- scenario mode ---------------------------------------------------------------------

    def scenario_specs(self) -> dict:
        """The scenarios this loader generates (name → ScenarioSpec)."""
        from .scenarios import SCENARIOS

        return dict(SCENARIOS)

    def generate(self, name: str, symbol: str):
        """One scenario's series for one symbol (variants override this)."""
        from .scenarios import generate

        return generate(name, symbol)

    def load_scenario(self, name: str, symbols: list[str] | None = None) -> ScenarioLoadReport:
        """Generate ``name`` (or ``all``) and load it into ``synthetic.*`` in one transaction."""
        t0 = time.perf_counter()
        targets = scenario_targets(name, symbols)  # raises before anything is touched
        loads: list[tuple[ScenarioLoad, list]] = []
        for scenario, syms in targets:
            g0 = time.perf_counter()
            series = [self.generate(scenario, sym) for sym in syms]
            load = ScenarioLoad(scenario, syms, sum(len(s.rows) for s in series),
                                time.perf_counter() - g0, 0.0, {s.symbol: s.outcome for s in series})
            loads.append((load, series))
        l0 = time.perf_counter()
        conn = self.connect()
        try:
            with conn:
                for load, series in loads:
                    s0 = time.perf_counter()
                    self.write_scenario(conn, load.scenario, series)
                    load.loading_s = time.perf_counter() - s0
        finally:
            conn.close()
        loading_s = time.perf_counter() - l0
        return ScenarioLoadReport([load for load, _ in loads], sum(load.rows for load, _ in loads),
                                  sum(load.generation_s for load, _ in loads), loading_s,
                                  time.perf_counter() - t0)

    @staticmethod
    def write_scenario(conn, scenario: str, series: list) -> None:
        """Replace the series' symbols' synthetic rows (symbol, bars, stated outcome)."""
        symbols = [s.symbol for s in series]
        with conn.cursor() as cur:
            cur.execute("DELETE FROM synthetic.scenario_outcomes WHERE symbol = ANY(%s)", (symbols,))
            cur.execute("DELETE FROM synthetic.symbols WHERE symbol = ANY(%s)", (symbols,))  # bars cascade
            execute_values(cur, "INSERT INTO synthetic.symbols (symbol, name, type, scenario) VALUES %s",
                           [(sym, f"Synthetic {scenario}", "TEST", scenario) for sym in symbols])
            execute_values(cur, """INSERT INTO synthetic.ohlcv_daily
                                   (symbol, date, open, high, low, close, volume) VALUES %s""",
                           [tuple(row) for s in series for row in s.rows], page_size=2000)
            execute_values(cur, """INSERT INTO synthetic.scenario_outcomes (scenario, symbol, stated)
                                   VALUES %s""",
                           [(scenario, s.symbol, Json(s.outcome)) for s in series])
