"""Stock universe maintenance beside ETF universe queries: neither disturbs the other.

``StockUniverseMaintenance`` runs the producer's own stock-universe maintenance
(``maintain-stock-universes``: a separate process writing ``TEST_STK`` symbols and ``test_`` tier
universes as the producer role, round after round) in the background. The oracle of the tier
universes is the suite's own statement of the market-cap tiers, never the producer's code.
"""

from __future__ import annotations

from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.etf_universes import EtfUniverseStore
from tickstock_acceptance.sut.producer import BackgroundCommand, ProducerRun, producer_for

STOCK_SYMBOL_PREFIX, STOCK_SYMBOL_COUNT, STOCK_UNIVERSE_PREFIX = "TEST_STK", 60, "test_"
# The spec's market-cap tiers: large ≥ 10e9, mid 2e9–10e9, small 300e6–2e9.
TIERS = (("test_large_cap", 10e9, None), ("test_mid_cap", 2e9, 10e9), ("test_small_cap", 300e6, 2e9))


def stock_universes(market_caps: dict[str, float]) -> dict[str, list[str]]:
    """The market-cap tier universes for the given caps (the oracle)."""
    return {name: sorted(s for s, cap in market_caps.items() if cap >= lo and (hi is None or cap < hi))
            for name, lo, hi in TIERS}


def overlapping(windows: list[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """The windows that overlap [start, end] (wall clock)."""
    return [w for w in windows if w[0] <= end and w[1] >= start]


class StockUniverseMaintenance:
    """The producer's stock-universe maintenance, run as its own process in the background."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.command = BackgroundCommand(producer_for(system), "maintain-stock-universes",
                                         "--symbol-prefix", STOCK_SYMBOL_PREFIX,
                                         "--symbols", str(STOCK_SYMBOL_COUNT),
                                         "--universe-prefix", STOCK_UNIVERSE_PREFIX)

    def _rewritten_since(self, mark) -> bool:
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT count(*) FROM cache_entries
                           WHERE type = 'stock_universe' AND name = ANY(%s)
                             AND updated_at >= %s""", ([t[0] for t in TIERS], mark))
            return cur.fetchone()[0] == len(TIERS)

    def start(self) -> StockUniverseMaintenance:
        """Returns once the process has committed its first round (seen in the database)."""
        mark = EtfUniverseStore(self.system).db_now()
        self.command.start(lambda: self._rewritten_since(mark), "the producer's first stock universe rewrite")
        return self

    def stop(self) -> ProducerRun | None:
        return self.command.stop()

    @property
    def round_windows(self) -> list[tuple[float, float]]:
        run = self.command.run
        return [tuple(w) for w in (run.report.get("round_windows", []) if run else [])]

    def problems(self, query_window: tuple[float, float], min_overlapping: int) -> list[str]:
        """The maintenance ran cleanly, and at least ``min_overlapping`` of its rewrites overlapped
        the query window."""
        run = self.stop()
        if run.returncode != 0:
            return [f"stock universe maintenance failed: {run.describe()}"]
        problems = [f"a stock universe rewrite failed: {e}" for e in run.report.get("errors") or []]
        n = len(overlapping(self.round_windows, *query_window))
        if n < min_overlapping:
            problems.append(f"{n} of {len(self.round_windows)} rewrites overlapped the queries, "
                            f"need {min_overlapping}")
        return problems

    def stored_universes(self) -> dict[str, list[str]]:
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT name, value->'symbols' FROM cache_entries
                           WHERE type = 'stock_universe' AND name = ANY(%s)""", ([t[0] for t in TIERS],))
            return {r[0]: r[1] for r in cur.fetchall()}

    def stored_market_caps(self) -> dict[str, float]:
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("SELECT symbol, market_cap FROM symbols WHERE symbol LIKE %s",
                        (STOCK_SYMBOL_PREFIX.replace("_", "\\_") + "%",))
            return {r[0]: float(r[1]) for r in cur.fetchall()}

    def tier_problems(self) -> list[str]:
        """The stored tier universes are what the stored market caps imply."""
        caps = self.stored_market_caps()
        if len(caps) != STOCK_SYMBOL_COUNT:
            return [f"{len(caps)} maintained stock symbols, expected {STOCK_SYMBOL_COUNT}"]
        stored, want = self.stored_universes(), stock_universes(caps)
        return [f"{name}: stored {stored.get(name)}, the market caps imply {members}"
                for name, members in want.items() if stored.get(name) != members]
