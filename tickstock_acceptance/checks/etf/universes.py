"""Checks of the ETF universes as TickStockApp sees them (database functions, as the consumer role).

Every read goes through the Phase 3 functions as ``app_readwrite``; the one write
(``update_etf_universe`` on a ``test_`` theme) goes as the producer role, as TickStockPL would.
Times are measured on the monotonic clock around the call (query + fetch).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from psycopg2.extras import Json

from tickstock_acceptance.infra.system import AcceptanceSystem


@dataclass
class Timed:
    value: object
    ms: float


def _timed(conn, sql: str, args=(), many: bool = False) -> Timed:
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(sql, args)
        value = cur.fetchall() if many else cur.fetchone()[0]
    return Timed(value, (time.perf_counter() - t0) * 1000.0)


def filter_misses(facts: dict | None, liquidity_filter: dict | None) -> list[str]:
    """Thresholds of ``liquidity_filter`` that ``facts`` do not meet (missing facts miss)."""
    misses = []
    for key, fact in (("min_aum", "aum"), ("min_avg_volume", "avg_volume")):
        limit = (liquidity_filter or {}).get(key)
        if limit is None:
            continue
        value = (facts or {}).get(fact)
        if not isinstance(value, int | float) or value < limit:
            misses.append(f"{fact}={value} < {key}={limit:g}")
    return misses


# Test data for the read-time liquidity filter (ETF-4): members that pass (one exactly at both
# thresholds), miss on AUM, miss on volume, and one with no stored facts at all.
FILTER_PROBE = {
    "liquidity_filter": {"min_aum": 1_000_000_000, "min_avg_volume": 1_000_000},
    "symbols": ["SPY", "QQQ", "IWM", "DIA", "VTI"],
    "symbol_facts": {"SPY": {"aum": 5e11, "avg_volume": 7e7},
                     "QQQ": {"aum": 1_000_000_000, "avg_volume": 1_000_000},
                     "IWM": {"aum": 5e8, "avg_volume": 3e7},
                     "DIA": {"aum": 3e10, "avg_volume": 2e5}},
}


class EtfUniverseChecks:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system

    # -- reads as TickStockApp ------------------------------------------------------------
    def themes(self) -> list[str]:
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT name FROM cache_entries
                           WHERE type = 'etf_universe' AND universe_category = 'ETF'
                             AND name NOT LIKE 'test\\_%' ORDER BY name""")
            return [r[0] for r in cur.fetchall()]

    def universe(self, theme: str, apply_filter: bool = False) -> Timed:
        with self.system.session("consumer") as conn:
            return _timed(conn, "SELECT get_etf_universe(%s, %s)", (theme, apply_filter))

    def summary(self) -> Timed:
        with self.system.session("consumer") as conn:
            t = _timed(conn, """SELECT theme, symbol_count, last_updated, focus, criteria, symbols_sample
                                FROM get_etf_universes_summary()""", many=True)
        cols = ("theme", "symbol_count", "last_updated", "focus", "criteria", "symbols_sample")
        t.value = [dict(zip(cols, r, strict=True)) for r in t.value]
        return t

    def validation(self) -> Timed:
        with self.system.session("consumer") as conn:
            t = _timed(conn, """SELECT universe_key, symbol, exists_in_symbols, symbol_type, active_status
                                FROM validate_etf_universe_symbols()""", many=True)
        cols = ("universe_key", "symbol", "exists_in_symbols", "symbol_type", "active_status")
        t.value = [dict(zip(cols, r, strict=True)) for r in t.value]
        return t

    def universe_names(self) -> set[str]:
        """Every ETF universe in the database, test ones included."""
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("SELECT name FROM cache_entries WHERE type = 'etf_universe'")
            return {r[0] for r in cur.fetchall()}

    def db_now(self):
        """The database's clock (a mark to compare last_universe_update against)."""
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("SELECT now()")
            return cur.fetchone()[0]

    def universes_updated_since(self, mark) -> list[str]:
        """ETF universes whose last_universe_update is at or after ``mark`` (a timestamptz)."""
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT name FROM cache_entries
                           WHERE type = 'etf_universe'
                             AND last_universe_update >= (%s::timestamptz)::timestamp
                           ORDER BY name""", (mark,))
            return [r[0] for r in cur.fetchall()]

    def members(self) -> dict[str, list[str]]:
        """theme → symbols of every (non-test) ETF universe, read with get_etf_universe."""
        return {t: self.universe(t).value["symbols"] for t in self.themes()}

    def bars_per_symbol(self, symbols: list[str]) -> dict[str, int]:
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT s, count(o.symbol) FROM unnest(%s::text[]) AS s
                           LEFT JOIN ohlcv_daily o ON o.symbol = s GROUP BY s""", (symbols,))
            return {r[0]: r[1] for r in cur.fetchall()}

    def liquidity_violations(self) -> dict[str, list[str]]:
        """theme → members that miss the theme's stored filter (or themes with no filter stored)."""
        out: dict[str, list[str]] = {}
        for theme in self.themes():
            u = self.universe(theme).value
            flt = u.get("liquidity_filter")
            if not isinstance(flt, dict) or not flt:
                out[theme] = ["no liquidity_filter stored"]
                continue
            facts = (u.get("metadata") or {}).get("symbol_facts") or {}
            bad = [f"{s}: {', '.join(m)}" for s in u["symbols"] if (m := filter_misses(facts.get(s), flt))]
            filtered = self.universe(theme, apply_filter=True).value
            if filtered.get("filtered_out_count"):
                bad.append(f"get_etf_universe(apply filter) drops {filtered['filtered_out']}")
            if bad:
                out[theme] = bad
        return out

    # -- the producer's write path (test themes only) ---------------------------------------
    def update_as_producer(self, theme: str, symbols: list[str], metadata: dict | None = None) -> Timed:
        if not theme.startswith("test_"):
            raise ValueError("the suite writes only test_ themes")
        with self.system.session("producer") as conn:
            return _timed(conn, "SELECT update_etf_universe(%s, %s, %s)",
                          (theme, Json(symbols), Json(metadata or {})))

    def write_filter_probe(self, theme: str) -> dict:
        """A ``test_`` universe (written as the producer role) whose stored facts put some members
        below its liquidity filter and leave one without facts; returns what was written."""
        data = dict(FILTER_PROBE, symbol_facts=dict(FILTER_PROBE["symbol_facts"]))
        self.update_as_producer(theme, data["symbols"], {"liquidity_filter": data["liquidity_filter"],
                                                         "symbol_facts": data["symbol_facts"]})
        return data

    def delete_test_universe(self, theme: str) -> None:
        """Remove a ``test_`` universe left by an earlier scenario (as the producer role)."""
        if not theme.startswith("test_"):
            raise ValueError("the suite deletes only test_ themes")
        with self.system.session("producer") as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM cache_entries WHERE type = 'etf_universe' AND name = %s", (theme,))


