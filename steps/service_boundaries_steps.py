"""Steps of features/60_service_boundaries.feature: each sentence is one call into the checks."""

from behave import given, then

from tickstock_acceptance.checks.scenarios import separation
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib.expect import no_problems


# -- scenario generation stays separate (SVC-3) ---------------------------------------------------
@given("the database's write statistics of every table")
def step_statistics_before(context):
    before = context.state.scenarios.snapshot_statistics()
    evidence.record("tables in the database's statistics", len(before), "tables")


@then("the database's statistics show no row inserted, updated or deleted in any table outside the "
      "synthetic schema")
def step_no_production_writes(context):
    flow = context.state.scenarios
    delta = flow.statistics_changes()
    for table, d in sorted(delta.items()):
        evidence.record(f"rows written to {table}", d.inserted + d.updated + d.deleted, "rows",
                        note=f"{d.inserted} inserted, {d.updated} updated, {d.deleted} deleted")
    no_problems(separation.production_write_problems(delta, flow.contract.schema),
                "writes outside the synthetic schema")


@then("the database's statistics show the loaded rows written to the synthetic daily bars")
def step_synthetic_written(context):
    flow = context.state.scenarios
    no_problems(separation.synthetic_growth_problems(flow.statistics_changes(), flow.contract.bars_table,
                                                     flow.rows_of_every_scenario),
                "the synthetic tables' statistics (the check's positive control)")


@then("the observer saw no message on any tickstock channel")
def step_no_messages(context):
    received = context.state.flow.observer.snapshot()
    evidence.record("messages observed on tickstock channels", len(received), "messages")
    no_problems(separation.message_problems(received), "the tickstock channels")
