"""Steps of features/20_test_scenario_integration.feature: each sentence is one call into the checks."""

from behave import given, then, when

from tickstock_acceptance.checks.scenarios import isolation, loader_cli, ohlcv, recognition, timing
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib.expect import no_problems


# -- production untouched (SCN-1) ---------------------------------------------------------------
@given("production symbols and daily bars that TickStockApp reads")
def step_production_fixture(context):
    context.state.scenarios.storage.write_production_fixture()


@given("a snapshot of the production rows of symbols and ohlcv_daily")
def step_production_snapshot(context):
    snapshot = context.state.scenarios.snapshot_production()
    for table, s in snapshot.items():
        evidence.record(f"{table} rows before", s.rows, "rows", note=f"content checksum {s.checksum}")


@given("the producer has generated and loaded every scenario")
@when("the scenario generator generates and loads every scenario")
def step_load_all(context):
    run = context.state.scenarios.load_all()
    evidence.record("scenario generation and loading (process wall time)", run.wall_s, "s",
                    note=f"{run.report.get('rows')} rows")


@then("the production rows of symbols and ohlcv_daily are unchanged in row count and content checksum")
def step_production_unchanged(context):
    flow = context.state.scenarios
    after = flow.storage.production_snapshot()
    for table, s in after.items():
        evidence.record(f"{table} rows after", s.rows, "rows", note=f"content checksum {s.checksum}")
    no_problems(isolation.production_change_problems(flow.production_before, after), "the production rows")


@then("TickStockApp sees none of the synthetic symbols in symbols or ohlcv_daily")
def step_none_visible(context):
    flow = context.state.scenarios
    synthetic = isolation.synthetic_symbols(flow.contract, flow.storage.symbols(), flow.loaded_symbols())
    no_problems(isolation.visible_problems(flow.storage.visible_to_consumer(synthetic)),
                "what TickStockApp reads in production")


# -- pattern detection (SCN-2) ------------------------------------------------------------------
@given("the producer has loaded the scenario {name:ScenarioName}")
def step_load_one(context, name):
    context.state.scenarios.load(name)


@given("TickStockApp observes the channel {channel:ContractChannel}")
def step_observe(context, channel):
    context.state.scenarios.observe(channel)


@when("the pattern detection runs over {symbols:Symbols}")
def step_detect(context, symbols):
    run = context.state.scenarios.detect(symbols)
    evidence.record("pattern events published", run.report.get("published_count", 0), "events")


@then("TickStockApp received every pattern event the detection reports publishing")
def step_received_all(context):
    flow = context.state.scenarios
    report = flow.last_run.report
    no_problems(recognition.delivery_problems(report.get("published_count"), report.get("detections"),
                                              flow.received), "the pattern events")


@then("every pattern planted in {name:ScenarioName} was published for its symbol on its planted date, "
      "marked synthetic")
def step_planted_published(context, name):
    flow = context.state.scenarios
    no_problems(recognition.published_plant_problems(flow.contract.scenarios[name], flow.contract.patterns,
                                                     flow.received), f"the pattern events of {name}")


@then("nothing was published for the symbol of {name:ScenarioName}")
def step_control_silent(context, name):
    flow = context.state.scenarios
    no_problems(recognition.published_for_problems(flow.contract.scenarios[name].symbol, flow.received),
                f"the pattern events of {name}")


@then("every pattern event matches the JSON Schema of pattern_detected")
def step_pattern_schema(context):
    no_problems(recognition.schema_problems(context.state.scenarios.received), "the pattern channel")


# -- generated rows (SCN-3) ---------------------------------------------------------------------
@then("each scenario's symbol holds exactly its contract's number of rows, on consecutive weekdays "
      "ending at the anchor date {anchor:AnchorDate}")
def step_rows_and_dates(context, anchor):
    flow = context.state.scenarios
    bars = flow.storage.bars(flow.contract.symbols)
    no_problems([p for s in flow.contract.scenarios.values()
                 for p in ohlcv.date_problems(s, s.symbol, bars[s.symbol], anchor)], "the scenarios' rows")


@then("each scenario's symbol is a TEST_ symbol of type TEST registered under its scenario")
def step_registered(context):
    flow = context.state.scenarios
    registered = flow.storage.symbols()
    no_problems([p for s in flow.contract.scenarios.values()
                 for p in ohlcv.symbol_problems(s, registered.get(s.symbol))], "the synthetic symbols")


@then("every synthetic row is valid OHLC with a positive volume")
def step_valid_ohlc(context):
    bars = context.state.scenarios.storage.bars()
    evidence.record("synthetic rows checked", sum(len(b) for b in bars.values()), "rows",
                    note=f"{len(bars)} symbols")
    no_problems([p for symbol, rows in bars.items() for p in ohlcv.ohlc_problems(symbol, rows)],
                "the synthetic rows")


@then("the outcome each scenario states, stored and reported by the loader, equals the outcome its rows "
      "give within {tolerance:g}")
def step_stated_outcomes(context, tolerance):
    flow = context.state.scenarios
    reported = {s.get("scenario"): s.get("stated") or {}
                for s in flow.last_load.report.get("scenarios") or []}
    no_problems(ohlcv.every_stated_outcome_problem(flow.contract.scenarios.values(),
                                                   flow.storage.bars(flow.contract.symbols),
                                                   flow.storage.outcomes(), reported, tolerance),
                "the stated outcomes")


@then("each scenario's outcome meets the bounds its contract expects")
def step_expectations(context):
    flow = context.state.scenarios
    bars = flow.storage.bars(flow.contract.symbols)
    for name, value, bound in ohlcv.bounded_figures(flow.contract.scenarios.values(), bars):
        evidence.record(name, value, "ratio", note=bound)
    no_problems(ohlcv.every_expectation_problem(flow.contract.scenarios.values(), bars),
                "the scenarios' outcomes")


