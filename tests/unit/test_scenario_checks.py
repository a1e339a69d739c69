"""The Test Scenario Integration problem finders (checks/scenarios): each finds what it must, and
nothing in data that is right. Pure functions on hand-made data; no servers."""

from datetime import date

import pytest

from tickstock_acceptance.checks.scenarios import (
    isolation,
    loader_cli,
    ohlcv,
    recognition,
    separation,
    timing,
)
from tickstock_acceptance.contract.scenarios import scenario_contract, weekdays_ending
from tickstock_acceptance.steplib.parameter_types import (
    SpecMismatch,
    parse_anchor_date,
    parse_pattern_tolerance,
    parse_scenario_name,
    parse_talib_functions,
)
from tickstock_acceptance.sut.producer import ProducerRun
from tickstock_acceptance.sut.subscriber import Received
from tickstock_acceptance.sut.synthetic_storage import Bar, ReadAttempt, TableSnapshot, WriteCounters

C = scenario_contract()
HIGH_LOW = C.scenarios["high_low_events"]
PATTERNS = C.scenarios["candlestick_patterns"]
CONTROL = C.scenarios["pattern_control"]


def series(scenario, closes=None) -> list[Bar]:
    days = weekdays_ending(C.anchor_date, scenario.days)
    closes = closes or [100.0 + i for i in range(len(days))]
    return [Bar(d, c, c + 1, c - 1, c, 1000) for d, c in zip(days, closes, strict=True)]


def run(returncode=0, report=None, stdout="", stderr="") -> ProducerRun:
    return ProducerRun(["producer"], returncode, report or {}, stdout, stderr, 0.0, 1.0)


# -- the contract ---------------------------------------------------------------------------------
def test_the_contract_has_the_original_scenarios_a_planted_series_and_its_control():
    original = {"crash_2020", "growth_2021", "volatility_periods", "trend_changes", "high_low_events"}
    assert original <= set(C.scenarios)
    assert [s.name for s in C.planted_series()] == ["candlestick_patterns"]
    assert [s.name for s in C.control_series()] == ["pattern_control"]
    assert C.schema == "synthetic" and C.pattern_date_tolerance_days == 0
    days = weekdays_ending(date(2026, 10, 30), 6)
    assert days[-1] == date(2026, 10, 30) and days[0] == date(2026, 10, 23) and len(days) == 6


# -- rows and outcomes ------------------------------------------------------------------------------
def test_outcome_math():
    assert ohlcv.total_return([100, 120, 90, 110]) == pytest.approx(0.10)
    assert ohlcv.max_drawdown([100, 120, 90, 110]) == pytest.approx(0.25)
    assert ohlcv.max_drawdown([1, 2, 3]) == 0.0


def test_rows_on_the_contracts_weekdays_pass_and_each_departure_is_named():
    good = series(HIGH_LOW)
    assert ohlcv.date_problems(HIGH_LOW, HIGH_LOW.symbol, good, C.anchor_date) == []
    assert "62 rows" in ohlcv.date_problems(HIGH_LOW, "S", good[1:], C.anchor_date)[0]
    late = good[:-1] + [Bar(date(2026, 11, 2), 1, 2, 0.5, 1.5, 1)]
    assert any("anchor date" in p for p in ohlcv.date_problems(HIGH_LOW, "S", late, C.anchor_date))
    weekend = good[:-2] + [Bar(date(2026, 10, 25), 1, 2, 0.5, 1.5, 1), good[-1]]
    assert any("weekend" in p for p in ohlcv.date_problems(HIGH_LOW, "S", weekend, C.anchor_date))
    gap = [Bar(date(2026, 7, 27), 1, 2, 0.5, 1.5, 1)] + good[:10] + good[11:]
    assert any("missing" in p for p in ohlcv.date_problems(HIGH_LOW, "S", gap, C.anchor_date))


