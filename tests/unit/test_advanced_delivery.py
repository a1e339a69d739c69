"""PERF-1's judging without servers: the observer's events split into producer messages and the raw
reference, the delivery checker per producer, and the problem finders' verdicts and messages."""

import json
import time
from datetime import UTC, datetime, timedelta

from tickstock_acceptance.checks.perf.advanced_delivery import (
    REFERENCE_CHANNEL,
    ReferencePublisher,
    decode_events,
    judge,
    latency_problems,
    order_problems,
    reference_problems,
    success_problems,
    volume_problems,
)
from tickstock_acceptance.config import targets as T
from tickstock_acceptance.contract.messaging import BAR_CHANNEL, PATTERN_CHANNEL, UNIVERSE_CHANNEL
from tickstock_acceptance.sut.realtime_processing import RawEvent

T0 = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
FEATURES = {"exp": "background ETF universe expansion", "tick": "tick processor", "det": "pattern detector"}


def event(channel: str, pid: str, seq: int, latency_ms: float = 2.0) -> RawEvent:
    body = {"event_type": "x", "producer_id": pid, "sequence": seq, "timestamp": T0.isoformat()}
    return RawEvent(channel, json.dumps(body), (T0 + timedelta(milliseconds=latency_ms)).timestamp())


def raw(i: int, latency_ms: float = 1.0) -> RawEvent:
    return RawEvent(REFERENCE_CHANNEL, json.dumps({"i": i, "timestamp": T0.isoformat()}),
                    (T0 + timedelta(milliseconds=latency_ms)).timestamp())


def clean_events(n: int = 10) -> list[RawEvent]:
    """Three producers, interleaved, each in its own order; raw reference messages between them."""
    out = []
    for seq in range(1, n + 1):
        out += [event(UNIVERSE_CHANNEL, "exp", seq), event(BAR_CHANNEL, "tick", seq, 5.0),
                event(PATTERN_CHANNEL, "det", seq), raw(seq)]
    return out


def judged(events, ack=None, reference_sent=None):
    ack = ack if ack is not None else {pid: set(range(1, 11)) for pid in FEATURES}
    produced, reference = decode_events(events)
    sent = reference_sent if reference_sent is not None else len(reference)
    return judge(ack, FEATURES, produced, reference, sent)


def test_reference_messages_are_split_off_and_never_judged_as_producer_messages():
    produced, reference = decode_events(clean_events())
    assert len(produced) == 30 and len(reference) == 10
    assert all(r.channel == REFERENCE_CHANNEL for r in reference)
    j = judged(clean_events())
    assert j.overall.unexpected == [] and j.strangers == []   # the raw messages are not "unexpected"
    assert abs(j.reference_latency().p99 - 1.0) < 0.01


def test_a_clean_run_passes_every_finder_and_has_per_producer_reports():
    j = judged(clean_events())
    assert order_problems(j) == [] and success_problems(j, T.MESSAGE_SUCCESS_RATE) == []
    assert latency_problems(j, T.MESSAGE_DELIVERY) == []
    assert reference_problems(j, minimum=10) == []
    assert {p.producer_id: p.report.acknowledged for p in j.producers} == {"exp": 10, "tick": 10, "det": 10}
    assert j.overall.success_rate == 100.0 and j.acknowledged == 30
    assert abs(j.p99_ratio() - 5.0) < 0.01     # p99 5 ms (the tick processor's) over raw p99 1 ms
    assert set(j.by_feature()) == set(FEATURES.values())


def test_skipped_sequence_numbers_are_named_per_producer():
    """The broken producer numbering 1, 3, 5, ...: every message arrives, but half the numbers it
    acknowledged never do, and the rest lie beyond its count."""
    events = [event(UNIVERSE_CHANNEL, "exp", 2 * i - 1) for i in range(1, 11)]
    events += [event(BAR_CHANNEL, "tick", s) for s in range(1, 11)]
    events += [event(PATTERN_CHANNEL, "det", s) for s in range(1, 11)]
    j = judged(events)
    problems = order_problems(j)
    assert len(problems) == 1
    assert problems[0].startswith("the background ETF universe expansion [exp]: 5 messages carry sequence "
                                  "numbers it never acknowledged (it reported 10 published, so 1..10), "
                                  "e.g. #11, #13, #15")
    rate = success_problems(j, T.MESSAGE_SUCCESS_RATE)
    assert rate[0].startswith("the background ETF universe expansion [exp]: 50.0 % of its 10 acknowledged "
                              "messages arrived, below 95 % (5 lost, e.g. #2, #4, #6)")
    assert rate[1] == "83.3 % of the 30 acknowledged messages arrived, below 95 %"   # all together too
    assert j.overall.success_rate < 95.0