# -- TA-Lib recognition (SCN-3) -----------------------------------------------------------------
@when("the suite runs TA-Lib's {functions:TalibFunctions} over the daily bars of {symbols:Symbols}")
def step_run_talib(context, functions, symbols):
    hits = context.state.scenarios.recognise(symbols)
    evidence.record("TA-Lib recognitions", sum(len(d) for h in hits.values() for d in h.values()), "hits",
                    note="; ".join(f"{s}: {sum(len(d) for d in h.values())}" for s, h in hits.items()))


@then("TA-Lib recognises each pattern planted in {name:ScenarioName} on its planted date, "
      "with a tolerance of {tolerance:PatternTolerance} trading days")
def step_talib_planted(context, name, tolerance):
    flow = context.state.scenarios
    s = flow.contract.scenarios[name]
    no_problems(recognition.planted_recognition_problems(s, flow.bars.get(s.symbol, []),
                                                         flow.hits.get(s.symbol, {}), tolerance),
                f"TA-Lib on {name}")


@then("TA-Lib recognises none of the pattern kinds on any other date of {name:ScenarioName}")
@then("TA-Lib recognises none of the pattern kinds on any date of {name:ScenarioName}")
def step_talib_stray(context, name):
    flow = context.state.scenarios
    s = flow.contract.scenarios[name]
    problems = [] if flow.bars.get(s.symbol) else [f"{s.symbol}: no rows"]
    no_problems(problems + recognition.stray_recognition_problems(s, flow.hits.get(s.symbol, {})),
                f"TA-Lib on {name}")


# -- the loader CLI (SCN-4) ---------------------------------------------------------------------
@when("the historical loader lists its scenarios")
def step_list(context):
    flow = context.state.scenarios
    flow.command(flow.producer.list_scenarios())


@then("the list names exactly the contract's scenarios with their symbols, lengths and planted patterns")
def step_listing(context):
    flow = context.state.scenarios
    no_problems(loader_cli.listing_problems(flow.last_run, flow.contract), "the loader's scenario list")


@when("the historical loader is asked for its help")
def step_help(context):
    flow = context.state.scenarios
    flow.command(flow.producer.help("load-history"))


@then("the help exits 0 and names the options {options}")
def step_help_names(context, options):
    named = [o.strip() for o in options.replace(" and ", ", ").split(", ")]
    no_problems(loader_cli.help_problems(context.state.scenarios.last_run, named), "the loader's help")


@given("a snapshot of the synthetic daily bars of every symbol and of the production rows of symbols "
       "and ohlcv_daily")
def step_storage_snapshot(context):
    flow = context.state.scenarios
    flow.snapshot_bars()
    flow.snapshot_production()


@when("the historical loader loads scenario {name:ScenarioName} for {symbols:Symbols}")
def step_load_for(context, name, symbols):
    context.state.scenarios.load(name, symbols, expect_success=False)


@then("{symbols:Symbols} each hold exactly the {rows:d} rows of {name:ScenarioName}")
def step_rows_for(context, symbols, rows, name):
    flow = context.state.scenarios
    after = flow.storage.bars_per_symbol()
    no_problems(loader_cli.load_problems(flow.last_load, flow.contract.scenarios[name], symbols, rows, after,
                                         flow.storage.symbols()), f"loading {name} for {symbols}")


@then("no other synthetic symbol's rows changed")
def step_others_unchanged(context):
    flow = context.state.scenarios
    targets = flow.last_load.extra["symbols"]
    no_problems(loader_cli.others_changed_problems(flow.bars_before, flow.storage.bars_per_symbol(), targets),
                "the other synthetic symbols")


@given("the row counts of the synthetic and production tables")
def step_counts_before(context):
    context.state.scenarios.snapshot_counts()


@when('the historical loader is asked to load scenario "{name}" for symbols "{symbols}"')
def step_bad_load(context, name, symbols):
    context.state.scenarios.load(name, symbols.split(","), expect_success=False)


@then('the loader exits non-zero with exactly one line on stderr, naming "{named}"')
def step_refused(context, named):
    run = context.state.scenarios.last_load
    evidence.record("loader exit code", run.returncode, "code", note=run.stderr.strip()[:500])
    no_problems(loader_cli.refusal_problems(run, named), "the loader's refusal")


@then("the synthetic and production tables hold as many rows as before")
def step_counts_after(context):
    flow = context.state.scenarios
    no_problems(loader_cli.count_change_problems(flow.counts_before, flow.storage.row_counts()),
                "rows written by a refused load")


# -- generation and loading time (SCN-5) ----------------------------------------------------------
@then("the loader's report covers every scenario of the contract with its rows")
def step_report_covers(context):
    flow = context.state.scenarios
    no_problems(timing.coverage_problems(flow.last_load, flow.contract), "the timed load")


@then("generating every scenario took at most the {target:Target}")
def step_generation_within(context, target):
    judge_reported_time(context.state.scenarios.last_load, "generation_s", "scenario generation", target)


@then("loading every scenario took at most the {target:Target}")
def step_loading_within(context, target):
    judge_reported_time(context.state.scenarios.last_load, "loading_s", "scenario loading", target)


def judge_reported_time(run, field: str, what: str, target) -> None:
    """The loader's reported time as evidence with its target (and the process's wall time), then judged."""
    m = evidence.record(f"{what} time (reported by the loader)", timing.reported_seconds(run, field), "s",
                        target, note=f"process wall time {run.wall_s:.2f} s")
    no_problems([] if m.passed else [m.against_target()], what)
