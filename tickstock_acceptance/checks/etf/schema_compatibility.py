"""The Phase 3 columns and indexes as the catalog describes them, next to the legacy ones.

Compares the catalog (``infra.catalog``) with what the feature's tables state, and what a legacy
reader and writer see, with the universes the producer wrote.
"""

from __future__ import annotations

from tickstock_acceptance.contract.database import LEGACY_CACHE_COLUMNS
from tickstock_acceptance.infra.catalog import Catalog
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.etf_universes import EtfUniverseStore


def column_problems(system: AcceptanceSystem, expected: list[dict],
                    table: str = "cache_entries") -> list[str]:
    """Each expected column ({column, type, default}) exists with that type and default, after the
    legacy columns."""
    with system.session("consumer") as conn:
        columns = Catalog(conn).columns(table)
    legacy_last = max((c.position for n, c in columns.items() if n in LEGACY_CACHE_COLUMNS), default=0)
    problems = []
    for row in expected:
        col = columns.get(row["column"])
        if col is None:
            problems.append(f"{table}.{row['column']} does not exist")
            continue
        if (col.type, col.default) != (row["type"], row["default"]):
            problems.append(f"{table}.{row['column']}: type {col.type!r} default {col.default!r}, expected "
                            f"{row['type']!r} default {row['default']!r}")
        if col.position <= legacy_last:
            problems.append(f"{table}.{row['column']} comes before a legacy column")
    return problems


def index_problems(system: AcceptanceSystem, expected: list[dict], table: str = "cache_entries") -> list[str]:
    """Each expected index ({index, definition}) exists and its definition holds that column list."""
    with system.session("consumer") as conn:
        indexes = Catalog(conn).indexes(table)
    return [f"{row['index']}: {indexes.get(row['index'], 'missing')!s} does not contain {row['definition']}"
            for row in expected if row["definition"] not in indexes.get(row["index"], "")]


def legacy_reader_problems(store: EtfUniverseStore) -> list[str]:
    """A reader selecting by (type, name, key) sees the members get_etf_universe returns, per theme."""
    members = store.members()
    if not members:
        return ["no ETF universe to read"]
    return [f"{t}: legacy reader sees {store.legacy_read(t)}, get_etf_universe {syms}"
            for t, syms in members.items() if store.legacy_read(t) != syms]
