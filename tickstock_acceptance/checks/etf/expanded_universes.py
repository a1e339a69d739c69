"""What the producer's expansion must leave in the database: the universes it expanded.

Problem finders over what TickStockApp reads (``sut.etf_universes``) after the producer ran: the
universes' size, their members' daily bars and validity, the liquidity filters they were built
with (the oracle: the source the producer was given, computed here), and the producer's own
validate command. Each returns a list of problems ([] when there are none) or a mapping of them.
"""

from __future__ import annotations

from tickstock_acceptance.contract.reference import below_filter, reference_themes
from tickstock_acceptance.sut.etf_universes import EtfUniverseStore, is_test_theme


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


def producer_validation_problems(run, rows: list[dict]) -> list[str]:
    """The producer's ``validate`` command agrees: it ran, checked every member the database function
    lists, and found nothing invalid outside the suite's own test universes."""
    report = run.report if isinstance(run.report, dict) else {}
    if "members" not in report or run.returncode not in (0, 1):
        return [f"the validate command did not report: {run.describe()}"]
    problems = []
    if report["members"] != len(rows):
        problems.append(f"it checked {report['members']} members, "
                        f"validate_etf_universe_symbols lists {len(rows)}")
    invalid = [f"{i['universe_key']}/{i['symbol']}" for i in report.get("invalid", [])
               if not is_test_theme(i["universe_key"])]
    if invalid:
        problems.append(f"it reports invalid members: {invalid[:10]}")
    if run.returncode == 1 and not report.get("invalid"):
        problems.append(f"it exited 1 without naming an invalid member: {run.describe()}")
    return problems


def stored_filter_problems(store: EtfUniverseStore, source_themes: dict) -> list[str]:
    """Each universe stores the liquidity filter its theme has in the source the producer was given."""
    if not source_themes:
        return ["no theme was expanded"]
    stored = store.stored_rows()
    return [f"{theme}: stores {stored.get(theme, {}).get('liquidity_filter')}, built with "
            f"{data['liquidity_filter']}" for theme, data in source_themes.items()
            if stored.get(theme, {}).get("liquidity_filter") != data["liquidity_filter"]]


def liquidity_violations(store: EtfUniverseStore, source_themes: dict) -> dict[str, list[str]]:
    """theme → members that miss the theme's filter, judged with the facts of the source the producer
    was given (not the facts it stored), and what get_etf_universe's own filter drops."""
    out: dict[str, list[str]] = {}
    for theme, data in source_themes.items():
        flt = data["liquidity_filter"]
        facts = {e["symbol"]: e for e in data["etfs"]}
        members = store.universe(theme).value.get("symbols", [])
        bad = [f"{s}: {', '.join(m)}" for s in members if (m := filter_misses(facts.get(s), flt))]
        filtered = store.universe(theme, apply_filter=True).value
        if filtered.get("filtered_out_count"):
            bad.append(f"get_etf_universe(apply filter) drops {filtered['filtered_out']}")
        if bad:
            out[theme] = bad
    return out


BOUNDARY_PREFIX = "test_liquidity_"


def boundary_themes() -> dict:
    """Every reference theme (``test_liquidity_<theme>``) with three ETFs added at its edges: one exactly
    at both thresholds (kept), one below the assets threshold only, one below the volume threshold
    only (both left out)."""
    out = {}
    for i, (name, theme) in enumerate(reference_themes().items()):
        aum, volume = theme["liquidity_filter"]["min_aum"], theme["liquidity_filter"]["min_avg_volume"]
        edges = [{"symbol": f"TEST_AT_{i}", "name": "exactly at both thresholds", "aum": aum,
                  "avg_volume": volume},
                 {"symbol": f"TEST_AUMLOW_{i}", "name": "below the assets threshold only", "aum": aum - 1,
                  "avg_volume": volume * 10},
                 {"symbol": f"TEST_VOLLOW_{i}", "name": "below the volume threshold only", "aum": aum * 10,
                  "avg_volume": volume - 1}]
        out[BOUNDARY_PREFIX + name] = dict(theme, etfs=[*theme["etfs"], *edges])
    return out


def membership_problems(store: EtfUniverseStore, source_themes: dict) -> list[str]:
    """Each universe holds exactly its theme's ETFs at or above both thresholds (the oracle: the source)."""
    stored = store.stored_rows()
    problems = []
    for name, theme in source_themes.items():
        below = set(below_filter(theme))
        want = {e["symbol"] for e in theme["etfs"]} - below
        got = set(stored.get(name, {}).get("symbols", []))
        if got & below:
            problems.append(f"{name} keeps ETFs below a threshold: {sorted(got & below)}")
        if want - got:
            problems.append(f"{name} leaves out ETFs at or above both thresholds: {sorted(want - got)}")
        strangers = got - {e["symbol"] for e in theme["etfs"]}
        if strangers:
            problems.append(f"{name} holds ETFs its theme does not have: {sorted(strangers)}")
    return problems
