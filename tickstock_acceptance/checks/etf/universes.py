"""What the stored ETF universes must be (the universes themselves and the four Phase 3 functions).

Problem finders over what TickStockApp reads (``sut.etf_universes``), judged against the
contract's reference ETF facts and the test data the suite wrote itself. Each returns a list of
problems ([] when there are none) or a mapping of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tickstock_acceptance.contract.database import SUMMARY_SAMPLE_SIZE
from tickstock_acceptance.contract.reference import below_filter, reference_themes
from tickstock_acceptance.sut.etf_universes import EtfUniverseStore, Timed, is_test_theme


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


def distinct_symbols(members: dict[str, list[str]]) -> set[str]:
    return {s for syms in members.values() for s in syms}


def size_problems(members: dict[str, list[str]], min_symbols: int, min_themes: int) -> list[str]:
    """Too few distinct ETF symbols or themes across the stored universes."""
    problems = []
    if len(members) < min_themes:
        problems.append(f"{len(members)} themes, need at least {min_themes}")
    symbols = distinct_symbols(members)
    if len(symbols) < min_symbols:
        problems.append(f"{len(symbols)} distinct ETF symbols, need at least {min_symbols}")
    return problems


def short_histories(store: EtfUniverseStore, days: int) -> dict[str, int]:
    """Members with fewer than ``days`` daily bars → how many they have."""
    symbols = sorted(distinct_symbols(store.members()))
    return {s: n for s, n in store.bars_per_symbol(symbols).items() if n < days}


def invalid_members(rows: list[dict]) -> list[str]:
    """Rows of validate_etf_universe_symbols (the producer's universes) that are not existing, active ETFs."""
    return [f"{r['universe_key']}/{r['symbol']}: exists={r['exists_in_symbols']} type={r['symbol_type']} "
            f"active={r['active_status']}" for r in rows if not is_test_theme(r["universe_key"])
            and not (r["exists_in_symbols"] and r["symbol_type"] == "ETF" and r["active_status"])]


def stored_filter_problems(store: EtfUniverseStore) -> list[str]:
    """Each universe stores the liquidity filter of its theme in the reference data."""
    ref = reference_themes()
    problems = []
    themes = store.themes()
    if not themes:
        return ["no ETF universe stored"]
    for theme in themes:
        stored = store.universe(theme).value.get("liquidity_filter")
        if theme in ref and stored != ref[theme]["liquidity_filter"]:
            problems.append(f"{theme}: stores {stored}, built with {ref[theme]['liquidity_filter']}")
    return problems


def liquidity_violations(store: EtfUniverseStore) -> dict[str, list[str]]:
    """theme → members that miss the theme's stored filter (or themes with no filter stored)."""
    out: dict[str, list[str]] = {}
    for theme in store.themes():
        u = store.universe(theme).value
        flt = u.get("liquidity_filter")
        if not isinstance(flt, dict) or not flt:
            out[theme] = ["no liquidity_filter stored"]
            continue
        facts = (u.get("metadata") or {}).get("symbol_facts") or {}
        bad = [f"{s}: {', '.join(m)}" for s in u["symbols"] if (m := filter_misses(facts.get(s), flt))]
        filtered = store.universe(theme, apply_filter=True).value
        if filtered.get("filtered_out_count"):
            bad.append(f"get_etf_universe(apply filter) drops {filtered['filtered_out']}")
        if bad:
            out[theme] = bad
    return out


def illiquid_excluded(members: dict[str, list[str]]) -> dict[str, list[str]]:
    """theme → ETFs of the reference data that miss the theme's filter (the oracle of exclusion)."""
    ref = reference_themes()
    return {t: below_filter(ref[t]) for t in members if t in ref}


def leaked_illiquid(members: dict[str, list[str]]) -> dict[str, list[str]]:
    """theme → reference ETFs below the theme's filter that are in its universe anyway."""
    excluded = illiquid_excluded(members)
    return {t: sorted(set(ex) & set(members[t])) for t, ex in excluded.items() if set(ex) & set(members[t])}


# -- get_etf_universe -------------------------------------------------------------------------
# Test data for the read-time liquidity filter: members that pass (one exactly at both
# thresholds), miss on AUM, miss on volume, and one with no stored facts at all.
FILTER_PROBE = {
    "liquidity_filter": {"min_aum": 1_000_000_000, "min_avg_volume": 1_000_000},
    "symbols": ["SPY", "QQQ", "IWM", "DIA", "VTI"],
    "symbol_facts": {"SPY": {"aum": 5e11, "avg_volume": 7e7},
                     "QQQ": {"aum": 1_000_000_000, "avg_volume": 1_000_000},
                     "IWM": {"aum": 5e8, "avg_volume": 3e7},
                     "DIA": {"aum": 3e10, "avg_volume": 2e5}},
}


@dataclass
class FilterProbe:
    """A ``test_`` universe written as the producer role, with facts that put some members below
    its liquidity filter and leave one without facts."""

    theme: str
    data: dict = field(default_factory=lambda: dict(FILTER_PROBE))

    def write(self, store: EtfUniverseStore) -> None:
        store.update_as_producer(self.theme, self.data["symbols"],
                                 {"liquidity_filter": self.data["liquidity_filter"],
                                  "symbol_facts": self.data["symbol_facts"]})

    @property
    def misses(self) -> list[str]:
        return sorted(s for s in self.data["symbols"]
                      if filter_misses(self.data["symbol_facts"].get(s), self.data["liquidity_filter"]))

    @property
    def kept(self) -> list[str]:
        return sorted(set(self.data["symbols"]) - set(self.misses))

    def expected_read(self, apply_filter: bool) -> dict:
        """What get_etf_universe must return for the probe theme, with or without its filter."""
        if apply_filter:
            return {"filtered": True, "symbols": self.kept, "symbol_count": len(self.kept),
                    "filtered_out": self.misses, "filtered_out_count": len(self.misses)}
        return {"filtered": False, "symbols": sorted(self.data["symbols"]), "filtered_out": [],
                "filtered_out_count": 0}


def read_problems(reads: dict[tuple[str, bool], Timed]) -> list[str]:
    """Each read names its theme and cache key, says whether it filtered, stores the theme's filter,
    and lists its members once, sorted, with their count."""
    ref = reference_themes()
    problems = []
    if not reads:
        return ["no ETF universe was read"]
    for (theme, filtered), read in reads.items():
        v = read.value
        want = {"cache_key": f"etf_{theme}", "theme": theme, "filtered": filtered,
                "liquidity_filter": ref.get(theme, {}).get("liquidity_filter")}
        wrong = {k: v.get(k) for k, w in want.items() if v.get(k) != w}
        if wrong:
            problems.append(f"{theme} (filter {filtered}): {wrong}, expected {want}")
        symbols = v.get("symbols") or []
        if v.get("symbol_count") != len(symbols) or symbols != sorted(set(symbols)):
            problems.append(f"{theme} (filter {filtered}): symbol_count {v.get('symbol_count')} for "
                            f"{len(symbols)} symbols, sorted and unique: {symbols == sorted(set(symbols))}")
    return problems


def mismatches(got: dict, want: dict) -> dict:
    """The fields of ``want`` that ``got`` has different: field → (expected, got)."""
    return {k: (w, got.get(k)) for k, w in want.items() if got.get(k) != w}


# -- get_etf_universes_summary and validate_etf_universe_symbols ------------------------------
def summary_listing_problems(rows: list[dict], store: EtfUniverseStore) -> list[str]:
    """Every universe the producer wrote is listed once, ordered by theme."""
    listed = [r["theme"] for r in rows if not is_test_theme(r["theme"])]
    themes = sorted(store.themes())
    return [] if listed == themes else [f"summary lists {listed}, the universes are {themes}"]


def summary_count_problems(rows: list[dict], members: dict[str, list[str]]) -> list[str]:
    """Each row's symbol count and sample (the first members) match what get_etf_universe returns."""
    got = {r["theme"]: (r["symbol_count"], r["symbols_sample"]) for r in rows if r["theme"] in members}
    want = {t: (len(s), s[:SUMMARY_SAMPLE_SIZE]) for t, s in members.items()}
    problems = []
    for theme, (count, sample) in want.items():
        if got.get(theme) != (count, sample):
            seen = got.get(theme, ("no row", None))
            problems.append(f"{theme}: summary says {seen[0]} symbols, sample {seen[1]}; "
                            f"get_etf_universe returns {count} symbols, first {sample}")
    return problems


def validation_row_problems(rows: list[dict], members: dict[str, list[str]]) -> list[str]:
    """One validation row per member of every (producer-written) universe, no more, no less."""
    expected = sorted((f"etf_{t}", s) for t, syms in members.items() for s in syms)
    got = sorted((r["universe_key"], r["symbol"]) for r in rows if not is_test_theme(r["universe_key"]))
    if got == expected:
        return []
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    return [f"{len(got)} rows for {len(expected)} members; missing {missing[:5]}, extra {extra[:5]}"]


def rows_for(rows: list[dict], key: str, symbol: str) -> list[dict]:
    return [r for r in rows if (r["universe_key"], r["symbol"]) == (key, symbol)]