def test_an_invalid_ohlc_row_or_a_zero_volume_is_named_with_its_date():
    good = series(HIGH_LOW)
    assert ohlcv.ohlc_problems("S", good) == []
    bad = good[:3] + [Bar(good[3].date, 10, 9.5, 9, 11, 100), Bar(good[4].date, 10, 11, 9, 10, 0)]
    problems = ohlcv.ohlc_problems("S", bad)
    assert len(problems) == 2 and str(good[3].date) in problems[0] and "volume 0" in problems[1]


def test_a_stated_outcome_must_equal_what_the_rows_give():
    bars = series(HIGH_LOW)
    actual = ohlcv.outcome_of(HIGH_LOW, bars)
    stated = dict(actual)
    assert ohlcv.stated_outcome_problems(HIGH_LOW, "S", stated, actual, 1e-6, "the report") == []
    off = dict(actual, max_drawdown=actual["max_drawdown"] + 0.01, last_date="2026-10-29")
    problems = ohlcv.stated_outcome_problems(HIGH_LOW, "S", off, actual, 1e-6, "the report")
    assert len(problems) == 2 and all("the report states" in p for p in problems)
    assert ohlcv.stated_outcome_problems(HIGH_LOW, "S", None, actual, 1e-6, "the outcomes table")


def test_an_outcome_below_the_contracts_bound_is_named():
    crash = C.scenarios["crash_2020"]
    assert ohlcv.expectation_problems(crash, {"max_drawdown": 0.35, "total_return": -0.1}) == []
    assert "at least 0.3" in ohlcv.expectation_problems(crash, {"max_drawdown": 0.1, "total_return": 0})[0]


def test_symbols_must_be_test_symbols_of_type_test_under_their_scenario():
    assert ohlcv.symbol_problems(HIGH_LOW, {"type": "TEST", "scenario": "high_low_events"}) == []
    assert len(ohlcv.symbol_problems(HIGH_LOW, {"type": "CS", "scenario": "crash_2020"})) == 2
    assert ohlcv.symbol_problems(HIGH_LOW, None)


# -- TA-Lib recognition and the detector's events ---------------------------------------------------
def planted_hits(shift_days: int = 0) -> dict:
    dates = [b.date for b in series(PATTERNS)]
    return {k: [dates[dates.index(p.date) + shift_days] for p in PATTERNS.planted if p.pattern == k]
            for k in C.patterns}


def test_a_planted_pattern_recognised_one_day_off_fails_with_tolerance_zero():
    bars = series(PATTERNS)
    assert recognition.planted_recognition_problems(PATTERNS, bars, planted_hits(), 0) == []
    assert recognition.stray_recognition_problems(PATTERNS, planted_hits()) == []
    off = planted_hits(1)
    assert len(recognition.planted_recognition_problems(PATTERNS, bars, off, 0)) == len(PATTERNS.planted)
    assert recognition.planted_recognition_problems(PATTERNS, bars, off, 1) == []
    assert len(recognition.stray_recognition_problems(PATTERNS, off)) == len(PATTERNS.planted)


def test_any_recognition_in_the_control_series_is_a_problem():
    assert recognition.stray_recognition_problems(CONTROL, {k: [] for k in C.patterns}) == []
    assert recognition.stray_recognition_problems(CONTROL, {"doji": [date(2026, 8, 3)]})


def test_talib_finds_nothing_in_a_flat_series():
    hits = recognition.recognise(series(CONTROL, [100.0] * CONTROL.days), C.patterns)
    assert set(hits) == set(C.patterns)


def event(symbol, pattern, day, synthetic=True, scenario="candlestick_patterns",
          channel="tickstock.patterns.detected"):
    message = {"event_type": "pattern_detected", "data": {
        "symbol": symbol, "pattern": pattern, "talib_function": C.patterns[pattern].talib_function,
        "signal": 100, "date": day, "synthetic": synthetic, "scenario": scenario}}
    return Received(channel, "", 0.0, message)