def test_duplicates_disorder_and_strangers_fail_even_without_loss():
    events = clean_events()
    events[0], events[8] = events[8], events[0]                          # exp #3, #2, then #1
    events.insert(5, event(BAR_CHANNEL, "tick", 1))                       # a duplicate
    events.append(event(UNIVERSE_CHANNEL, "somebody-else", 1))
    problems = order_problems(judged(events))
    assert "the tick processor [tick]: 1 messages arrived more than once, e.g. #1" in problems
    assert ("the background ETF universe expansion [exp]: 2 messages arrived out of its order, e.g. "
            "#2 after #3, #1 after #3") in problems
    assert problems[-1].startswith("1 messages from no producer that ran here, e.g. x on "
                                   "tickstock.universe.updated from somebody-else#1")


def test_one_producer_losing_more_than_5_percent_fails_even_when_the_total_passes():
    ack = {"exp": set(range(1, 101)), "tick": set(range(1, 1001)), "det": set(range(1, 21))}
    events = [event(UNIVERSE_CHANNEL, "exp", s) for s in range(1, 101)]
    events += [event(BAR_CHANNEL, "tick", s) for s in range(1, 1001)]
    events += [event(PATTERN_CHANNEL, "det", s) for s in range(1, 21) if s not in (4, 9)]
    j = judged(events, ack)
    assert j.overall.success_rate > 99.0
    assert success_problems(j, T.MESSAGE_SUCCESS_RATE) == [
        "the pattern detector [det]: 90.0 % of its 20 acknowledged messages arrived, below 95 % "
        "(2 lost, e.g. #4, #9)"]
    assert order_problems(j) == []   # pub-sub may lose: losses are the success rate's business


def test_late_delivery_fails_on_the_p99_and_names_the_slowest_producer_and_the_reference():
    events = clean_events(100)
    for i in range(len(events)):
        if events[i].channel == BAR_CHANNEL and i % 40 < 8:
            ev = events[i]
            events[i] = RawEvent(ev.channel, ev.payload, ev.received_at + 0.3)   # 300 ms late
    problems = latency_problems(judged(events, {pid: set(range(1, 101)) for pid in FEATURES}),
                                T.MESSAGE_DELIVERY)
    assert len(problems) == 1
    assert problems[0].startswith("p99 305.0 ms of 300 messages misses message_delivery_time ≤ 100 ms "
                                  "(slowest producer: tick processor, p99 305.0 ms; raw redis-py p99 in the "
                                  "same run 1.0 ms)")


def test_volume_and_reference_problems():
    assert volume_problems(1200, 1000, 3.0, []) == []
    assert volume_problems(600, 1000, 30.0, ["pattern detector"]) == [
        "the producers acknowledged 600 messages in 30.0 s (20/s), need at least 1000",
        "the pattern detector published no message"]
    j = judged(clean_events(), reference_sent=12)
    assert reference_problems(j, minimum=500) == ["10 of 12 raw messages arrived, need 500 for a p99"]
    nothing = judge({}, {}, [], [], 0)
    assert latency_problems(nothing, T.MESSAGE_DELIVERY) == [
        "no producer message arrived with a timestamp: no delivery latency to judge"]


class FakeRedis:
    def __init__(self):
        self.published = []

    def publish(self, channel, payload):
        self.published.append((channel, json.loads(payload)))


def test_the_reference_publisher_paces_its_messages_and_stamps_each_just_before_publishing():
    client = FakeRedis()
    pub = ReferencePublisher(client, interval_s=0.005).start()
    time.sleep(0.1)
    pub.stop()
    assert 10 <= pub.sent == len(client.published) <= 25
    assert [m["i"] for _, m in client.published] == list(range(1, pub.sent + 1))
    assert {c for c, _ in client.published} == {REFERENCE_CHANNEL}
    stamps = [datetime.fromisoformat(m["timestamp"]) for _, m in client.published]
    assert stamps == sorted(stamps) and stamps[0].tzinfo is not None
    assert pub.error is None
