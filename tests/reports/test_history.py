"""Run history, the accepted baseline and noise-aware comparison (synthetic figures, fast)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import run_cli
from tickstock_acceptance.config import measurement, targets
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.reporting import history
from tickstock_acceptance.reporting.evidence import Measurement, record

KEY = "PERF-1 · message delivery"


def fig(value: float, spread: float | None = None, target: float | None = 100.0) -> Measurement:
    dist = None if spread is None else {"count": 50, "p50": value - spread, "p95": value, "p99": value,
                                        "max": value, "mean": value - spread / 2}
    return Measurement("message delivery", value, "ms", target=target, distribution=dist)


def stored(m: Measurement) -> dict:
    """A stored run (or baseline) holding ``m`` under KEY, as load_runs and load_baseline return it."""
    return {"figures": {KEY: m.to_dict()}}


def facts(n: int) -> dict:
    return {"started_at": f"2026-01-01T00:00:{n:02d}+00:00", "suite_commit": "abc"}


def outcome(tags=(), features=(), complete=True, failed_items=0, failed_scenarios=0) -> dict:
    items = {"passed": 30 - failed_items, "failed": failed_items, "not covered": 8, "not run": 0}
    scenarios = {"passed": 20 - failed_scenarios}
    if failed_scenarios:
        scenarios["failed"] = failed_scenarios
    return history.run_outcome(tags, features, complete, items, scenarios)


def test_runs_are_stored_and_baseline_is_accepted_explicitly(tmp_path):
    history.store_run({KEY: fig(40)}, facts(1), tmp_path, outcome())
    history.store_run({KEY: fig(42)}, facts(2), tmp_path, outcome())
    assert history.load_runs(tmp_path)[0]["outcome"]["selection"]["complete"] is True
    assert history.load_baseline(tmp_path) is None  # a run never accepts a baseline by itself
    accepted = history.accept_baseline(tmp_path, accepted_by="qa", note="first")
    assert accepted["figures"][KEY]["value"] == 42 and accepted["accepted_by"] == "qa"
    older = history.load_runs(tmp_path)[0]["run_id"]
    assert history.accept_baseline(tmp_path, run=older)["figures"][KEY]["value"] == 40
    with pytest.raises(LookupError):
        history.accept_baseline(tmp_path, run="nope")


@pytest.mark.parametrize("incomplete, why", [
    (outcome(failed_items=2, failed_scenarios=1), "2 checklist item(s) failed; 1 scenario(s) failed"),
    (outcome(tags=["@environment or ((@checklist:ENV-1))"], complete=False),
     "partial selection (--tags @environment or ((@checklist:ENV-1)))"),
    (outcome(features=["features/00_environment_validation.feature"], complete=False),
     "partial selection (features/00_environment_validation.feature)"),
    (None, "outcome was not recorded"),
])
def test_baseline_refuses_a_failed_or_partial_run_unless_told_even_if_incomplete(tmp_path, incomplete, why):
    history.store_run({KEY: fig(40)}, facts(1), tmp_path, outcome())
    history.store_run({KEY: fig(42)}, facts(2), tmp_path, incomplete)
    with pytest.raises(SuiteError) as refused:
        history.accept_baseline(tmp_path, accepted_by="qa")
    line = refused.value.one_line()
    assert why in line and "— fix: " in line and "--even-if-incomplete" in line and "\n" not in line
    assert refused.value.exit_code == 2 and history.load_baseline(tmp_path) is None
    complete = history.load_runs(tmp_path)[0]["run_id"]
    assert history.accept_baseline(tmp_path, run=complete)["accepted_incomplete"] == []
    forced = history.accept_baseline(tmp_path, accepted_by="qa", even_if_incomplete=True)
    assert forced["figures"][KEY]["value"] == 42 and forced["accepted_incomplete"]
    assert history.load_baseline(tmp_path)["run_id"] == forced["run_id"]


def test_baseline_accept_command_refuses_an_incomplete_run_in_one_line(tmp_path):
    history.store_run({KEY: fig(42)}, facts(2), tmp_path / "history",
                      outcome(tags=["@checklist:ENV-1"], complete=False))
    refused = run_cli("baseline", "accept", "--by", "qa", reports_dir=tmp_path)
    assert refused.returncode == 2, refused
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert refused.stderr.startswith("ERROR: run ") and "partial selection" in refused.stderr
    assert "— fix: " in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "history" / "baseline.json").exists()
    forced = run_cli("baseline", "accept", "--by", "qa", "--even-if-incomplete", reports_dir=tmp_path)
    assert forced.returncode == 0 and "partial selection" in forced.stdout, forced
    assert history.load_baseline(tmp_path / "history")["accepted_incomplete"]


def test_no_runs_means_no_baseline_to_accept(tmp_path):
    with pytest.raises(LookupError):
        history.accept_baseline(tmp_path)


def test_change_within_sample_spread_is_noise():
    baseline = stored(fig(40, spread=10))
    cmp = history.compare({KEY: fig(47, spread=10)}, baseline, [])[KEY]
    assert cmp.verdict == "within noise" and cmp.warning is None


def test_change_beyond_sample_spread_is_a_warning():
    baseline = stored(fig(40, spread=3))
    cmp = history.compare({KEY: fig(70, spread=3)}, baseline, [])[KEY]
    assert cmp.verdict == "worse" and "70 ms vs baseline 40 ms" in cmp.warning


def test_single_number_without_history_is_not_judged():
    cmp = history.compare({KEY: fig(70)}, stored(fig(40)), [])[KEY]
    assert cmp.verdict == "not judged" and cmp.warning is None


def test_earlier_runs_give_the_noise_band_and_one_outlier_does_not_widen_it():
    earlier = [stored(fig(v)) for v in (40, 41, 39, 40, 90)]
    baseline = stored(fig(40))
    assert history.compare({KEY: fig(41)}, baseline, earlier)[KEY].verdict == "within noise"
    worse = history.compare({KEY: fig(60)}, baseline, earlier)[KEY]
    assert worse.verdict == "worse" and "last 5 runs" in worse.noise_basis


def test_improvement_is_flagged_as_better_and_minimum_figures_invert_direction():
    earlier = [stored(fig(v)) for v in (40, 41, 39)]
    assert history.compare({KEY: fig(20)}, stored(fig(40)), earlier)[KEY].verdict == "better"
    rate = replace(fig(90), minimum=True, unit="%", target=95.0)
    earlier = [stored(replace(rate, value=v)) for v in (99, 99.5, 99.2)]
    cmp = history.compare({KEY: rate}, stored(replace(rate, value=99.3)), earlier)[KEY]
    assert cmp.verdict == "worse"


def test_no_baseline_means_no_warning():
    assert history.compare({KEY: fig(70)}, None, [])[KEY].verdict == "no baseline"


def test_a_rise_of_a_higher_is_better_figure_is_better_not_worse():
    qps = replace(fig(500.0, target=None), unit="q/s", higher_is_better=True)
    earlier = [stored(replace(qps, value=v)) for v in (500, 505, 495)]
    base = stored(qps)
    assert history.compare({KEY: replace(qps, value=800.0)}, base, earlier)[KEY].verdict == "better"
    slower = history.compare({KEY: replace(qps, value=300.0)}, base, earlier)[KEY]
    assert slower.verdict == "worse" and "worse beyond the noise band" in slower.warning
    latency = fig(80.0)  # the default stays: a rise is worse
    earlier = [stored(fig(v)) for v in (40, 41, 39)]
    assert history.compare({KEY: latency}, stored(fig(40)), earlier)[KEY].verdict == "worse"


def test_evidence_carries_higher_is_better_and_a_minimum_target_implies_it():
    assert record("queries per second", 900.0, "q/s", higher_is_better=True).higher_is_better is True
    assert record("latency", 9.0, "ms").higher_is_better is False
    assert record("rate", 99.0, "%", targets.MESSAGE_SUCCESS_RATE).higher_is_better is True
    assert record("delivery", 9.0, "ms", targets.MESSAGE_DELIVERY).higher_is_better is False


def test_baseline_thresholds_come_from_targets():
    assert not {"MIN_RUNS", "WINDOW", "MIN_SAMPLES", "SIGMAS", "RELATIVE_FLOOR"} & set(vars(history))
    earlier = [stored(fig(40))] * (measurement.BASELINE_MIN_RUNS - 1)
    cmp = history.compare({KEY: fig(70)}, stored(fig(40)), earlier)[KEY]
    assert cmp.verdict == "not judged" and str(measurement.BASELINE_MIN_RUNS) in cmp.noise_basis


def test_history_files_of_earlier_runs_stay_readable():
    """Figures stored before they were Measurements (no name, a scenario field) still compare."""
    old = {"value": 40.0, "unit": "ms", "target": 100.0, "regression_line": 125.0, "minimum": False,
           "higher_is_better": False, "scenario": "delivery",
           "distribution": {"count": 50, "p50": 37.0, "p95": 40.0, "p99": 40.0, "max": 40.0, "mean": 38.5}}
    earlier = [{"figures": {KEY: dict(old, value=v)}} for v in (40, 41, 39)]
    cmp = history.compare({KEY: fig(70)}, {"figures": {KEY: old}}, earlier)[KEY]
    assert cmp.baseline == 40.0 and cmp.verdict == "worse"
    assert Measurement.from_dict(old, name=KEY).name == KEY


def test_a_stored_run_holds_each_figure_as_its_evidence_attachment_does(tmp_path):
    m = record("message delivery", 42.0, "ms", targets.MESSAGE_DELIVERY)
    history.store_run({KEY: m}, facts(1), tmp_path, outcome())
    again = history.load_runs(tmp_path)[0]["figures"][KEY]
    assert again == m.to_dict() and Measurement.from_dict(again) == m
