"""Concurrent TickStockApp clients: did every query succeed, and was the load really concurrent?

"In flight at the same time" is counted from the queries' own start and end times (a sweep over
them), never assumed from the number of clients started.
"""

from __future__ import annotations

from tickstock_acceptance.sut.ui_clients import LoadResult


def query_problems(result: LoadResult, expected_queries: int) -> list[str]:
    """Every query answered: no error, and as many samples as queries were asked for."""
    problems = [f"a query failed: {e}" for e in result.errors[:5]]
    if len(result.errors) > 5:
        problems.append(f"(+{len(result.errors) - 5} more failed queries)")
    if len(result.samples) != expected_queries:
        problems.append(f"{len(result.samples)} of {expected_queries} queries answered")
    return problems


def in_flight_problems(result: LoadResult, minimum: int) -> list[str]:
    """At least ``minimum`` queries were in flight at one instant."""
    peak = result.peak_in_flight
    return [] if peak >= minimum else [f"at most {peak} queries were in flight at once, need {minimum}"]
