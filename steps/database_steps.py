"""Steps for database integration (DB-1, DB-2): each sentence is one call into the support code."""

from behave import given, then, when
from hamcrest import assert_that, empty, equal_to, greater_than_or_equal_to, has_length, is_in, is_not

from tickstock_acceptance.checks.database.legacy_compat import LEGACY_QUERIES, LegacyCompatibility
from tickstock_acceptance.checks.etf.universe_flow import flow_of
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib import parameter_types  # noqa: F401  (registers parameter types)
from tickstock_acceptance.sut.ui_clients import STOCK_SYMBOL_COUNT, StockUniverseMaintenance, stock_universes

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
@given("TickStockPL maintains the stock universes continuously")
def step_stock_maintenance(context):
    context.etf_before = flow_of(context).checks.members()
    maintenance = context.stock_maintenance = StockUniverseMaintenance(context.system)
    context.add_cleanup(maintenance.stop)
    maintenance.start()


@then("the stock universe maintenance overlapped the queries and none of its rewrites failed")
def step_maintenance_overlap(context):
    run = context.stock_maintenance.stop()
    assert_that(run.returncode, equal_to(0), run.describe())
    windows = context.stock_maintenance.round_windows
    assert_that(windows, is_not(empty()), "rewrite rounds reported by the producer")
    start, end = context.load_window
    overlapping = [w for w in windows if w[0] <= end and w[1] >= start]
    evidence.record("stock universe rewrites during the queries", len(overlapping), "rounds",
                    note=f"{len(windows)} rounds in all")
    evidence.record_distribution("stock universe rewrite time", [(b - a) * 1000.0 for a, b in windows], "ms")
    assert_that(run.report.get("errors"), empty())
    assert_that(len(overlapping), greater_than_or_equal_to(M.COEXIST_MIN_OVERLAPPING_REWRITES),
                "rewrites overlapping the query window")


@then("the ETF universe queries were not held up beyond the {target:NamedTarget} target")
def step_no_blocking(context, target):
    """Judged on targets.DB2_BLOCKING_PERCENTILE of the queries; the max is in the evidence."""
    samples = context.load_result.latencies_ms
    assert_that(samples, is_not(empty()), "no query samples")
    evidence.assert_within(f"ETF universe query latency beside stock maintenance ({context.clients} clients)",
                           samples, "ms", target, judged_by=M.BLOCKING_PERCENTILE)


@then("the stock universes agree with the market caps in the symbols table")
def step_stock_universes(context):
    maintenance = context.stock_maintenance
    caps = maintenance.stored_market_caps()
    assert_that(caps, has_length(STOCK_SYMBOL_COUNT), "maintained stock symbols")
    assert_that(maintenance.stored_universes(), equal_to(stock_universes(caps)))


@then("the ETF universes are unchanged by the stock universe maintenance")
def step_etf_unchanged(context):
    assert_that(flow_of(context).checks.members(), equal_to(context.etf_before))
