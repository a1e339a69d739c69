"""Steps of features/40_database_integration.feature: each sentence is one call into the checks."""

from behave import given, then, when

from tickstock_acceptance.checks.database.coexistence import StockUniverseMaintenance
from tickstock_acceptance.checks.database.legacy_compat import PHASE3, PRE_PHASE3, LegacyCompatibility
from tickstock_acceptance.checks.scenarios import isolation
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.database import REQUIRED_SCHEMA_COLUMNS
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib.expect import no_problems


# -- backward compatibility ------------------------------------------------------------------
@given("a scratch database the run owns, migrated only to the pre-Phase-3 schema")
def step_scratch_db(context):
    compat = context.state.compat = LegacyCompatibility(context.system)
    context.state.on_close(compat.drop)
    compat.create_pre_phase3_database()
    applied = compat.report.applied_before
    no_problems([] if applied == [PRE_PHASE3] else [f"migrations {applied} applied, expected [{PRE_PHASE3}]"],
                "the pre-Phase-3 schema")


@given("legacy rows written the way pre-Phase-3 code wrote them")
def step_legacy_rows(context):
    context.state.compat.write_legacy_rows()


@given("the answers of the legacy queries")
def step_legacy_answers(context):
    context.state.compat.read_before()


@when("the Phase 3 migration is applied to that database")
def step_apply_phase3(context):
    report = context.state.compat.report
    context.state.compat.migrate()
    evidence.record("migrations applied in the scenario", len(report.applied_after), "files",
                    note=f"versions {report.applied_after}")
    no_problems([] if PHASE3 in report.applied_after else
                [f"applied {report.applied_after}, not {PHASE3:03d}"],
                "the Phase 3 migration")


@then("the Phase 3 columns were added after the legacy columns")
def step_columns_after(context):
    columns = context.state.compat.report.new_columns
    no_problems([] if columns[-len(REQUIRED_SCHEMA_COLUMNS):] == list(REQUIRED_SCHEMA_COLUMNS) else
                [f"cache_entries columns are {columns}"], "the Phase 3 columns")


@then("every legacy query answers exactly as before")
def step_same_answers(context):
    context.state.compat.read_after()
    no_problems(context.state.compat.report.problems(), "legacy queries after the Phase 3 migration")


@then("a legacy insert still works and leaves the Phase 3 columns empty or defaulted")
def step_legacy_insert(context):
    got = context.state.compat.legacy_insert_after()
    no_problems([] if got == (None, None, None, True) else [f"the new columns hold {got}"],
                "a legacy insert after the migration")


# -- stock universes beside ETF universes ------------------------------------------------------
@given("TickStockPL maintains the stock universes continuously")
def step_stock_maintenance(context):
    state = context.state
    state.etf_before = state.flow.store.members()
    state.maintenance = StockUniverseMaintenance(context.system)
    state.on_close(state.maintenance.stop)
    state.maintenance.start()


@then("the stock universe maintenance overlapped the queries and none of its rewrites failed")
def step_maintenance_overlap(context):
    state = context.state
    problems = state.maintenance.problems(state.load.window, M.COEXIST_MIN_OVERLAPPING_REWRITES)
    windows = state.maintenance.round_windows
    if windows:
        evidence.record_distribution("stock universe rewrite time", [(b - a) * 1000.0 for a, b in windows],
                                     "ms")
    no_problems(problems, "stock universe maintenance beside the ETF universe queries")


@then("the ETF universe queries were not held up beyond the {target:Target}")
def step_no_blocking(context, target):
    load = context.state.load
    evidence.assert_within(f"ETF universe query latency beside stock maintenance ({load.clients} clients)",
                           load.result.latencies_ms, "ms", target, judged_by=M.BLOCKING_PERCENTILE)


@then("the stock universes agree with the market caps in the symbols table")
def step_stock_universes(context):
    no_problems(context.state.maintenance.tier_problems(), "the stock universes")


@then("the ETF universes are unchanged by the stock universe maintenance")
def step_etf_unchanged(context):
    state = context.state
    after = state.flow.store.members()
    changed = sorted(t for t in set(after) | set(state.etf_before) if after.get(t) != state.etf_before.get(t))
    no_problems([f"{t} changed" for t in changed], "the ETF universes during stock universe maintenance")


# -- synthetic data isolated (DB-3) --------------------------------------------------------------
@then("TickStockPL's identity reads the rows of every scenario in the synthetic schema")
def step_producer_reads_synthetic(context):
    flow = context.state.scenarios
    per_symbol = flow.storage.bars_per_symbol(role="producer")
    evidence.record("synthetic rows TickStockPL reads", sum(n for n, _ in per_symbol.values()), "rows",
                    note=f"{len(per_symbol)} symbols")
    no_problems(isolation.producer_sees_problems(flow.contract, per_symbol, flow.storage.reads("producer")),
                "the synthetic schema as TickStockPL")


@then("the database refuses TickStockApp every table of the synthetic schema for lack of privilege")
def step_consumer_refused(context):
    attempts = context.state.scenarios.storage.reads("consumer")
    refused = [a for a in attempts if not a.allowed]
    evidence.record("synthetic tables the database refused TickStockApp", len(refused), "tables",
                    note="; ".join(f"{a.table}: SQLSTATE {a.sqlstate} {a.message}" for a in refused)
                    or f"none of {len(attempts)} refused")
    no_problems(isolation.refusal_problems(attempts), "TickStockApp on the synthetic schema")
