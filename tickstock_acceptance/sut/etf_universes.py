"""The ETF universes in the database, as TickStockApp reads them and TickStockPL writes them.

Every read goes through the Phase 3 functions (or plain SQL a legacy reader would use) as the
consumer role ``app_readwrite``; the writes (``update_etf_universe`` on ``test_`` themes, and their
removal) go as the producer role, as TickStockPL would. Times are measured on the monotonic clock
around the call (query + fetch).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from psycopg2.extras import Json

from tickstock_acceptance.infra.system import AcceptanceSystem

SUMMARY_COLUMNS = ("theme", "symbol_count", "last_updated", "focus", "criteria", "symbols_sample")
VALIDATION_COLUMNS = ("universe_key", "symbol", "exists_in_symbols", "symbol_type", "active_status")
TEST_THEME_PREFIX = "test_"


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


def is_test_theme(theme_or_key: str) -> bool:
    """A universe the suite itself wrote (``test_<x>`` theme, ``etf_test_<x>`` cache key)."""
    return theme_or_key.removeprefix("etf_").startswith(TEST_THEME_PREFIX)


class EtfUniverseStore:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system

    # -- reads as TickStockApp ------------------------------------------------------------
    def themes(self) -> list[str]:
        """The ETF universes the producer wrote (the suite's own ``test_`` ones left out)."""
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT name FROM cache_entries
                           WHERE type = 'etf_universe' AND universe_category = 'ETF' ORDER BY name""")
            return [r[0] for r in cur.fetchall() if not is_test_theme(r[0])]

    def universe(self, theme: str, apply_filter: bool = False) -> Timed:
        with self.system.session("consumer") as conn:
            return _timed(conn, "SELECT get_etf_universe(%s, %s)", (theme, apply_filter))

    def summary(self) -> Timed:
        return self._table_function("get_etf_universes_summary", SUMMARY_COLUMNS)

    def validation(self) -> Timed:
        return self._table_function("validate_etf_universe_symbols", VALIDATION_COLUMNS)

    def _table_function(self, function: str, columns: tuple[str, ...]) -> Timed:
        """Call a set-returning Phase 3 function; its rows as dicts, and the time the call took."""
        with self.system.session("consumer") as conn:
            t = _timed(conn, f"SELECT {', '.join(columns)} FROM {function}()", many=True)
        t.value = [dict(zip(columns, r, strict=True)) for r in t.value]
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

    def legacy_read(self, theme: str) -> list[str] | None:
        """The members a pre-Phase-3 reader sees: value->'symbols' selected by (type, name, key)."""
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT value FROM cache_entries
                           WHERE type = 'etf_universe' AND name = %s AND key = %s""",
                        (theme, f"etf_{theme}"))
            row = cur.fetchone()
            return None if row is None else row[0].get("symbols")

    # -- the producer's write path (test themes only) ---------------------------------------
    def update_as_producer(self, theme: str, symbols: list[str], metadata: dict | None = None) -> Timed:
        if not is_test_theme(theme):
            raise ValueError("the suite writes only test_ themes")
        with self.system.session("producer") as conn:
            return _timed(conn, "SELECT update_etf_universe(%s, %s, %s)",
                          (theme, Json(symbols), Json(metadata or {})))

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

    # -- state a check sets up itself (plain SQL as the producer role, no Phase 3 function) -----
    def store_directly(self, theme: str, symbols: list[str], metadata: dict, updated_at: datetime) -> None:
        """Write a ``test_`` universe row in the shape the database contract gives it (sql/003's
        header), with plain SQL as TickStockPL's role: a check of one function sets up its state
        without going through another function or the producer's expansion."""
        if not is_test_theme(theme):
            raise ValueError("the suite writes only test_ themes")
        with self.system.session("producer") as conn, conn.cursor() as cur:
            cur.execute("""INSERT INTO cache_entries (type, name, key, value, environment,
                                                      universe_category, liquidity_filter,
                                                      universe_metadata, last_universe_update)
                           VALUES ('etf_universe', %(theme)s, 'etf_' || %(theme)s, %(value)s, 'DEFAULT',
                                   'ETF', %(filter)s, %(meta)s, %(at)s)
                           ON CONFLICT (type, name, key, environment) DO UPDATE
                              SET value = EXCLUDED.value, universe_category = 'ETF',
                                  liquidity_filter = EXCLUDED.liquidity_filter,
                                  universe_metadata = EXCLUDED.universe_metadata,
                                  last_universe_update = EXCLUDED.last_universe_update, updated_at = now()""",
                        {"theme": theme, "value": Json({"symbols": symbols}), "at": updated_at,
                         "filter": Json(metadata["liquidity_filter"]) if metadata.get("liquidity_filter")
                         else None, "meta": Json(metadata)})

    def store_symbols_directly(self, rows: list[tuple[str, str, bool]]) -> None:
        """``TEST_`` rows of the symbols table: (symbol, type, active), as TickStockPL's role."""
        if any(not symbol.startswith("TEST_") for symbol, _, _ in rows):
            raise ValueError("the suite writes only TEST_ symbols")
        with self.system.session("producer") as conn, conn.cursor() as cur:
            for symbol, kind, active in rows:
                cur.execute("""INSERT INTO symbols (symbol, name, type, active) VALUES (%s, %s, %s, %s)
                               ON CONFLICT (symbol) DO UPDATE SET type = EXCLUDED.type,
                                                                  active = EXCLUDED.active""",
                            (symbol, f"{symbol} (test)", kind, active))

    def stored_rows(self) -> dict[str, dict]:
        """Every ETF universe row as stored (plain SQL, no function): theme → members (normalised as
        readers normalise: trimmed, upper-case, unique, sorted), metadata, filter, last update."""
        with self.system.session("consumer") as conn, conn.cursor() as cur:
            cur.execute("""SELECT name, value -> 'symbols', universe_metadata, liquidity_filter,
                                  last_universe_update
                           FROM cache_entries
                           WHERE type = 'etf_universe' AND environment = 'DEFAULT'
                             AND key = 'etf_' || name""")
            rows = cur.fetchall()
        return {name: {"symbols": sorted({str(s).strip().upper() for s in (symbols or []) if str(s).strip()}),
                       "metadata": meta, "liquidity_filter": flt, "last_updated": at}
                for name, symbols, meta, flt, at in rows}

    def delete_test_universes(self, name_prefix: str) -> None:
        """Remove ``test_`` universes whose name starts with ``name_prefix`` (as the producer role)."""
        if not is_test_theme(name_prefix):
            raise ValueError("the suite deletes only test_ themes")
        with self.system.session("producer") as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM cache_entries WHERE type = 'etf_universe' AND name LIKE %s",
                        (name_prefix.replace("_", r"\_") + "%",))
