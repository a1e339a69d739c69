"""Scenario generation stays separate from production data flows (SVC-3).

Judged by what the system itself records, not by the producer's word: the database's cumulative
write statistics (``pg_stat_user_tables``: rows inserted, updated, deleted per table) before and
after generating and loading, and an observer on every TickStock channel. Every table outside the
synthetic schema must show no write; the synthetic tables must show the load's inserts (a
statistics view that never moves would otherwise pass vacuously).
"""

from __future__ import annotations

from collections.abc import Sequence

from tickstock_acceptance.sut.subscriber import Received
from tickstock_acceptance.sut.synthetic_storage import WriteCounters


def changes(before: dict[str, WriteCounters], after: dict[str, WriteCounters]) -> dict[str, WriteCounters]:
    """Table → rows inserted, updated, deleted between the two readings (tables that changed only)."""
    delta = {t: now.minus(before.get(t)) for t, now in after.items()}
    return {t: d for t, d in delta.items() if d.any}


def in_schema(table: str, schema: str) -> bool:
    return table.split(".", 1)[0] == schema


def production_write_problems(delta: dict[str, WriteCounters], synthetic_schema: str) -> list[str]:
    """No table outside the synthetic schema was written (named with its counts)."""
    return [f"{table}: {d.inserted} inserted, {d.updated} updated, {d.deleted} deleted"
            for table, d in sorted(delta.items()) if not in_schema(table, synthetic_schema)]


def synthetic_growth_problems(delta: dict[str, WriteCounters], bars_table: str,
                              expected_rows: int) -> list[str]:
    """The synthetic daily bars table shows at least the rows the load wrote (the positive control)."""
    got = delta.get(bars_table, WriteCounters(0, 0, 0))
    if got.inserted + got.updated < expected_rows:
        return [f"{bars_table}: the statistics show {got.inserted} inserted and {got.updated} updated rows, "
                f"the load wrote {expected_rows}"]
    return []


def message_problems(received: Sequence[Received]) -> list[str]:
    """Nothing was published on any TickStock channel."""
    by_channel: dict[str, list[str]] = {}
    for r in received:
        by_channel.setdefault(r.channel, []).append(r.event_type or "unparsed message")
    return [f"{len(types)} message(s) on {channel}: {sorted(set(types))}"
            for channel, types in by_channel.items()]
