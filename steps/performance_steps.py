"""Steps for concurrent-load targets (PERF-2, and DB-2's queries): one call into ``load`` per sentence."""

import time

from behave import then, when
from hamcrest import assert_that, empty, equal_to, greater_than_or_equal_to

from tickstock_acceptance.checks.etf.universe_flow import flow_of
from tickstock_acceptance.config import targets as T
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib import parameter_types  # noqa: F401  (registers parameter types)
from tickstock_acceptance.sut.ui_clients import concurrent_universe_queries


@when("{clients:d} TickStockApp clients each run {queries:d} ETF universe queries at the same time")
def step_concurrent_queries(context, clients, queries):
    context.clients = clients
    start = time.time()
    context.load_result = concurrent_universe_queries(context.system, flow_of(context).checks.themes(),
                                                      clients, queries)
    context.load_window = (start, time.time())
    context.expected_queries = clients * queries


@then("every query succeeded")
def step_all_succeeded(context):
    result = context.load_result
    assert_that(result.errors, empty())
    assert_that(len(result.samples), equal_to(context.expected_queries))


@then("at least the spec's concurrent operations count of queries were in flight at the same time")
def step_enough_in_flight(context):
    peak = context.load_result.peak_in_flight
    evidence.record("peak ETF universe queries in flight", peak, "queries",
                    note=f"from {len(context.load_result.samples)} samples' start/end times; "
                         f"{context.clients} clients started; "
                         f"spec: {T.CONCURRENT_OPERATIONS}+ concurrent operations")
    assert_that(peak, greater_than_or_equal_to(T.CONCURRENT_OPERATIONS), "peak queries in flight")


@then("every ETF universe query finished within the {target:NamedTarget} target")
def step_every_query_within(context, target):
    """All queries, as the sentence says: judged by the slowest (p50/p95/p99 stay in the evidence)."""
    samples = context.load_result.latencies_ms
    unit = target.unit
    values = [ms / 1000.0 for ms in samples] if unit == "s" else samples
    evidence.record("queries per second", len(samples) / context.load_result.elapsed_s, "q/s",
                    higher_is_better=True)
    evidence.assert_within(f"ETF universe query latency ({context.clients} clients)", values, unit, target,
                           judged_by="max")