def test_the_detectors_events_must_be_exactly_the_plants_marked_synthetic():
    good = [event(PATTERNS.symbol, p.pattern, p.date.isoformat()) for p in PATTERNS.planted]
    assert recognition.published_plant_problems(PATTERNS, C.patterns, good) == []
    missing_one = good[1:] + [event(PATTERNS.symbol, "doji", "2026-08-27")]
    problems = recognition.published_plant_problems(PATTERNS, C.patterns, missing_one)
    assert any("not published" in p for p in problems) and any("nothing was planted" in p for p in problems)
    unmarked = [event(PATTERNS.symbol, p.pattern, p.date.isoformat(), synthetic=False)
                for p in PATTERNS.planted]
    problems = recognition.published_plant_problems(PATTERNS, C.patterns, unmarked)
    assert any("synthetic is False" in p for p in problems)
    assert recognition.published_for_problems(CONTROL.symbol, good) == []
    assert recognition.published_for_problems(CONTROL.symbol, [event(CONTROL.symbol, "doji", "2026-08-03")])


def test_delivery_compares_received_with_what_the_detector_reports():
    got = [event(PATTERNS.symbol, "doji", "2026-08-28")]
    detections = [{"symbol": PATTERNS.symbol, "pattern": "doji", "date": "2026-08-28"}]
    assert recognition.delivery_problems(1, detections, got) == []
    assert recognition.delivery_problems(2, detections, got)
    assert recognition.delivery_problems(None, detections, got)


# -- isolation and separation -----------------------------------------------------------------------
def test_production_changes_are_named_by_table_count_and_checksum():
    before = {"public.symbols": TableSnapshot("public.symbols", 2, "a" * 32)}
    assert isolation.production_change_problems(before, dict(before)) == []
    grown = {"public.symbols": TableSnapshot("public.symbols", 9, "b" * 32)}
    assert "+7 rows" in isolation.production_change_problems(before, grown)[0]
    edited = {"public.symbols": TableSnapshot("public.symbols", 2, "b" * 32)}
    assert "content changed" in isolation.production_change_problems(before, edited)[0]


def test_consumer_reads_must_all_be_refused_for_lack_of_privilege():
    refused = [ReadAttempt("synthetic.symbols", False, None, "42501",
                           "permission denied for schema synthetic")]
    assert isolation.refusal_problems(refused) == []
    assert isolation.refusal_problems([ReadAttempt("synthetic.symbols", True, 7)])
    assert isolation.refusal_problems([ReadAttempt("synthetic.symbols", False, None, "42P01", "missing")])
    assert isolation.refusal_problems([])
    assert isolation.visible_problems({"public.symbols": [], "public.ohlcv_daily": ["TEST_PATTERNS"]})


def test_the_producer_must_see_every_scenarios_rows():
    full = {s.symbol: (s.days, "x") for s in C.scenarios.values()}
    assert isolation.producer_sees_problems(C, full, []) == []
    assert isolation.producer_sees_problems(C, {}, [])


def test_writes_outside_the_synthetic_schema_are_named_and_the_positive_control_holds():
    before = {"public.symbols": WriteCounters(5, 0, 0), "synthetic.ohlcv_daily": WriteCounters(0, 0, 0)}
    after = {"public.symbols": WriteCounters(5, 0, 0), "synthetic.ohlcv_daily": WriteCounters(1134, 0, 1134)}
    delta = separation.changes(before, after)
    assert separation.production_write_problems(delta, "synthetic") == []
    assert separation.synthetic_growth_problems(delta, "synthetic.ohlcv_daily", 1134) == []
    assert separation.synthetic_growth_problems({}, "synthetic.ohlcv_daily", 1134)
    leaked = separation.changes(before, dict(after, **{"public.symbols": WriteCounters(12, 0, 0)}))
    assert separation.production_write_problems(leaked, "synthetic") == [
        "public.symbols: 7 inserted, 0 updated, 0 deleted"]
    assert separation.message_problems([event("X", "doji", "2026-01-02")])


