"""Steps of features/70_target_compliance.feature: each sentence is one call into the checks."""

from behave import then

from tickstock_acceptance.checks.perf import concurrency
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib.expect import no_problems


@then("at least {operations:ConcurrentOperations} queries were in flight at the same time")
def step_enough_in_flight(context, operations):
    load = context.state.load
    peak = load.result.peak_in_flight
    evidence.record("peak ETF universe queries in flight", peak, "queries",
                    note=f"from {len(load.result.samples)} samples' start/end times; {load.clients} clients "
                         f"started; spec: {operations}+ concurrent operations")
    no_problems(concurrency.in_flight_problems(load.result, operations),
                f"{operations} concurrent operations")


@then("every ETF universe query finished within the {target:Target}")
def step_every_query_within(context, target):
    """All queries, as the sentence says: judged by the slowest (p50/p95/p99 stay in the evidence)."""
    load = context.state.load
    samples = load.result.latencies_ms
    values = [ms / 1000.0 for ms in samples] if target.unit == "s" else samples
    evidence.record("queries per second", len(samples) / load.result.elapsed_s, "q/s", higher_is_better=True)
    evidence.assert_within(f"ETF universe query latency ({load.clients} clients)", values, target.unit,
                           target, judged_by="max")
