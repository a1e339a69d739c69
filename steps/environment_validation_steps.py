"""Steps of features/00_environment_validation.feature: one call per sentence (EnvironmentProbe, or the
database contract's problem finder)."""

from behave import given, then

from tickstock_acceptance.checks.environment.database_contract import database_contract_differences
from tickstock_acceptance.checks.environment.probe import (
    EnvironmentProbe,
    misnamed_channels,
    missing_channels,
    slots_vs_cluster,
    table_vs_contract,
)
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib.expect import no_problems


@given("the test database, connected as TickStockApp")
@given("the test Redis")
def step_probe(context):
    context.state.probe = EnvironmentProbe(context.system)


@then("it answers queries within the {target:Target}")
def step_answers_within(context, target):
    samples = [context.state.probe.database_round_trip_ms() for _ in range(M.ROUND_TRIP_SAMPLES)]
    evidence.assert_within("database round trip (connect + query)", samples, "ms", target)


@then("the catalog matches the database contract")
def step_catalog_matches_contract(context):
    no_problems(database_contract_differences(context.system),
                "the database does not match its contract (contract/database.toml)")


@then("logical databases {dbs:TestDatabases} each answer and keep a value written to them")
def step_redis_dbs_usable(context, dbs):
    probe = context.state.probe
    for db in dbs:
        samples = [probe.redis_round_trip_ms(db) for _ in range(M.ROUND_TRIP_SAMPLES)]
        evidence.record_distribution(f"redis db {db} round trip", samples, "ms")
    no_problems(probe.unusable_databases(dbs), "Redis logical databases")


@then("a value written to one of logical databases {dbs:TestDatabases} is invisible in the others")
def step_redis_dbs_isolated(context, dbs):
    no_problems(context.state.probe.isolation_problems(dbs), "Redis logical databases are not isolated")


@then("every primary of the cluster answers and all {slots:d} slots are served")
def step_cluster_served(context, slots):
    probe = context.state.probe
    problems = probe.cluster_problems()
    for node, samples in probe.primary_round_trips.items():
        if samples:
            evidence.record_distribution(f"redis primary {node} round trip", samples, "ms")
    no_problems(problems + slots_vs_cluster(slots), "the Redis Cluster is not fully served")


@then("each primary keeps a value written in the run's namespace and the cluster reads it back")
def step_cluster_keeps(context):
    no_problems(context.state.probe.primaries_not_keeping(), "Redis Cluster primaries")


@given("the channels TickStockPL is configured to publish Phase 3 notifications on")
def step_configured_channels(context):
    context.state.probe = EnvironmentProbe(context.system)
    context.state.channels = context.state.probe.configured_channels()


@then("the configuration includes these channels")
def step_includes_channels(context):
    listed = [r["channel"] for r in context.table]
    no_problems(table_vs_contract(listed), "the feature's channel table")
    state = context.state
    no_problems(missing_channels(state.channels, listed, state.probe.outside_namespace),
                "TickStockPL's channel configuration")


@then("every configured channel follows the channel naming convention")
def step_channel_convention(context):
    no_problems(misnamed_channels(context.state.channels), "TickStockPL's channel configuration")
