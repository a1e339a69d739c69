"""What TickStockApp must receive when the ETF universe manager expands (the expansion notifications).

Problem finders: each returns the problems it found ([] when there are none), in words a
stakeholder can act on. The expected themes come from the source data the producer was given
(its liquidity filters computed here), never from the producer's own report.
"""

from __future__ import annotations

from tickstock_acceptance.checks.delivery import acknowledged_by, check_delivery
from tickstock_acceptance.contract.reference import below_filter, should_succeed
from tickstock_acceptance.sut.etf_universes import EtfUniverseStore, is_test_theme
from tickstock_acceptance.sut.subscriber import Received
from tickstock_acceptance.sut.universe_flow import ExpansionObserved


def expected_themes(expansion: ExpansionObserved) -> list[str]:
    """Themes that must be written: those of the source whose kept ETFs can be written."""
    return [t for t, data in expansion.source_themes.items() if should_succeed(data)]


def stored_update_problems(expansion: ExpansionObserved, store: EtfUniverseStore) -> list[str]:
    """The database's view: exactly the expected themes were written during the expansion."""
    updated = set(store.universes_updated_since(expansion.db_mark))
    considered = updated & set(expansion.source_themes)
    expected = set(expected_themes(expansion))
    problems = []
    if expected - considered:
        problems.append(f"not updated in the database: {sorted(expected - considered)}")
    if considered - expected:
        problems.append(f"updated in the database but should have failed: {sorted(considered - expected)}")
    # Universes outside the source: only those this producer could have written (not test_ ones of
    # other scenarios), so a producer that ignores --themes or --source is caught.
    stray = sorted(t for t in updated - set(expansion.source_themes) if not is_test_theme(t))
    if stray:
        problems.append(f"written but not in the source the producer was given: {stray}")
    return problems


def sequence_problems(expansion: ExpansionObserved, received: list[Received] | None = None) -> list[str]:
    """One universe_expansion_complete first, then one theme_updated per written theme."""
    received = expansion.live if received is None else received
    problems = []
    types = [r.event_type for r in received]
    if not types or types[0] != "universe_expansion_complete":
        first = types[0] if types else "missing"
        problems.append(f"first message is {first}, not universe_expansion_complete")
    if types.count("universe_expansion_complete") != 1:
        problems.append(f"{types.count('universe_expansion_complete')} universe_expansion_complete received")
    themes = [r.message["data"]["theme"] for r in received if r.event_type == "theme_updated"]
    expected = expected_themes(expansion)
    if sorted(themes) != sorted(expected):
        missing, extra = sorted(set(expected) - set(themes)), sorted(set(themes) - set(expected))
        dup = sorted({t for t in themes if themes.count(t) > 1})
        problems.append(f"theme_updated missing for {missing}, unexpected for {extra}, duplicated for {dup}")
    if not expected:
        problems.append("the source had no theme the producer could write")
    return problems


def theme_update_problems(expansion: ExpansionObserved, store: EtfUniverseStore) -> list[str]:
    """Each theme_updated names its theme, cache key, action and the symbol count the database holds."""
    problems = []
    for r in expansion.received("theme_updated"):
        d = r.message["data"]
        stored = store.universe(d["theme"]).value
        if d["cache_key"] != f"etf_{d['theme']}" or stored.get("cache_key") != d["cache_key"]:
            problems.append(f"{d['theme']}: cache_key {d['cache_key']} vs stored {stored.get('cache_key')}")
        want = "updated" if d["theme"] in expansion.existed_before else "created"
        if d["action"] != want:
            problems.append(f"{d['theme']}: action {d['action']}, but the universe "
                            f"{'existed' if want == 'updated' else 'did not exist'} before the expansion")
        if d["symbol_count"] != stored.get("symbol_count"):
            problems.append(f"{d['theme']}: says {d['symbol_count']} symbols, database has "
                            f"{stored.get('symbol_count')}")
    return problems


