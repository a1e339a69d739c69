"""Sentences that put TickStockApp's UI clients under concurrent load, shared by several features."""

import time

from behave import then, when

from tickstock_acceptance.checks.perf import concurrency
from tickstock_acceptance.steplib.expect import no_problems
from tickstock_acceptance.steplib.state import QueryLoad
from tickstock_acceptance.sut.ui_clients import concurrent_universe_queries


@when("{clients:d} TickStockApp clients each run {queries:d} ETF universe queries at the same time")
def step_concurrent_queries(context, clients, queries):
    state = context.state
    start = time.time()
    result = concurrent_universe_queries(state.system, state.flow.store.themes(), clients, queries)
    state.load = QueryLoad(clients, queries, result, (start, time.time()))


@then("every query succeeded")
def step_all_succeeded(context):
    load = context.state.load
    no_problems(concurrency.query_problems(load.result, load.expected_queries),
                f"{load.clients} concurrent TickStockApp clients")
