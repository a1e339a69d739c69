"""Steps of features/10_etf_universe_expansion.feature: each sentence is one call into the checks."""

from behave import given, then, when

from tickstock_acceptance.checks.etf import expanded_universes as U
from tickstock_acceptance.checks.etf import market_data, notifications, schema_compatibility
from tickstock_acceptance.checks.etf import stored_universes as S
from tickstock_acceptance.checks.etf.impact import (
    Impact,
    measure_during_expansions,
    measure_without_expansion,
)
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.reference import below_filter
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib.expect import no_problems
from tickstock_acceptance.sut.ui_clients import UiQuerySampler


# -- the schema beside the legacy columns -------------------------------------------------------
@then("cache_entries has these Phase 3 columns")
def step_phase3_columns(context):
    no_problems(schema_compatibility.column_problems(context.system, list(context.table)), "cache_entries")


@then("cache_entries has these Phase 3 indexes")
def step_phase3_indexes(context):
    no_problems(schema_compatibility.index_problems(context.system, list(context.table)), "cache_entries")


@then("a legacy reader selecting by type, name and key sees the same members as get_etf_universe "
      "for every theme")
def step_legacy_reader(context):
    no_problems(schema_compatibility.legacy_reader_problems(context.state.flow.store), "a legacy reader")


@then("a legacy writer naming only the pre-Phase-3 columns can still add a cache entry")
def step_legacy_writer(context):
    got = context.state.flow.store.legacy_write()
    no_problems([] if got == (None, None, None, True) else [f"the Phase 3 columns hold {got}"],
                "a legacy writer")


# -- universes, the historical loader and the liquidity filter ----------------------------------
@then("the ETF universes hold at least {symbols:MinEtfSymbols} distinct ETF symbols across at least "
      "{themes:MinEtfThemes} themes")
def step_universe_size(context, symbols, themes):
    members = context.state.flow.store.members()
    evidence.record("distinct ETF symbols in universes", len(U.distinct_symbols(members)), "symbols",
                    note=f"spec minimum {symbols}")
    evidence.record("ETF universe themes", len(members), "themes", note=f"spec minimum {themes}")
    no_problems(U.size_problems(members, symbols, themes), "the ETF universes are too small")


@then("every member has at least {days:d} daily bars")
def step_bars(context, days):
    no_problems(U.short_histories(context.state.flow.store, days),
                f"members with fewer than {days} daily bars")


@then("validate_etf_universe_symbols reports every member as an existing, active ETF")
def step_validation_all_valid(context):
    rows = context.state.flow.store.validation().value
    no_problems(U.invalid_members(rows) if rows else ["no rows"], "validate_etf_universe_symbols")


@then("the producer's validate command agrees that every member is valid")
def step_cli_validate(context):
    flow = context.state.flow
    no_problems(U.producer_validation_problems(flow.producer.validate(), flow.store.validation().value),
                "the producer's validate command")


@then("Massive's reference data lists every universe member as an existing, active ETF")
def step_market_data(context):
    settings = context.system.settings
    no_problems(market_data.member_problems(U.distinct_symbols(context.state.flow.store.members()),
                                            settings.market_data_url, settings.market_data_key),
                "Massive reference data")


@given("the ETF universe manager has expanded every theme with ETFs added exactly at its thresholds, below "
       "its assets threshold only and below its volume threshold only")
def step_expand_boundaries(context):
    flow = context.state.flow
    flow.expand(source=context.system.scratch_file("test_etf_source_", {"themes": U.boundary_themes()}))


@then("every universe stores the liquidity filter it was built with")
def step_filter_stored(context):
    flow = context.state.flow
    no_problems(U.stored_filter_problems(flow.store, flow.last.source_themes), "stored liquidity filters")


@then("every member meets its universe's liquidity filter")
def step_members_meet_filter(context):
    flow = context.state.flow
    no_problems(U.liquidity_violations(flow.store, flow.last.source_themes),
                "members below their universe's filter")


