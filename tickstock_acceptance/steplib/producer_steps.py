"""Sentences that drive TickStockPL (the producer, a separate process), shared by several features."""

from behave import given, when

from tickstock_acceptance.reporting import evidence


@given("the ETF universe manager has expanded all themes")
@when("the ETF universe manager expands all themes")
def step_expand_all(context):
    context.state.flow.expand()


@given("the historical loader has loaded {days:d} trading days of daily bars for the ETF universe members")
@when("the historical loader loads {days:d} trading days of daily bars for the ETF universe members")
def step_load_history(context, days):
    run = context.state.flow.producer.load_history(days)
    if run.returncode != 0:
        raise AssertionError(f"the historical loader failed: {run.describe()}")
    context.state.loaded = run.report
    evidence.record("historical load", run.report["elapsed_s"], "s",
                    note=f"{run.report['symbols']} symbols, {run.report['bars']} bars")
