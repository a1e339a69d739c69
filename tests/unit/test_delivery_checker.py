"""The delivery checker finds lost, duplicated, reordered and unexpected messages."""

import json

from tickstock_acceptance.checks.delivery import acknowledged_by, check_delivery
from tickstock_acceptance.sut.subscriber import decode


def msg(pid: str, seq: int, received_at: float = 0.0):
    body = {"producer_id": pid, "sequence": seq, "message_id": f"{pid}-{seq}",
            "timestamp": "2026-01-01T00:00:00+00:00"}
    return decode("tickstock.universe.updated", json.dumps(body), received_at)


def test_a_clean_delivery_has_no_problems_and_a_latency_distribution():
    ack = acknowledged_by([{"producer_id": "a", "published_count": 3},
                           {"producer_id": "b", "published": ["m1", "m2"]}])
    arrived = [msg("a", 1, 1767225600.01), msg("b", 1), msg("a", 2), msg("b", 2), msg("a", 3)]
    report = check_delivery(ack, arrived)
    assert report.problems() == [] and report.success_rate == 100.0
    assert len(report.latencies_ms) == 1 and abs(report.latencies_ms[0] - 10.0) < 0.01


def test_loss_duplicates_disorder_and_strangers_are_each_named():
    ack = {"a": {1, 2, 3, 4}}
    arrived = [msg("a", 1), msg("a", 3), msg("a", 2), msg("a", 3), msg("z", 1), msg("a", 9)]
    report = check_delivery(ack, arrived)
    assert report.lost == [("a", 4)]
    assert report.duplicated == [("a", 3)]
    assert report.out_of_order == [("a", 3, 2)]
    assert len(report.unexpected) == 2
    problems = report.problems()
    assert any("1 of 4 acknowledged messages lost" in p for p in problems)
    assert len(problems) == 4
    assert report.success_rate == 75.0
    assert len(report.problems(allow_loss=True)) == 3  # pub-sub may lose, never duplicate or reorder


def test_nothing_acknowledged_is_a_problem():
    assert check_delivery({}, []).problems() == ["no producer acknowledged sending anything"]
