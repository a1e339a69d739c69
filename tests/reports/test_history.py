"""Run history, the accepted baseline and noise-aware comparison (synthetic figures, fast)."""

from __future__ import annotations

import pytest

from tickstock_acceptance import history

KEY = "PERF-1 · message delivery"


def fig(value: float, spread: float | None = None, target: float | None = 100.0) -> dict:
    dist = None if spread is None else {"count": 50, "p50": value - spread, "p95": value, "p99": value,
                                        "max": value, "mean": value - spread / 2}
    return {"value": value, "unit": "ms", "target": target, "minimum": False, "distribution": dist}


def facts(n: int) -> dict:
    return {"started_at": f"2026-01-01T00:00:{n:02d}+00:00", "suite_commit": "abc"}


def test_runs_are_stored_and_baseline_is_accepted_explicitly(tmp_path):
    history.store_run({KEY: fig(40)}, facts(1), tmp_path)
    history.store_run({KEY: fig(42)}, facts(2), tmp_path)
    assert history.load_baseline(tmp_path) is None  # a run never accepts a baseline by itself
    accepted = history.accept_baseline(tmp_path, accepted_by="qa", note="first")
    assert accepted["figures"][KEY]["value"] == 42 and accepted["accepted_by"] == "qa"
    older = history.load_runs(tmp_path)[0]["run_id"]
    assert history.accept_baseline(tmp_path, run=older)["figures"][KEY]["value"] == 40
    with pytest.raises(LookupError):
        history.accept_baseline(tmp_path, run="nope")


def test_no_runs_means_no_baseline_to_accept(tmp_path):
    with pytest.raises(LookupError):
        history.accept_baseline(tmp_path)


def test_change_within_sample_spread_is_noise():
    baseline = {"figures": {KEY: fig(40, spread=10)}}
    cmp = history.compare({KEY: fig(47, spread=10)}, baseline, [])[KEY]
    assert cmp.verdict == "within noise" and cmp.warning is None


def test_change_beyond_sample_spread_is_a_warning():
    baseline = {"figures": {KEY: fig(40, spread=3)}}
    cmp = history.compare({KEY: fig(70, spread=3)}, baseline, [])[KEY]
    assert cmp.verdict == "worse" and "70 ms vs baseline 40 ms" in cmp.warning


def test_single_number_without_history_is_not_judged():
    cmp = history.compare({KEY: fig(70)}, {"figures": {KEY: fig(40)}}, [])[KEY]
    assert cmp.verdict == "not judged" and cmp.warning is None


def test_earlier_runs_give_the_noise_band_and_one_outlier_does_not_widen_it():
    earlier = [{"figures": {KEY: fig(v)}} for v in (40, 41, 39, 40, 90)]
    baseline = {"figures": {KEY: fig(40)}}
    assert history.compare({KEY: fig(41)}, baseline, earlier)[KEY].verdict == "within noise"
    worse = history.compare({KEY: fig(60)}, baseline, earlier)[KEY]
    assert worse.verdict == "worse" and "last 5 runs" in worse.noise_basis


def test_improvement_is_flagged_as_better_and_minimum_figures_invert_direction():
    earlier = [{"figures": {KEY: fig(v)}} for v in (40, 41, 39)]
    assert history.compare({KEY: fig(20)}, {"figures": {KEY: fig(40)}}, earlier)[KEY].verdict == "better"
    rate = dict(fig(90), minimum=True, unit="%", target=95.0)
    earlier = [{"figures": {KEY: dict(rate, value=v)}} for v in (99, 99.5, 99.2)]
    cmp = history.compare({KEY: rate}, {"figures": {KEY: dict(rate, value=99.3)}}, earlier)[KEY]
    assert cmp.verdict == "worse"


def test_no_baseline_means_no_warning():
    assert history.compare({KEY: fig(70)}, None, [])[KEY].verdict == "no baseline"
