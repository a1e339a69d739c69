"""Steps for database integration (DB-1, DB-2): each sentence is one call into the support code."""

from behave import given, then, when
from hamcrest import assert_that, empty, equal_to, greater_than_or_equal_to, is_in

from tickstock_acceptance import evidence, step_types  # noqa: F401  (registers parameter types)
from tickstock_acceptance.legacy_compat import LEGACY_QUERIES, LegacyCompatibility
from tickstock_acceptance.load import StockUniverseWriter, stock_universes
from tickstock_acceptance.universe_flow import flow_of

PHASE3_COLUMNS = ["universe_category", "liquidity_filter", "universe_metadata", "last_universe_update"]


# -- DB-1 -----------------------------------------------------------------------------------------
@given("a scratch database the run owns, migrated only to the pre-Phase-3 schema")
def step_scratch_db(context):
    compat = context.compat = LegacyCompatibility(context.system)
    context.add_cleanup(compat.drop)
    compat.create_pre_phase3_database()
    assert_that(compat.report.applied_before, equal_to([1]))


@given("legacy rows written the way pre-Phase-3 code wrote them")
def step_legacy_rows(context):
    context.compat.write_legacy_rows()


@given("the answers of the legacy queries")
def step_legacy_answers(context):
    context.compat.read_before()


@when("the Phase 3 migration is applied to that database")
def step_apply_phase3(context):
    context.compat.migrate()
    evidence.record("migrations applied in the scenario", len(context.compat.report.applied_after), "files",
                    note=f"versions {context.compat.report.applied_after}")
    assert_that(2, is_in(context.compat.report.applied_after), "002 (Phase 3 columns) was applied")


@then("the Phase 3 columns were added after the legacy columns")
def step_columns_after(context):
    assert_that(context.compat.report.new_columns[-4:], equal_to(PHASE3_COLUMNS))


@then("every legacy query answers exactly as before")
def step_same_answers(context):
    context.compat.read_after()
    report = context.compat.report
    assert_that(sorted(report.before), equal_to(sorted(LEGACY_QUERIES)))
    assert_that(all(report.before.values()), equal_to(True), "every legacy query returned rows before")
    assert_that(report.differences(), empty())


@then("a legacy insert still works and leaves the Phase 3 columns empty or defaulted")
def step_legacy_insert(context):
    assert_that(context.compat.legacy_insert_after(), equal_to((None, None, None, True)))


# -- DB-2 -----------------------------------------------------------------------------------------
@given("TickStockPL rewrites the stock universes continuously")
def step_stock_writer(context):
    context.etf_before = flow_of(context).checks.members()
    writer = context.stock_writer = StockUniverseWriter(context.system).start()
    context.add_cleanup(writer.stop)


@then("the stock universe rewrites overlapped the queries and none of them failed")
def step_writer_overlap(context):
    writer = context.stock_writer.stop()
    window = context.load_window
    overlapping = len(writer.between(*window))
    evidence.record("stock universe rewrites during the queries", overlapping, "rounds")
    evidence.record_distribution("stock universe rewrite time", writer.latencies_ms or [0.0], "ms")
    assert_that(writer.errors, empty())
    assert_that(overlapping, greater_than_or_equal_to(3), "rewrites overlapping the query window")


@then("the stock universes hold what the last rewrite computed")
def step_stock_universes(context):
    writer = context.stock_writer
    assert_that(writer.stored_universes(), equal_to(stock_universes(writer.last_caps)))


@then("the ETF universes are unchanged by the stock universe maintenance")
def step_etf_unchanged(context):
    assert_that(flow_of(context).checks.members(), equal_to(context.etf_before))
