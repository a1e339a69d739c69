"""Synthetic data stays out of production (SCN-1, DB-3).

Production readers (TickStockApp) must see no synthetic row, production rows must stay exactly as
they were (row count and content checksum of ``symbols`` and ``ohlcv_daily``), and the database
itself must refuse TickStockApp the synthetic schema — while TickStockPL does see the rows there,
so "nothing visible" cannot pass on an empty load.
"""

from __future__ import annotations

from tickstock_acceptance.contract.scenarios import ScenarioContractSet
from tickstock_acceptance.sut.synthetic_storage import ReadAttempt, TableSnapshot

INSUFFICIENT_PRIVILEGE = "42501"  # SQLSTATE of "permission denied"


def production_change_problems(before: dict[str, TableSnapshot],
                               after: dict[str, TableSnapshot]) -> list[str]:
    """Each production table has the same row count and content checksum as before."""
    problems = []
    for table, was in before.items():
        now = after.get(table)
        if now is None:
            problems.append(f"{table}: not read afterwards")
        elif now.rows != was.rows:
            problems.append(f"{table}: {now.rows - was.rows:+d} rows ({was.rows} before, {now.rows} after)")
        elif now.checksum != was.checksum:
            problems.append(f"{table}: same {now.rows} rows but their content changed "
                            f"(checksum {was.checksum[:8]}… before, {now.checksum[:8]}… after)")
    return problems


def synthetic_symbols(contract: ScenarioContractSet, stored: dict | list, loaded: list[str]) -> list[str]:
    """Every symbol that is synthetic: the contract's, those in the synthetic storage, those loaded."""
    return sorted(set(contract.symbols) | set(stored) | set(loaded))


def visible_problems(visible: dict[str, list[str]]) -> list[str]:
    """TickStockApp sees no synthetic symbol in any production table."""
    return [f"{table} shows synthetic rows of {symbols}" for table, symbols in visible.items() if symbols]


def refusal_problems(attempts: list[ReadAttempt]) -> list[str]:
    """The database refused every read of a synthetic table with its permission error."""
    problems = []
    for a in attempts:
        if a.allowed:
            problems.append(f"{a.table}: TickStockApp read it ({a.rows} rows)")
        elif a.sqlstate != INSUFFICIENT_PRIVILEGE:
            problems.append(f"{a.table}: refused, but not for lack of privilege (SQLSTATE {a.sqlstate}: "
                            f"{a.message})")
    if not attempts:
        problems.append("no synthetic table was tried")
    return problems


def producer_sees_problems(contract: ScenarioContractSet, bars_per_symbol: dict[str, tuple[int, str]],
                           attempts: list[ReadAttempt]) -> list[str]:
    """TickStockPL reads every synthetic table and the rows of every contract scenario there."""
    problems = [f"{a.table}: TickStockPL cannot read it (SQLSTATE {a.sqlstate}: {a.message})"
                for a in attempts if not a.allowed]
    for s in contract.scenarios.values():
        rows = bars_per_symbol.get(s.symbol, (0, ""))[0]
        if rows != s.days:
            problems.append(f"{s.symbol}: TickStockPL sees {rows} synthetic rows, the contract says {s.days}")
    return problems