class SchemaCompatibility:
    """ETF-1: the Phase 3 columns/indexes as the catalog describes them, and legacy access."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system

    def columns(self, table: str = "cache_entries") -> dict[str, dict]:
        """column → {type, default, position} (type as format_type prints it)."""
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT a.attname, format_type(a.atttypid, a.atttypmod),
                                  pg_get_expr(d.adbin, d.adrelid), a.attnum
                           FROM pg_attribute a
                           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                           WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0
                             AND NOT a.attisdropped""", (table,))
            return {r[0]: {"type": r[1], "default": r[2] or "", "position": r[3]} for r in cur.fetchall()}

    def index_definitions(self, table: str = "cache_entries") -> dict[str, str]:
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT indexname, indexdef FROM pg_indexes
                           WHERE schemaname = current_schema() AND tablename = %s""", (table,))
            return dict(cur.fetchall())

    def legacy_read(self, theme: str) -> list[str] | None:
        """The members a pre-Phase-3 reader sees: value->'symbols' selected by (type, name, key)."""
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT value FROM cache_entries
                           WHERE type = 'etf_universe' AND name = %s AND key = %s""",
                        (theme, f"etf_{theme}"))
            row = cur.fetchone()
            return None if row is None else row[0].get("symbols")

    def legacy_write(self) -> tuple:
        """A pre-Phase-3 INSERT (legacy columns only) as the producer; returns the new columns."""
        with self.system.session("producer") as conn, conn.cursor() as cur:
            cur.execute("""INSERT INTO cache_entries (type, name, key, value)
                           VALUES ('legacy_check', 'test_legacy_writer', 'test_legacy_writer',
                                   '{"symbols": ["SPY"]}')
                           ON CONFLICT (type, name, key, environment)
                              DO UPDATE SET value = EXCLUDED.value
                           RETURNING universe_category, liquidity_filter, universe_metadata,
                                     last_universe_update IS NOT NULL""")
            return tuple(cur.fetchone())