@then("each universe holds exactly the ETFs at or above both of its theme's thresholds")
def step_exact_membership(context):
    flow = context.state.flow
    excluded = sum(len(below_filter(theme)) for theme in flow.last.source_themes.values())
    evidence.record("ETFs excluded by liquidity filters", excluded, "symbols",
                    note=f"{len(flow.last.source_themes)} themes, each with ETFs at and just below its "
                         "thresholds")
    no_problems(U.membership_problems(flow.store, flow.last.source_themes), "liquidity filtering")


# -- notifications --------------------------------------------------------------------------------
@then("each theme_updated names its theme, the cache key etf_<theme>, its action and the symbol count "
      "stored in the database")
def step_theme_updated_content(context):
    flow = context.state.flow
    no_problems(notifications.stored_update_problems(flow.last, flow.store)
                + notifications.theme_update_problems(flow.last, flow.store), "theme_updated notifications")


@then("the universe_expansion_complete totals match the stored universes")
def step_expansion_totals(context):
    flow = context.state.flow
    no_problems(notifications.expansion_complete_problems(flow.last, flow.store),
                "universe_expansion_complete")


@then("the notifications carry distinct message ids and consecutive sequence numbers from one producer")
def step_identity(context):
    no_problems(notifications.identity_problems(context.state.flow.last), "the notifications' identity")


@then("every notification arrived within the {target:Target}")
def step_delivery_within(context, target):
    flow = context.state.flow
    evidence.assert_within("notification delivery latency", flow.latencies_ms([flow.last]), "ms", target,
                           judged_by="max")


@when('the ETF universe manager expands a source in which theme "{theme}" has a blank symbol')
def step_expand_unwritable(context, theme):
    flow = context.state.flow
    flow.expand(source=flow.source_with_unwritable_theme(theme), expect_success=False)


@then("the producer exits with a failure status")
def step_failure_status(context):
    run = context.state.flow.last.run
    no_problems([] if run.returncode == 1 else [f"exit code {run.returncode}, expected 1 ({run.describe()})"],
                "the producer's exit status")


@then('universe_expansion_complete reports theme "{theme}" as failed with its error')
def step_reports_failed(context, theme):
    no_problems(notifications.failed_theme_problems(context.state.flow.last, theme),
                "universe_expansion_complete")


@then('TickStockApp receives a theme_updated for every other theme and none for "{theme}"')
def step_no_update_for_failed(context, theme):
    flow = context.state.flow
    no_problems(notifications.no_update_for(flow.last, theme)
                + notifications.stored_update_problems(flow.last, flow.store)
                + notifications.sequence_problems(flow.last), "the notifications around a failed theme")


# -- the four functions ---------------------------------------------------------------------------
@given("the reference ETF universes stored directly as TickStockPL's role")
def step_store_reference(context):
    state = context.state
    state.stored = S.reference_universes()
    for universe in state.stored:
        universe.store(state.flow.store)


@given('a universe "{theme}" stored directly whose facts put members exactly at its thresholds, below its '
       'assets threshold only, below its volume threshold only, and one without facts')
def step_store_filter_probe(context, theme):
    probe = context.state.filter_probe = S.FilterProbe(theme)
    probe.store(context.state.flow.store)


@when("TickStockApp reads every stored universe with and without its liquidity filter")
def step_read_all(context):
    state = context.state
    store = state.flow.store
    state.reads = {(u.theme, f): store.universe(u.theme, f) for u in state.stored for f in (False, True)}


@then("each read returns the stored universe whole: cache key, theme, members, count, metadata, liquidity "
      "filter and last update")
def step_read_content(context):
    no_problems(S.read_problems(context.state.reads, context.state.stored), "get_etf_universe")


@then('reading "{theme}" with its liquidity filter drops exactly the members that miss it or have no facts')
def step_probe_filtered(context, theme):
    read_filter_probe(context, theme, apply_filter=True)


@then('reading "{theme}" without its liquidity filter keeps every member')
def step_probe_unfiltered(context, theme):
    read_filter_probe(context, theme, apply_filter=False)