# -- the loader CLI and timing ----------------------------------------------------------------------
def test_a_refusal_is_one_line_naming_the_input_with_a_non_zero_exit():
    assert loader_cli.refusal_problems(run(2, stderr="error: unknown scenario 'nope'\n"), "nope") == []
    assert loader_cli.refusal_problems(run(0, stderr="error: unknown scenario 'nope'\n"), "nope")
    traceback = "Traceback (most recent call last):\n  File x\nKeyError\n"
    assert loader_cli.refusal_problems(run(1, stderr=traceback), "nope")
    assert loader_cli.refusal_problems(run(2, stderr="error: bad input\n"), "AAPL")


def test_the_listing_must_be_exactly_the_contracts_scenarios():
    listed = [{"name": s.name, "symbol": s.symbol, "days": s.days,
               "planted": [p.as_dict() for p in s.planted]} for s in C.scenarios.values()]
    assert loader_cli.listing_problems(run(report={"scenarios": listed}), C) == []
    assert loader_cli.listing_problems(run(report={"scenarios": listed[1:]}), C)
    wrong = [dict(listed[0], days=1)] + listed[1:]
    assert "1 days" in loader_cli.listing_problems(run(report={"scenarios": wrong}), C)[0]


def test_loading_for_symbols_must_store_exactly_the_scenarios_rows_for_each():
    symbols = ["TEST_CLI_A", "TEST_CLI_B"]
    report = {"rows": 2 * HIGH_LOW.days}
    after = {s: (HIGH_LOW.days, "x") for s in symbols}
    registered = {s: {"scenario": HIGH_LOW.name} for s in symbols}
    ok = run(report=report)
    assert loader_cli.load_problems(ok, HIGH_LOW, symbols, HIGH_LOW.days, after, registered) == []
    assert loader_cli.load_problems(run(report=report), HIGH_LOW, symbols, HIGH_LOW.days,
                                    {"TEST_CLI_A": (63, "x")}, registered)
    assert loader_cli.others_changed_problems({"TEST_X": (5, "a")}, {"TEST_X": (5, "b")}, symbols)
    loaded = {"TEST_X": (5, "a"), "TEST_CLI_A": (63, "c")}
    assert loader_cli.others_changed_problems({"TEST_X": (5, "a")}, loaded, symbols) == []
    assert loader_cli.count_change_problems({"public.symbols": 2}, {"public.symbols": 3})


def test_timing_needs_the_reported_figures_and_every_scenario():
    with pytest.raises(AssertionError, match="generation_s"):
        timing.reported_seconds(run(report={}), "generation_s")
    done = [{"scenario": s.name, "rows": s.days} for s in C.scenarios.values()]
    assert timing.coverage_problems(run(report={"scenarios": done}), C) == []
    assert timing.coverage_problems(run(report={"scenarios": done[1:]}), C)


# -- sentences are checked against the contract -----------------------------------------------------
def test_sentences_must_carry_the_contracts_names_and_numbers():
    assert parse_anchor_date("2026-10-30") == C.anchor_date
    with pytest.raises(SpecMismatch):
        parse_anchor_date("2026-10-29")
    assert parse_pattern_tolerance("0") == 0
    with pytest.raises(SpecMismatch):
        parse_pattern_tolerance("1")
    assert parse_scenario_name("crash_2020") == "crash_2020"
    with pytest.raises(SpecMismatch):
        parse_scenario_name("crash_2019")
    assert parse_talib_functions("CDLHAMMER, CDLENGULFING, CDLDOJI and CDLMORNINGSTAR")
    with pytest.raises(SpecMismatch):
        parse_talib_functions("CDLHAMMER and CDLDOJI")
