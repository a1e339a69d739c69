"""The automation services around the cache sync: the EOD job and the IPO monitor.

* ``EodJob.run(trading_date)``: the end-of-day job's last step. It counts the active symbols and
  publishes ONE ``eod_complete`` ``{trading_date, symbols_processed}`` on ``tickstock.eod.completion``
  (PUBLISH + XADD to ``stream:tickstock.eod.completion`` in one MULTI/EXEC, like every event). The
  cache synchronizer reads that stream with its consumer group ``cache_synchronizer`` and
  acknowledges the entry once the day's sync (or its refusal as a duplicate) is done; sending the
  signal twice for a day makes the second a duplicate (acknowledged, nothing run).
* ``IpoMonitor.scan(as_of, symbol_prefix, days)``: one scan of the automation service's IPO
  monitor: every active symbol starting with ``symbol_prefix`` whose ``list_date`` lies in
  ``(as_of - days, as_of]`` and which is in no ``stock_universe`` / ``theme_universe`` universe
  gets one ``ipo_listed`` ``{symbol, name, list_date, market_cap, sector, industry}`` on
  ``tickstock.automation.events`` (in symbol order, one MULTI/EXEC). The scan keeps no state: a
  symbol still unplaced is announced again by the next scan (the synchronizer places it once).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import psycopg2

from .events import EventPublisher

EOD_SERVICE = "tickstock_pl.eod_job"
IPO_SERVICE = "tickstock_pl.ipo_monitor"
DEFAULT_IPO_DAYS = 30


def json_number(value) -> int | float | None:
    """A NUMERIC as a JSON number (whole values as integers)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class EodJob:
    def __init__(self, connect: Callable[[], psycopg2.extensions.connection],
                 publisher: EventPublisher) -> None:
        self.connect = connect
        self.publisher = publisher

    def active_symbols(self) -> int:
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM symbols WHERE active")
                return int(cur.fetchone()[0])
        finally:
            conn.close()

    def run(self, trading_date: date) -> dict:
        processed = self.active_symbols()
        sent = self.publisher.publish("eod_complete", {"trading_date": trading_date.isoformat(),
                                                       "symbols_processed": processed})
        return {"trading_date": trading_date.isoformat(), "symbols_processed": processed,
                "message_id": sent.message_id, "stream_id": sent.stream_id, "sequence": sent.sequence,
                "channel": sent.channel}


class IpoMonitor:
    def __init__(self, connect: Callable[[], psycopg2.extensions.connection],
                 publisher: EventPublisher) -> None:
        self.connect = connect
        self.publisher = publisher

    def listings(self, as_of: date, symbol_prefix: str = "", days: int = DEFAULT_IPO_DAYS) -> list[dict]:
        """The ``ipo_listed`` data of every new, unplaced listing (see the module docstring)."""
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute("""
                    SELECT s.symbol, s.name, s.list_date, s.market_cap, s.sector, s.industry
                    FROM symbols s
                    WHERE s.active AND starts_with(s.symbol, %s)
                      AND s.list_date > %s AND s.list_date <= %s
                      AND NOT EXISTS (
                          SELECT 1 FROM cache_entries e
                          WHERE e.type IN ('stock_universe', 'theme_universe')
                            AND jsonb_typeof(e.value -> 'symbols') = 'array'
                            AND e.value -> 'symbols' ? s.symbol)""",
                            (symbol_prefix, as_of - timedelta(days=days), as_of))
                rows = cur.fetchall()
        finally:
            conn.close()
        rows.sort(key=lambda r: r[0])
        return [{"symbol": sym, "name": name, "list_date": listed.isoformat(), "market_cap": json_number(cap),
                 "sector": sector, "industry": industry}
                for sym, name, listed, cap, sector, industry in rows]

    def scan(self, as_of: date, symbol_prefix: str = "", days: int = DEFAULT_IPO_DAYS) -> dict:
        found = self.listings(as_of, symbol_prefix, days)
        sent = self.publisher.publish_many([("ipo_listed", data) for data in found])
        return {"as_of": as_of.isoformat(), "symbol_prefix": symbol_prefix, "days": days,
                "announced": [d["symbol"] for d in found], "message_ids": [p.message_id for p in sent]}
