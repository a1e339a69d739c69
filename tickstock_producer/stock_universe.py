"""StockUniverseMaintainer: TickStockPL's stock-universe maintenance (market-cap tier universes).

Each round recalculates the market caps of a set of stock symbols (deterministic per round in
this reference producer, standing in for the real recalculation), upserts them into ``symbols``
and rewrites the tier universes (``cache_entries`` rows of type ``stock_universe``,
``universe_category = 'STOCK'``) — symbols and universes in one transaction, as a sync task
would. Tiers: large ``>= 10e9``, mid ``2e9 .. 10e9``, small ``300e6 .. 2e9`` (USD).

The names are parameters so a test deployment can keep the maintained data inside its own
namespace (the acceptance suite uses ``TEST_STK`` symbols and ``test_`` universes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg2
from psycopg2.extras import Json

TIERS = (("large_cap", 10e9, None), ("mid_cap", 2e9, 10e9), ("small_cap", 300e6, 2e9))


def tier_universes(market_caps: dict[str, float], prefix: str = "") -> dict[str, list[str]]:
    return {prefix + name: sorted(s for s, cap in market_caps.items()
                                  if cap >= lo and (hi is None or cap < hi))
            for name, lo, hi in TIERS}


def market_caps(symbols: list[str], round_no: int) -> dict[str, float]:
    """The round's recalculated caps (deterministic: the same round gives the same caps)."""
    return {s: 200e6 * (1 + ((i * 7 + round_no * 13) % 90)) for i, s in enumerate(symbols)}


@dataclass
class MaintenanceReport:
    rounds: int = 0
    errors: list[str] = field(default_factory=list)
    round_windows: list[tuple[float, float]] = field(default_factory=list)  # wall clock, epoch s


class StockUniverseMaintainer:
    def __init__(self, connect: Callable[[], psycopg2.extensions.connection], symbol_prefix: str = "STK",
                 symbol_count: int = 60, universe_prefix: str = "") -> None:
        self.connect = connect
        self.symbols = [f"{symbol_prefix}{i:03d}" for i in range(symbol_count)]
        self.universe_prefix = universe_prefix

    def _round(self, conn, n: int) -> None:
        caps = market_caps(self.symbols, n)
        with conn, conn.cursor() as cur:  # one transaction per round
            cur.executemany("""INSERT INTO symbols (symbol, name, type, active, market_cap)
                               VALUES (%s, %s, 'CS', true, %s)
                               ON CONFLICT (symbol) DO UPDATE
                                  SET market_cap = EXCLUDED.market_cap, updated_at = now()""",
                            [(s, f"Stock {s}", cap) for s, cap in caps.items()])
            for name, members in tier_universes(caps, self.universe_prefix).items():
                cur.execute("""INSERT INTO cache_entries (type, name, key, value, universe_category)
                               VALUES ('stock_universe', %s, %s, %s, 'STOCK')
                               ON CONFLICT (type, name, key, environment) DO UPDATE
                                  SET value = EXCLUDED.value, updated_at = now(),
                                      last_universe_update = now()""",
                            (name, name, Json({"symbols": members})))

    def run(self, should_stop: Callable[[], bool], max_seconds: float) -> MaintenanceReport:
        """Rewrite rounds back to back until ``should_stop()`` or ``max_seconds`` pass."""
        report = MaintenanceReport()
        deadline = time.monotonic() + max_seconds
        conn = self.connect()
        try:
            while not should_stop() and time.monotonic() < deadline:
                started = time.time()
                try:
                    self._round(conn, report.rounds)
                    report.round_windows.append((started, time.time()))
                except psycopg2.Error as exc:
                    report.errors.append((str(exc).strip().splitlines() or [type(exc).__name__])[0])
                report.rounds += 1
        finally:
            conn.close()
        return report
