"""Universes a check stores itself, and what each Phase 3 function must return for them.

The function checks stand alone: they set up their universes with plain SQL as TickStockPL's role
(``EtfUniverseStore.store_directly``), never through the producer's expansion or another Phase 3
function, so a broken expansion turns the producer's items red and a broken function turns its
own scenario red. The oracle is computed here from the contract's reference ETF facts, and every
field of a function's result is compared with it. ``FilterProbe`` is a stored universe whose facts
sit exactly at, and just below, its liquidity filter's thresholds (get_etf_universe's filter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tickstock_acceptance.checks.etf.expanded_universes import filter_misses
from tickstock_acceptance.contract.database import SUMMARY_SAMPLE_SIZE
from tickstock_acceptance.contract.reference import below_filter, reference_themes
from tickstock_acceptance.sut.etf_universes import EtfUniverseStore, Timed

STORED_PREFIX = "test_stored_"
STORED_AT = datetime(2026, 1, 2, 3, 4, 5, 123456)  # last_universe_update (timestamp without time zone)


@dataclass(frozen=True)
class StoredUniverse:
    theme: str
    symbols: list[str]
    metadata: dict
    updated_at: datetime = STORED_AT

    @property
    def liquidity_filter(self) -> dict | None:
        return self.metadata.get("liquidity_filter") or None

    def store(self, store: EtfUniverseStore) -> None:
        store.store_directly(self.theme, self.symbols, self.metadata, self.updated_at)


def reference_universes() -> list[StoredUniverse]:
    """One universe per reference theme (``test_stored_<theme>``): the ETFs its filter keeps, and the
    metadata the producer would store (focus, criteria, filter, every ETF's facts)."""
    out = []
    for name, theme in reference_themes().items():
        excluded = set(below_filter(theme))
        kept = sorted(e["symbol"] for e in theme["etfs"] if e["symbol"] not in excluded)
        out.append(StoredUniverse(
            f"{STORED_PREFIX}{name}", kept,
            {"focus": theme["focus"], "criteria": theme["criteria"],
             "liquidity_filter": theme["liquidity_filter"],
             "symbol_facts": {e["symbol"]: {"name": e["name"], "aum": e["aum"], "avg_volume": e["avg_volume"]}
                              for e in theme["etfs"]}}))
    return out


def _timestamp(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def expected_read(universe: StoredUniverse, apply_filter: bool) -> dict:
    """get_etf_universe's whole answer for a stored universe whose members all pass its filter."""
    return {"cache_key": f"etf_{universe.theme}", "theme": universe.theme, "symbols": universe.symbols,
            "symbol_count": len(universe.symbols), "metadata": universe.metadata,
            "liquidity_filter": universe.liquidity_filter, "last_updated": universe.updated_at,
            "filtered": bool(apply_filter and universe.liquidity_filter), "filtered_out": [],
            "filtered_out_count": 0}


def read_problems(reads: dict[tuple[str, bool], Timed], universes: list[StoredUniverse]) -> list[str]:
    """Every field of every read against the oracle, and no field the contract does not name."""
    problems = []
    for universe in universes:
        for apply_filter in (False, True):
            read = reads.get((universe.theme, apply_filter))
            if read is None:
                problems.append(f"{universe.theme} was not read (filter {apply_filter})")
                continue
            got = dict(read.value)
            got["last_updated"] = _timestamp(got.get("last_updated"))
            want = expected_read(universe, apply_filter)
            wrong = [f"{k}: expected {_short(w)}, got {_short(got.get(k))}" for k, w in want.items()
                     if got.get(k) != w]
            extra = sorted(set(got) - set(want))
            if extra:
                wrong.append(f"fields the contract does not name: {extra}")
            if wrong:
                problems.append(f"get_etf_universe({universe.theme}, {apply_filter}): {'; '.join(wrong)}")
    return problems


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def summary_listing_problems(rows: list[dict], store: EtfUniverseStore) -> list[str]:
    """Every ETF universe in the database (read with plain SQL) is listed once, ordered by theme."""
    listed, stored = [r["theme"] for r in rows], sorted(store.stored_rows())
    if listed == stored:
        return []
    missing, extra = sorted(set(stored) - set(listed)), sorted(set(listed) - set(stored))
    dup = sorted({t for t in listed if listed.count(t) > 1})
    order = "" if listed == sorted(listed) else "; not ordered by theme"
    return [f"missing {missing}, not in the database {extra}, listed twice {dup}{order}"]


def summary_row_problems(rows: list[dict], universes: list[StoredUniverse]) -> list[str]:
    """Each stored universe's row holds its theme, true symbol count, last update, focus, criteria and
    its first members, every column compared."""
    problems = []
    by_theme = {r["theme"]: r for r in rows}
    for u in universes:
        row = by_theme.get(u.theme)
        want = {"theme": u.theme, "symbol_count": len(u.symbols), "last_updated": u.updated_at,
                "focus": u.metadata["focus"], "criteria": u.metadata["criteria"],
                "symbols_sample": u.symbols[:SUMMARY_SAMPLE_SIZE]}
        if row is None:
            problems.append(f"{u.theme}: no summary row")
            continue
        wrong = [f"{k} {_short(row.get(k))}, expected {_short(w)}" for k, w in want.items()
                 if row.get(k) != w]
        if wrong:
            problems.append(f"{u.theme}: {'; '.join(wrong)}")
    return problems


# -- validate_etf_universe_symbols -----------------------------------------------------------------
def symbol_rows(table) -> list[tuple[str, str, bool]]:
    """(symbol, type, active) from a feature table with columns symbol, type, active (yes/no)."""
    return [(r["symbol"], r["type"], r["active"] == "yes") for r in table]


def expected_validation(key: str, table) -> list[dict]:
    """The rows validate_etf_universe_symbols must give for ``key``, from a feature table with columns
    symbol, exists, type, active (yes/no, empty for a symbol that does not exist)."""
    return sorted(({"universe_key": key, "symbol": r["symbol"], "exists_in_symbols": r["exists"] == "yes",
                    "symbol_type": r["type"] or None,
                    "active_status": None if not r["active"] else r["active"] == "yes"} for r in table),
                  key=lambda d: d["symbol"])


def validation_member_problems(rows: list[dict], store: EtfUniverseStore) -> list[str]:
    """One row per member of every universe in the database (members read with plain SQL)."""
    expected = sorted((f"etf_{t}", s) for t, r in store.stored_rows().items() for s in r["symbols"])
    got = sorted((r["universe_key"], r["symbol"]) for r in rows)
    if got == expected:
        return []
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    return [f"{len(got)} rows for {len(expected)} members; missing {missing[:5]}, extra {extra[:5]}"]


# -- update_etf_universe ----------------------------------------------------------------------------
def write_metadata(index: int, liquidity_filter: dict) -> dict:
    """The metadata of the ``index``-th write of a scenario (each write's focus and filter differ)."""
    return {"focus": f"write {index}", "criteria": f"criteria of write {index}",
            "liquidity_filter": liquidity_filter}


def stored_after_write_problems(store: EtfUniverseStore, theme: str, symbols: list[str], metadata: dict,
                                previous_update: datetime | None) -> list[str]:
    """The stored row holds exactly the write's members, metadata and filter (replaced, not merged),
    and a newer last update than before the write."""
    row = store.stored_rows().get(theme)
    if row is None:
        return [f"no universe {theme} stored"]
    want = {"symbols": sorted(set(symbols)), "metadata": metadata,
            "liquidity_filter": metadata.get("liquidity_filter")}
    problems = [f"{k}: stored {_short(row[k])}, the write gave {_short(w)}" for k, w in want.items()
                if row[k] != w]
    moved = previous_update is None or (row["last_updated"] or previous_update) > previous_update
    if row["last_updated"] is None or not moved:
        problems.append(f"last_universe_update {row['last_updated']} did not move on from {previous_update}")
    return problems


# -- get_etf_universe's liquidity filter, on a universe stored with edge facts -------------------
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

    def store(self, store: EtfUniverseStore) -> None:
        """Stored directly (plain SQL as TickStockPL's role), not through update_etf_universe."""
        store.store_directly(self.theme, self.data["symbols"],
                             {"liquidity_filter": self.data["liquidity_filter"],
                              "symbol_facts": self.data["symbol_facts"]}, STORED_AT)

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


def mismatches(got: dict, want: dict) -> dict:
    """The fields of ``want`` that ``got`` has different: field → (expected, got)."""
    return {k: (w, got.get(k)) for k, w in want.items() if got.get(k) != w}


# -- get_etf_universes_summary and validate_etf_universe_symbols ------------------------------
