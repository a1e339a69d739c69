"""Historical loader: daily OHLCV for the ETF universe members, from a deterministic local source.

No network. ``synthetic_bars(symbol, days)`` derives a seeded random walk from the symbol name
(SHA-256), so the same symbol always gets the same bars on any machine. Dates are the ``days``
weekdays ending at ``ANCHOR_DATE`` (a fixed Friday), so runs are reproducible. Every bar is valid
OHLC (low <= open, close <= high) as ``ohlcv_daily``'s CHECK constraint demands.

``load_etf_universes()`` reads the members of every ETF universe (``get_etf_universe``), registers
them in ``symbols`` as type ``ETF`` (active, name from the universe's symbol facts), and upserts
their bars into ``ohlcv_daily`` — all as the producer role, in one transaction.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import psycopg2
from psycopg2.extras import execute_values

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
