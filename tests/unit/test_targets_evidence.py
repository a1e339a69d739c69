import json

import pytest

from tickstock_acceptance.config import targets
from tickstock_acceptance.core.statistics import Distribution, percentile
from tickstock_acceptance.reporting.evidence import Measurement, record


def test_regression_lines_are_target_plus_25_percent():
    # the spec's PERFORMANCE_REGRESSION_THRESHOLDS
    assert targets.ETF_EXPANSION_TIME.regression_line == pytest.approx(2.5)
    assert targets.MESSAGE_DELIVERY.regression_line == pytest.approx(125.0)
    assert targets.UI_QUERY.regression_line == pytest.approx(62.5)
    assert targets.MEMORY_INCREASE.regression_line == pytest.approx(125.0)


def test_targets_are_found_by_the_words_features_use():
    assert targets.by_phrase("general query") is targets.GENERAL_QUERY
    assert targets.by_phrase("UI query") is targets.UI_QUERY
    with pytest.raises(KeyError):
        targets.by_phrase("warp speed")


def test_minimum_targets_judge_from_below():
    assert targets.MESSAGE_SUCCESS_RATE.met_by(99.0)
    assert not targets.MESSAGE_SUCCESS_RATE.met_by(90.0)


def test_percentiles_nearest_rank():
    samples = list(range(1, 101))
    assert percentile(samples, 50) == 50
    assert percentile(samples, 95) == 95
    assert percentile(samples, 99) == 99
    d = Distribution.of(samples)
    assert (d.count, d.max) == (100, 100)


def test_evidence_judges_against_target_and_checks_units():
    ev = record("x", 120.0, "ms", targets.MESSAGE_DELIVERY)
    assert ev.passed is False and ev.target == 100.0 and ev.regression_line == 125.0
    with pytest.raises(ValueError):
        record("y", 1.0, "s", targets.MESSAGE_DELIVERY)


def test_assert_within_attaches_then_fails_with_the_numbers():
    from tickstock_acceptance.reporting.evidence import assert_within

    ok = assert_within("fast", [10.0] * 20, "ms", targets.MESSAGE_DELIVERY)
    assert ok.passed and ok.distribution["count"] == 20
    with pytest.raises(AssertionError, match=r"slow: max 150 ms misses message_delivery_time"):
        assert_within("slow", [10.0] * 19 + [150.0], "ms", targets.MESSAGE_DELIVERY, judged_by="max")
    with pytest.raises(AssertionError, match="no samples"):
        assert_within("none", [], "ms", targets.MESSAGE_DELIVERY)


def test_evidence_attachment_keeps_its_json_layout_and_reads_back():
    m = record("x", 120.0, "ms", targets.MESSAGE_DELIVERY)
    assert list(m.to_dict()) == ["name", "value", "unit", "target", "target_name", "regression_line",
                                 "minimum", "higher_is_better", "passed", "distribution", "note"]
    assert Measurement.from_dict(json.loads(json.dumps(m.to_dict()))) == m


def test_a_distribution_names_the_percentile_it_was_judged_by():
    from tickstock_acceptance.reporting.evidence import record_distribution

    m = record_distribution("delivery", [1.0] * 19 + [4.6], "ms", targets.MESSAGE_DELIVERY, judged_by="p99")
    assert m.judged_by == "p99" and m.against_target() == "delivery p99 4.6 ms ≤ 100 ms"
    assert record("once", 3.0, "ms").judged_by is None
