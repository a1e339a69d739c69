"""The Cache Synchronization contract as the suite states it, and the oracle it implies.

Two files say it: ``contract/messaging.json`` → ``cache_sync`` (the end-of-day signal's stream,
event type and consumer group; the automation stream) and ``contract/reference/cache_sync.json``
(market-cap tiers, top-N sizes, sector leaders, the IPO window, universe names, the correlation
rule, the five tasks). From them this module computes what the synchronizer's universes must hold
for a given ``symbols`` table and what an ETF theme's correlations are for given daily bars — the
suite's own computation, never read from the synchronizer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, timedelta

from tickstock_acceptance.config.paths import CONTRACT_DIR
from tickstock_acceptance.contract.messaging import MESSAGING_FILE

REFERENCE_FILE = CONTRACT_DIR / "reference" / "cache_sync.json"
_REF = json.loads(REFERENCE_FILE.read_text())
_MSG = json.loads(MESSAGING_FILE.read_text())["cache_sync"]

EOD_STREAM: str = _MSG["eod_signal"]["stream"]
EOD_CHANNEL: str = _MSG["eod_signal"]["channel"]
EOD_EVENT: str = _MSG["eod_signal"]["event_type"]
EOD_GROUP: str = _MSG["eod_signal"]["consumer_group"]
AUTOMATION_STREAM: str = _MSG["automation"]["stream"]
AUTOMATION_CHANNEL: str = _MSG["automation"]["channel"]
IPO_EVENT: str = _MSG["automation"]["ipo_event"]
SYNC_EVENT: str = _MSG["automation"]["sync_event"]

TASKS: tuple[str, ...] = tuple(_REF["tasks"])
TOP_N: tuple[int, ...] = tuple(_REF["top_n"])
SECTOR_LEADERS: int = int(_REF["sector_leaders"])
IPO_WINDOW_DAYS: int = int(_REF["ipo_window_days"])
CORRELATION = _REF["correlation"]
SECTOR_SLUGS: dict[str, str] = dict(_REF["sectors"])
UNIVERSE_NAMES: dict[str, str] = dict(_REF["universes"])
MARKET = _REF["market"]
MARKET_SIZE: int = int(MARKET["symbols"])
MARKET_PREFIX: str = MARKET["symbol_prefix"]
MARKET_AS_OF: date = date.fromisoformat(MARKET["as_of"])
TIER_UNIVERSES: tuple[str, ...] = tuple(_REF["tier_universes"])
OTHER_SECTOR = "other"


@dataclass(frozen=True)
class Tier:
    name: str
    low: float
    high: float | None

    def holds(self, cap: float) -> bool:
        return cap >= self.low and (self.high is None or cap < self.high)


TIERS: tuple[Tier, ...] = tuple(
    Tier(t["name"], float(t["min"]), None if t["max"] is None else float(t["max"])) for t in _REF["tiers"]
)


@dataclass(frozen=True)
class SymbolRow:
    """One row of ``symbols`` as the oracle needs it."""

    symbol: str
    active: bool
    market_cap: float | None
    sector: str | None
    list_date: date | None


def cap_within(tier_name: str) -> float:
    """A market cap inside a tier (the geometric middle of its bounds; twice the floor of an open tier)."""
    tier = next((t for t in TIERS if t.name == tier_name), None)
    if tier is None:
        raise ValueError(f"no tier {tier_name!r} in {REFERENCE_FILE.name}")
    low = max(tier.low, 1.0)
    return round(math.sqrt(low * tier.high)) if tier.high is not None else 2 * low


def tier_of(cap: float) -> str:
    for tier in TIERS:
        if tier.holds(cap):
            return tier.name
    raise ValueError(f"market cap {cap} is in no tier of {REFERENCE_FILE.name}")


def sector_slug(sector: str | None) -> str:
    return SECTOR_SLUGS.get(sector or "", OTHER_SECTOR)


def universe_name(kind: str, prefix: str, **parts) -> str:
    return UNIVERSE_NAMES[kind].format(prefix=prefix, **parts)


def seasoned(row: SymbolRow, trading_date: date) -> bool:
    """Active, with a market cap, and listed at least the IPO window before the trading day."""
    return (
        row.active
        and row.market_cap is not None
        and (row.list_date is None or row.list_date <= trading_date - timedelta(days=IPO_WINDOW_DAYS))
    )


def expected_universes(rows: list[SymbolRow], prefix: str, trading_date: date) -> dict[str, list[str]]:
    """What the tier, top-N and theme universes must hold after a sync of ``trading_date`` (the
    IPO universes depend on announcements, not on the table: not included)."""
    ranked = sorted((r for r in rows if seasoned(r, trading_date)), key=lambda r: (-r.market_cap, r.symbol))
    out: dict[str, list[str]] = {}
    for name in TIER_UNIVERSES:
        tier = next(t for t in TIERS if t.name == name)
        out[universe_name("tier", prefix, tier=name)] = sorted(
            r.symbol for r in ranked if tier.holds(r.market_cap)
        )
    for n in TOP_N:
        out[universe_name("top", prefix, n=n)] = sorted(r.symbol for r in ranked[:n])
    by_sector: dict[str, list[str]] = {}
    for r in ranked:
        by_sector.setdefault(sector_slug(r.sector), []).append(r.symbol)
    for slug, members in by_sector.items():
        out[universe_name("theme", prefix, sector=slug)] = sorted(members[:SECTOR_LEADERS])
    return out


def ipo_universe(row: SymbolRow, prefix: str) -> str:
    """The IPO universe a freshly listed symbol belongs in: by its tier (micro_cap included) and sector."""
    return universe_name("ipo", prefix, tier=tier_of(row.market_cap or 0.0), sector=sector_slug(row.sector))


def correlation_universe(theme: str, prefix: str) -> str:
    return universe_name("etf_correlation", prefix, theme=theme)


def _pearson(x: list[float], y: list[float]) -> float | None:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / math.sqrt(sxx * syy)


def expected_correlations(closes: dict[str, dict[date, float]], trading_date: date) -> dict | None:
    """An ETF theme's correlations by the contract's rule, from its members' daily closes.

    D = the last ``window_days + 1`` distinct dates up to the trading day on which any member has a
    bar; a member counts when it has a bar on every date of D and its returns vary. Returns are
    close-to-close over consecutive dates of D; one Pearson correlation per pair (a < b), rounded.
    None when fewer than ``min_common_days + 1`` dates or fewer than two members qualify.
    """
    window, min_days, decimals = (
        int(CORRELATION["window_days"]),
        int(CORRELATION["min_common_days"]),
        int(CORRELATION["decimals"]),
    )
    dates = sorted({d for bars in closes.values() for d in bars if d <= trading_date})[-(window + 1) :]
    if len(dates) < min_days + 1:
        return None
    returns = {}
    for symbol, bars in sorted(closes.items()):
        if all(d in bars for d in dates):
            series = [bars[b] / bars[a] - 1.0 for a, b in zip(dates, dates[1:], strict=False)]
            if len(set(series)) > 1:
                returns[symbol] = series
    symbols = sorted(returns)
    if len(symbols) < 2:
        return None
    pairs = []
    for i, a in enumerate(symbols):
        for b in symbols[i + 1 :]:
            r = _pearson(returns[a], returns[b])
            if r is not None:
                pairs.append([a, b, round(r, decimals)])
    return {"symbols": symbols, "pairs": pairs, "window_days": window}