def read_filter_probe(context, theme: str, apply_filter: bool) -> None:
    state = context.state
    read = state.flow.store.universe(theme, apply_filter)
    state.probe_reads.append(read)
    no_problems(S.mismatches(read.value, state.filter_probe.expected_read(apply_filter)),
                f"get_etf_universe({theme}, apply filter {apply_filter}) (expected, got)")


@then('asking for theme "{theme}" returns the error "{message}"')
def step_not_found(context, theme, message):
    read = context.state.reads[(theme, False)] = context.state.flow.store.universe(theme)
    no_problems([] if read.value == {"error": message} else [f"returned {read.value}"],
                f"get_etf_universe({theme}) for an unknown theme")


@then("every read finished within the {target:Target}")
def step_reads_within(context, target):
    state = context.state
    times = [r.ms / 1000.0 for r in [*state.reads.values(), *state.probe_reads]]
    evidence.assert_within("get_etf_universe time", times, "s", target, judged_by="max")


@given('no ETF universe named "{theme}" exists')
def step_no_universe(context, theme):
    context.state.flow.store.delete_test_universes(theme)


@when('TickStockPL writes theme "{theme}" with symbols {symbols:Symbols} and a liquidity filter of '
      '{threshold} {value:d}')
def step_write_theme(context, theme, symbols, threshold, value):
    state = context.state
    state.last_write = (theme, symbols, S.write_metadata(len(state.writes) + 1, {threshold: value}),
                        state.flow.store.stored_rows().get(theme, {}).get("last_updated"))
    state.writes.append(state.flow.store.update_as_producer(theme, symbols, state.last_write[2]))


@then('the write reports action "{action}" with {count:d} symbols, added {added:Symbols} and removed '
      '{removed:Symbols}')
def step_write_reports(context, action, count, added, removed):
    no_problems(S.mismatches(context.state.writes[-1].value, {
        "action": action, "cache_key": f"etf_{context.state.last_write[0]}", "symbols_count": count,
        "added_count": len(added), "removed_count": len(removed), "symbols_added": sorted(added),
        "symbols_removed": sorted(removed)}), "update_etf_universe's report (expected, got)")


@then('the universe "{theme}" holds exactly the members, metadata and liquidity filter of that write')
def step_write_stored(context, theme):
    _, symbols, metadata, before = context.state.last_write
    no_problems(S.stored_after_write_problems(context.state.flow.store, theme, symbols, metadata, before),
                f"the stored universe {theme}")


@then("every write finished within the {target:Target}")
def step_writes_within(context, target):
    evidence.assert_within("update_etf_universe time", [w.ms / 1000.0 for w in context.state.writes],
                           "s", target, judged_by="max")


@when("TickStockApp reads the ETF universes summary")
def step_read_summary(context):
    store = context.state.flow.store
    summaries = context.state.summaries = [store.summary() for _ in range(M.FUNCTION_TIMING_SAMPLES)]
    no_problems([] if all(s.value == summaries[0].value for s in summaries) else
                ["repeated calls disagree"], "get_etf_universes_summary")


@then("the summary lists every ETF universe in the database once, ordered by theme")
def step_summary_lists(context):
    state = context.state
    no_problems(S.summary_listing_problems(state.summaries[0].value, state.flow.store),
                "get_etf_universes_summary")


@then("each stored universe's summary row holds its theme, symbol count, last update, focus, criteria and "
      "first members")
def step_summary_rows(context):
    state = context.state
    no_problems(S.summary_row_problems(state.summaries[0].value, state.stored), "get_etf_universes_summary")


@then("the summary finished within the {target:Target}")
def step_summary_within(context, target):
    evidence.assert_within("get_etf_universes_summary time", [s.ms / 1000.0 for s in context.state.summaries],
                           "s", target, judged_by="max")


@given("these symbols stored directly as TickStockPL's role")
def step_store_symbols(context):
    context.state.flow.store.store_symbols_directly(S.symbol_rows(context.table))


@given('a universe "{theme}" stored directly with symbols {symbols:Symbols}')
def step_store_universe(context, theme, symbols):
    S.StoredUniverse(theme, sorted(symbols), {"focus": "validation", "criteria": "test symbols"}).store(
        context.state.flow.store)


