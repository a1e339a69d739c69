"""A deterministic stock market for the cache synchronizer: ``generate_market(count, prefix, as_of)``.

No network, no clock: the seed is SHA-256 of ``prefix`` (first 8 bytes, big-endian) into one
``random.Random``, and the symbols are drawn in order, so every machine gets identical rows and a
smaller market is the first rows of a larger one (``generate_market(300)`` ==
``generate_market(5000)[:300]``). For symbol ``i`` (``{prefix}{i:05d}``), in this order:

* ``active``: inactive with probability 2 % (delisted names the synchronizer must clean up);
* ``market_cap``: log-uniform between 50e6 and 2e12 USD, rounded to whole dollars, so every tier
  of ``contract/reference/cache_sync.json`` occurs (about half are large caps, >= 100 in any
  market of a few hundred symbols or more);
* ``sector``: one of the 11 sectors of the reference (uniform), ``industry`` one of that sector's
  industries, ``exchange`` one of NYSE, NASDAQ, NYSE American;
* ``list_date``: with probability 1 % a recent listing, 1..20 days before ``as_of`` (inside the
  IPO window: not yet seasoned), otherwise a day between 1990-01-01 and 2025-12-31.

Type is always ``CS``; the name is ``"<Sector> Company <i>"``. ``MARKET_DEFAULTS`` are the
contract's (5,000 ``TEST_M`` symbols as of 2026-10-30). The loader (``load_market``) upserts the
rows into ``symbols`` in one transaction (``execute_values``) and deletes the prefix's rows that
are not in the generated set, so a reload with another count replaces the market.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import astuple, dataclass
from datetime import date, timedelta
from pathlib import Path

from psycopg2.extras import execute_values

REFERENCE_FILE = Path(__file__).resolve().parents[1] / "contract" / "reference" / "cache_sync.json"
REFERENCE = json.loads(REFERENCE_FILE.read_text())
SECTORS: tuple[str, ...] = tuple(REFERENCE["sectors"])
MARKET_DEFAULTS = REFERENCE["market"]
DEFAULT_COUNT = int(MARKET_DEFAULTS["symbols"])
DEFAULT_PREFIX = str(MARKET_DEFAULTS["symbol_prefix"])
DEFAULT_AS_OF = date.fromisoformat(MARKET_DEFAULTS["as_of"])
REQUIRED_PREFIX = "TEST_"
MAX_SYMBOL_LENGTH = 20
DIGITS = 5

MIN_CAP, MAX_CAP = 50e6, 2e12
INACTIVE_SHARE = 0.02
RECENT_SHARE = 0.01
RECENT_MAX_DAYS = 20
OLD_LISTINGS = (date(1990, 1, 1), date(2025, 12, 31))
EXCHANGES = ("NYSE", "NASDAQ", "NYSE American")
INDUSTRIES: dict[str, tuple[str, ...]] = {
    "Technology": ("Software", "Semiconductors", "IT Services", "Hardware"),
    "Health Care": ("Biotechnology", "Pharmaceuticals", "Medical Devices", "Health Care Providers"),
    "Financials": ("Banks", "Insurance", "Capital Markets", "Consumer Finance"),
    "Consumer Discretionary": ("Retail", "Automobiles", "Hotels & Leisure", "Apparel"),
    "Consumer Staples": ("Food Products", "Beverages", "Household Products", "Food Retail"),
    "Industrials": ("Aerospace & Defense", "Machinery", "Transportation", "Building Products"),
    "Energy": ("Oil & Gas Producers", "Oil Services", "Refining", "Renewable Energy"),
    "Materials": ("Chemicals", "Metals & Mining", "Packaging", "Construction Materials"),
    "Utilities": ("Electric Utilities", "Gas Utilities", "Water Utilities", "Power Producers"),
    "Real Estate": ("REITs", "Real Estate Services", "Real Estate Development"),
    "Communication Services": ("Media", "Telecom Services", "Interactive Media", "Entertainment"),
}
assert set(INDUSTRIES) == set(SECTORS), "every reference sector needs industries"


@dataclass(frozen=True)
class MarketSymbol:
    symbol: str
    name: str
    type: str
    active: bool
    market_cap: int
    sector: str
    industry: str
    exchange: str
    list_date: date


class MarketError(ValueError):
    """A market that must not be generated (bad prefix or count); one line."""


def check_market(count: int, prefix: str) -> None:
    if count < 1 or count >= 10 ** DIGITS:
        raise MarketError(f"--count must be between 1 and {10 ** DIGITS - 1}")
    if not prefix.startswith(REQUIRED_PREFIX):
        raise MarketError(f"--prefix {prefix!r} is not a test prefix: the market goes only to "
                          f"{REQUIRED_PREFIX} symbols")
    if len(prefix) + DIGITS > MAX_SYMBOL_LENGTH or not all(c.isupper() or c.isdigit() or c in "_."
                                                           for c in prefix):
        raise MarketError(f"--prefix {prefix!r}: expected A-Z 0-9 _ . and at most "
                          f"{MAX_SYMBOL_LENGTH - DIGITS} characters")


def seed_of(prefix: str) -> int:
    return int.from_bytes(hashlib.sha256(prefix.encode()).digest()[:8], "big")


def generate_market(count: int = DEFAULT_COUNT, prefix: str = DEFAULT_PREFIX,
                    as_of: date = DEFAULT_AS_OF) -> list[MarketSymbol]:
    """``count`` symbols ``{prefix}00000``, ``{prefix}00001``, ... (deterministic; see the module doc)."""
    check_market(count, prefix)
    rng = random.Random(seed_of(prefix))
    lo, hi = math.log(MIN_CAP), math.log(MAX_CAP)
    old_days = (OLD_LISTINGS[1] - OLD_LISTINGS[0]).days
    out = []
    for i in range(count):
        active = rng.random() >= INACTIVE_SHARE
        cap = int(round(math.exp(rng.uniform(lo, hi))))
        sector = SECTORS[rng.randrange(len(SECTORS))]
        industries = INDUSTRIES[sector]
        industry = industries[rng.randrange(len(industries))]
        exchange = EXCHANGES[rng.randrange(len(EXCHANGES))]
        if rng.random() < RECENT_SHARE:
            list_date = as_of - timedelta(days=rng.randint(1, RECENT_MAX_DAYS))
        else:
            list_date = OLD_LISTINGS[0] + timedelta(days=rng.randint(0, old_days))
        out.append(MarketSymbol(f"{prefix}{i:0{DIGITS}d}", f"{sector} Company {i}", "CS", active, cap,
                                sector, industry, exchange, list_date))
    return out


def market_digest(symbols: list[MarketSymbol]) -> str:
    """SHA-256 over the rows as text (what the determinism test pins)."""
    h = hashlib.sha256()
    for s in symbols:
        h.update(("|".join(str(v) for v in astuple(s)) + "\n").encode())
    return h.hexdigest()


def tier_of(market_cap: float | None) -> str:
    """The reference tier of a market cap (min <= cap < max); None or negative counts as micro_cap."""
    if market_cap is not None:
        for t in REFERENCE["tiers"]:
            if market_cap >= t["min"] and (t["max"] is None or market_cap < t["max"]):
                return t["name"]
    return REFERENCE["tiers"][-1]["name"]


def load_market(conn, count: int = DEFAULT_COUNT, prefix: str = DEFAULT_PREFIX,
                as_of: date = DEFAULT_AS_OF, ipo_window_days: int | None = None) -> dict:
    """Generate the market and write it into ``symbols`` in one transaction; the JSON report."""
    t0 = time.perf_counter()
    market = generate_market(count, prefix, as_of)
    window = int(REFERENCE["ipo_window_days"] if ipo_window_days is None else ipo_window_days)
    with conn, conn.cursor() as cur:
        execute_values(cur, """
            INSERT INTO symbols (symbol, name, type, active, market_cap, sector, industry, exchange,
                                 list_date) VALUES %s
            ON CONFLICT (symbol) DO UPDATE
               SET name = EXCLUDED.name, type = EXCLUDED.type, active = EXCLUDED.active,
                   market_cap = EXCLUDED.market_cap, sector = EXCLUDED.sector,
                   industry = EXCLUDED.industry, exchange = EXCLUDED.exchange,
                   list_date = EXCLUDED.list_date, updated_at = now()""",
                       [astuple(s) for s in market], page_size=1000)
        cur.execute("""DELETE FROM symbols WHERE starts_with(symbol, %s) AND NOT (symbol = ANY(%s))""",
                    (prefix, [s.symbol for s in market]))
        deleted = cur.rowcount
    by_tier = {t["name"]: 0 for t in REFERENCE["tiers"]}
    for s in market:
        by_tier[tier_of(s.market_cap)] += 1
    active = sum(s.active for s in market)
    return {"prefix": prefix, "as_of": as_of.isoformat(), "symbols": len(market), "active": active,
            "inactive": len(market) - active,
            "recent_listings": sum(s.list_date > as_of - timedelta(days=window) for s in market),
            "by_tier": by_tier, "deleted": deleted, "seconds": round(time.perf_counter() - t0, 4)}