def expansion_complete_problems(expansion: ExpansionObserved, store: EtfUniverseStore) -> list[str]:
    """universe_expansion_complete's totals and per-theme counts match the source and the stored
    universes: every theme of the source reported once, the written ones completed with their stored
    count and their excluded count, the others failed."""
    done = expansion.received("universe_expansion_complete")
    if len(done) != 1:
        return [f"{len(done)} universe_expansion_complete messages received"]
    d = done[0].message["data"]
    expected = expected_themes(expansion)
    stored = {t: store.universe(t).value.get("symbol_count") for t in expected}
    source = expansion.source_themes
    problems = []
    reported = [t["theme"] for t in d["themes"]]
    if sorted(reported) != sorted(source) or d["themes_processed"] != len(source):
        problems.append(f"reports themes {sorted(reported)} (themes_processed {d['themes_processed']}), "
                        f"the source had {sorted(source)}")
    if d["total_symbols"] != sum(stored.values()):
        problems.append(f"total_symbols {d['total_symbols']} vs stored {sum(stored.values())}")
    if d["success_count"] != len(expected) or d.get("failed_count") != len(source) - len(expected):
        problems.append(f"success_count {d['success_count']}, failed_count {d.get('failed_count')}; expected "
                        f"{len(expected)} and {len(source) - len(expected)}")
    for t in d["themes"]:
        name, status = t["theme"], t["status"]
        if status != ("completed" if name in expected else "failed"):
            problems.append(f"{name}: reported {status}")
        elif status == "completed" and t["symbol_count"] != stored.get(name):
            problems.append(f"{name}: {t['symbol_count']} symbols vs stored {stored.get(name)}")
        if name in source and t.get("excluded_count") != len(below_filter(source[name])):
            problems.append(f"{name}: excluded_count {t.get('excluded_count')}, its liquidity filter "
                            f"excludes {len(below_filter(source[name]))}")
    return problems


def identity_problems(expansion: ExpansionObserved) -> list[str]:
    """One producer, and the delivery checker finds nothing lost, duplicated, reordered or unexpected
    among what TickStockApp received, against what the producer acknowledged sending."""
    producers = {r.producer_id for r in expansion.live}
    problems = [] if len(producers) == 1 else [f"messages from {len(producers)} producers"]
    ids = [r.message_id for r in expansion.live]
    if len(set(ids)) != len(ids):
        problems.append("duplicate message ids")
    return problems + check_delivery(acknowledged_by([expansion.run.report]), expansion.live).problems()


def failed_theme_problems(expansion: ExpansionObserved, theme: str) -> list[str]:
    """universe_expansion_complete reports ``theme`` as failed with its error, every other as completed."""
    done = expansion.received("universe_expansion_complete")
    if len(done) != 1:
        return [f"{len(done)} universe_expansion_complete messages received"]
    reported = {t["theme"]: t for t in done[0].message["data"]["themes"]}
    mine = reported.get(theme)
    problems = []
    if mine is None:
        problems.append(f"theme {theme} is not reported at all")
    elif mine.get("status") != "failed" or not mine.get("error"):
        problems.append(f"theme {theme}: expected status failed with an error, reported "
                        f"{mine.get('status')} ({mine.get('error') or 'no error'})")
    others = [f"{n} {t['status']} ({t.get('error') or 'no error given'})" for n, t in reported.items()
              if n != theme and t["status"] != "completed"]
    if others:
        problems.append(f"other themes not completed: {'; '.join(others)}")
    if theme in expected_themes(expansion):
        problems.append(f"the oracle expected {theme} to be writable")
    return problems


def no_update_for(expansion: ExpansionObserved, theme: str) -> list[str]:
    """No theme_updated was received for ``theme`` (a theme the producer could not write)."""
    got = [r for r in expansion.received("theme_updated") if r.message["data"].get("theme") == theme]
    return [f"{len(got)} theme_updated received for {theme}, which could not be written"] if got else []


def catch_up_problems(expansion: ExpansionObserved, caught_up: list[Received]) -> list[str]:
    """The returning instance got every notification the producer acknowledged, once each, in order,
    and the same ones the online instance received."""
    if not expansion.live:
        return ["the online instance received nothing to compare with"]
    problems = check_delivery(acknowledged_by([expansion.run.report]), caught_up).problems()
    got, want = [r.message_id for r in caught_up], [r.message_id for r in expansion.live]
    if got != want and not problems:
        problems.append(f"caught up {len(got)} notifications, the online instance received {len(want)}")
    return [f"caught up {len(caught_up)}: {p}" for p in problems]
