"""Steps for the environment validation feature: each sentence is one call on EnvironmentProbe."""

from behave import given, then
from hamcrest import assert_that, empty, equal_to, has_items

from tickstock_acceptance.checks.environment.probe import EnvironmentProbe
from tickstock_acceptance.contract import CHANNEL_NAMING_PATTERN
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib import parameter_types  # noqa: F401  (registers parameter types)

SAMPLES = 20


@given("the test database, connected as TickStockApp")
def step_test_database(context):
    context.probe = EnvironmentProbe(context.system)


@then("it answers queries within the {target:Target} target")
def step_answers_within(context, target):
    samples = [context.probe.database_round_trip_ms() for _ in range(SAMPLES)]
    evidence.assert_within("database round trip (connect + query)", samples, "ms", target)


@then("the catalog lists these columns on {table}")
def step_catalog_columns(context, table):
    assert_that(context.probe.columns_of(table), has_items(*[r["column"] for r in context.table]))


@then("the catalog lists these indexes on {table}")
def step_catalog_indexes(context, table):
    assert_that(context.probe.indexes_of(table), has_items(*[r["index"] for r in context.table]))


@then("the catalog lists these functions")
def step_catalog_functions(context):
    assert_that(context.probe.functions(), has_items(*[r["function"] for r in context.table]))


@given("the test Redis")
def step_test_redis(context):
    context.probe = EnvironmentProbe(context.system)


@then("logical databases {dbs:IntList} each answer and keep a value written to them")
def step_redis_dbs_usable(context, dbs):
    for db in dbs:
        samples = [context.probe.redis_round_trip_ms(db) for _ in range(SAMPLES)]
        evidence.record_distribution(f"redis db {db} round trip", samples, "ms")
        key = context.probe.write_marker(db)
        assert_that(context.probe.read_marker(db, key), equal_to(str(db)), f"database {db}")


@then("a value written to one of logical databases {dbs:IntList} is invisible in the others")
def step_redis_dbs_isolated(context, dbs):
    seen = context.probe.visibility(dbs)
    leaks = [f"{w}->{r}" for (w, r), visible in seen.items() if visible and w != r]
    missing = [str(w) for (w, r), visible in seen.items() if not visible and w == r]
    assert_that(leaks, empty(), "values leaked between logical databases")
    assert_that(missing, empty(), "values not readable in their own database")


@given("the channels TickStockPL is configured to publish Phase 3 notifications on")
def step_configured_channels(context):
    context.channels = EnvironmentProbe(context.system).configured_channels()


@then("the configuration includes these channels")
def step_includes_channels(context):
    assert_that(context.channels, has_items(*[r["channel"] for r in context.table]))


@then("every configured channel follows the channel naming convention")
def step_channel_convention(context):
    bad = sorted(c for c in context.channels if not EnvironmentProbe.matches_naming_pattern(c))
    assert_that(bad, empty(), f"channels not matching {CHANNEL_NAMING_PATTERN.pattern}")