@when("TickStockApp validates the ETF universe symbols")
def step_validate(context):
    store = context.state.flow.store
    validations = context.state.validations = [store.validation() for _ in range(M.FUNCTION_TIMING_SAMPLES)]
    no_problems([] if all(v.value == validations[0].value for v in validations) else
                ["repeated calls disagree"], "validate_etf_universe_symbols")


@then("the validation lists one row per member of every universe in the database")
def step_validation_rows(context):
    state = context.state
    no_problems(S.validation_member_problems(state.validations[0].value, state.flow.store),
                "validate_etf_universe_symbols")


@then('the validation reports the members of "{key}" as')
def step_validation_reports(context, key):
    got = sorted((r for r in context.state.validations[0].value if r["universe_key"] == key),
                 key=lambda r: r["symbol"])
    want = S.expected_validation(key, context.table)
    no_problems([f"reported {got}, expected {want}"] if got != want else [], "validate_etf_universe_symbols")


@then("the validation finished within the {target:Target}")
def step_validation_within(context, target):
    evidence.assert_within("validate_etf_universe_symbols time",
                           [v.ms / 1000.0 for v in context.state.validations], "s", target, judged_by="max")


# -- expansion impact ------------------------------------------------------------------------------
@given("a TickStockApp UI client queries ETF universes continuously")
def step_ui_client(context):
    state = context.state
    themes = state.flow.store.themes()
    no_problems([] if themes else ["no ETF universe to query"], "the UI client")
    state.ui_sampler = UiQuerySampler(context.system, themes).start()
    state.on_close(state.ui_sampler.stop)
    state.impact = Impact()
    state.on_close(state.impact.stop)


@when("UI query and delivery latencies are measured while no large expansion runs")
def step_measure_before(context):
    state = context.state
    measure_without_expansion(state.flow, state.ui_sampler, state.impact)
    no_problems(state.impact.sample_problems("before"), "the measurement before the expansions")


@when("the ETF universe manager expands all themes repeatedly while they are measured again")
def step_measure_during(context):
    state = context.state
    measure_during_expansions(state.flow, state.ui_sampler, state.impact)
    no_problems(state.impact.sample_problems("during"), "the measurement during the expansions")


@then("the expansions covered at least {symbols:MinEtfSymbols} ETF symbols each")
def step_expansion_size(context, symbols):
    state = context.state
    stored = U.distinct_symbols(state.flow.store.members())
    evidence.record("ETF symbols each expansion wrote (stored)", len(stored), "symbols",
                    note=f"{len(state.impact.rounds)} measured expansions; spec minimum {symbols}")
    no_problems(state.impact.size_problems(len(stored), symbols), "the expansions")


@then("the UI query p95 during the expansions is within the {target:Target}")
def step_ui_during(context, target):
    impact = context.state.impact
    judge_before_and_during("UI query latency", impact.ui_before, impact.ui_during, target)


@then("the delivery p95 during the expansions is within the {target:Target}")
def step_delivery_during(context, target):
    impact = context.state.impact
    judge_before_and_during("delivery latency", impact.delivery_before, impact.delivery_during, target)


def judge_before_and_during(name: str, before: list[float], during: list[float], target) -> None:
    """Both distributions and their p95 ratio as evidence; the p95 during the expansions is judged."""
    quiet = evidence.record_distribution(f"{name} before the expansions", before, "ms")
    busy = evidence.record_distribution(f"{name} during the expansions", during, "ms", target)
    evidence.record(f"{name} p95 ratio during/before", busy.value / quiet.value, "x")
    no_problems([] if busy.passed else [f"p95 {busy.value:.1f} ms misses {target.describe()}"], name)


@then("each expansion finished within the {target:Target}")
def step_each_expansion_within(context, target):
    impact = context.state.impact
    evidence.record_distribution("expansion time inside the producer",
                                 [r.run.report["elapsed_s"] for r in impact.rounds]
                                 + [r["elapsed_s"] for r in impact.load_rounds], "s")
    evidence.assert_within("expansion time (process, end to end, incl. interpreter start-up)",
                           [r.run.wall_s for r in impact.rounds], "s", target, judged_by="max")
