"""PERF-3's parts without servers: the tape is deterministic, the feeder keeps its pace (an injected
sink instead of Redis), the oracle follows the contract's rules, and the checks find lost,
duplicated, wrong, unexplained and late events."""

import json
import time
from datetime import UTC, datetime

import pytest

from tickstock_acceptance.checks.perf.realtime import TapeOracle, judge
from tickstock_acceptance.contract.messaging import BAR_CHANNEL, BAR_SECONDS, THRESHOLD_CHANNEL
from tickstock_acceptance.sut.realtime_processing import RawEvent
from tickstock_acceptance.sut.tick_feeder import ANCHOR_MS, Tick, TickFeeder, TickTape

MINUTE_MS = BAR_SECONDS * 1000


# -- the tape ----------------------------------------------------------------------------------------
def test_the_tape_is_the_same_for_the_same_seed_however_it_grows():
    a, b = TickTape(7, 20, 200), TickTape(7, 20, 200)
    for n in (1, 13, 500, 4000):
        b.extend_to(n)
    a.extend_to(4000)
    assert a.ticks == b.ticks
    assert TickTape(8, 20, 200).first(50) != a.ticks[:50]


def test_the_tape_holds_about_the_ticks_per_minute_and_crosses_thresholds_now_and_then():
    ticks = TickTape(20261102, 20, 200).first(20000)
    assert [t.seq for t in ticks] == list(range(1, 20001))
    assert all(b.ts >= a.ts for a, b in zip(ticks, ticks[1:], strict=False))
    assert ticks[0].ts > ANCHOR_MS
    minutes = ticks[-1].minute - ticks[0].minute + 1
    assert 150 <= len(ticks) / minutes <= 250
    assert {t.symbol for t in ticks} == {f"TEST_RT{i:02d}" for i in range(1, 21)}
    assert all(float(t.price) >= 1.0 and t.price.count(".") == 1 and len(t.price.split(".")[1]) == 2
               for t in ticks)
    oracle = TapeOracle().advance(ticks)
    assert 0.005 * len(ticks) < len(oracle.crossings) < 0.2 * len(ticks)


# -- the feeder ----------------------------------------------------------------------------------------
class ListSink:
    def __init__(self, stall_once_s: float = 0.0) -> None:
        self.batches: list[list[Tick]] = []
        self.stall_once_s = stall_once_s

    def __call__(self, batch):
        self.batches.append(list(batch))
        if self.stall_once_s and len(self.batches) == 5:
            time.sleep(self.stall_once_s)   # a slow server, once


def run_feeder(sink, seconds: float, rate: float = 2000.0) -> TickFeeder:
    feeder = TickFeeder(TickTape(1, 20, 200), sink, rate, batch_interval_s=0.005).start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
        if time.monotonic() > deadline - seconds / 2 and len(feeder.phases) == 1:
            feeder.mark("during")
    feeder.stop()
    return feeder


def test_the_feeder_sends_the_tape_in_order_at_its_rate_in_small_batches():
    sink = ListSink()
    feeder = run_feeder(sink, 0.6)
    sent = [t.seq for batch in sink.batches for t in batch]
    assert sent == list(range(1, feeder.sent + 1))
    assert feeder.sent <= 2000 * feeder.seconds + 1            # never ahead of the clock
    assert feeder.achieved_rate == pytest.approx(2000, rel=0.1)
    assert sum(len(b) for b in sink.batches) / len(sink.batches) < 40   # ~10 per 5 ms, not one big burst
    assert feeder.sent_at == sorted(feeder.sent_at)
    before, during = feeder.seqs_in("before"), feeder.seqs_in("during")
    assert before.start == 1 and before.stop == during.start and during.stop == feeder.sent + 1
    assert feeder.phase_of(1) == "before" and feeder.phase_of(feeder.sent) == "during"
    assert feeder.problems() == []


def test_a_stalled_sink_is_caught_up_so_the_rate_holds():
    sink = ListSink(stall_once_s=0.15)
    feeder = run_feeder(sink, 0.6)
    assert feeder.largest_batch >= 200          # the backlog went out in one batch after the stall
    assert feeder.achieved_rate == pytest.approx(2000, rel=0.1)


def test_a_failing_sink_is_reported():
    def broken(batch):
        raise ConnectionError("connection refused")

    feeder = run_feeder(broken, 0.05)
    assert feeder.problems() == ["the tick feeder failed: ConnectionError: connection refused"]


# -- the oracle --------------------------------------------------------------------------------------
def tick(seq, symbol, price, ts_s, volume=10):
    return Tick(seq, symbol, price, volume, ANCHOR_MS + int(ts_s * 1000))


HAND_TAPE = [
    tick(1, "TEST_A", "10.50", 1), tick(2, "TEST_B", "20.00", 2), tick(3, "TEST_A", "11.20", 30),
    tick(4, "TEST_A", "10.90", 50), tick(5, "TEST_B", "19.99", 61),     # minute 1 starts: closes A and B
    tick(6, "TEST_A", "10.95", 62), tick(7, "TEST_A", "12.01", 125),    # minute 2: closes A and B again
]


def test_the_oracle_closes_bars_by_the_watermark_and_finds_crossings_by_the_contracts_rules():
    oracle = TapeOracle(step=1.0).advance(HAND_TAPE)
    m0 = ANCHOR_MS // MINUTE_MS
    a0, b0, a1 = oracle.bars[("TEST_A", m0)], oracle.bars[("TEST_B", m0)], oracle.bars[("TEST_A", m0 + 1)]
    assert (a0.open, a0.high, a0.low, a0.close, a0.volume, a0.tick_count) == (10.5, 11.2, 10.5, 10.9, 30, 3)
    assert (a0.first_seq, a0.last_seq, a0.closed_by_seq) == (1, 4, 5)
    assert (b0.tick_count, b0.closed_by_seq) == (1, 5)
    assert (a1.tick_count, a1.first_seq, a1.last_seq, a1.closed_by_seq) == (1, 6, 6, 7)
    assert oracle.bars[("TEST_B", m0 + 1)].closed_by_seq == 7 and set(oracle.open) == {"TEST_A"}
    crossings = {k[1]: (c.direction, c.threshold) for k, c in oracle.crossings.items()}
    # 10.50 -> 11.20 up through 11; 11.20 -> 10.90 down through 11 (floor of the previous price);
    # 20.00 -> 19.99 down through 20; 10.95 -> 12.01 up (two levels, one event) at 12.
    assert crossings == {3: ("up", 11.0), 4: ("down", 11.0), 5: ("down", 20.0), 7: ("up", 12.0)}
    assert oracle.causes == [3, 4, 5, 5, 5, 7, 7, 7]
    assert oracle.events_caused_in(range(5, 6)) == 3


# -- judging what arrived ------------------------------------------------------------------------------
def envelope(kind: str, data: dict, n: int) -> str:
    return json.dumps({"event_type": kind, "service": "tickstock_pl.tick_processor", "producer_id": "p1",
                       "message_id": f"{n:032x}", "sequence": n,
                       "timestamp": datetime.now(UTC).isoformat(), "data": data})


def perfect_events(oracle: TapeOracle, sent_at, delay_s: float = 0.004) -> list[RawEvent]:
    """What a correct processor publishes, received ``delay_s`` after the producing tick was sent."""
    out, n = [], 0
    for b in oracle.bars.values():
        n += 1
        minute = datetime.fromtimestamp(b.minute * BAR_SECONDS, UTC).isoformat()
        data = {"symbol": b.symbol, "minute": minute, "open": b.open, "high": b.high, "low": b.low,
                "close": b.close, "volume": b.volume, "tick_count": b.tick_count, "first_seq": b.first_seq,
                "last_seq": b.last_seq, "closed_by_seq": b.closed_by_seq}
        received = sent_at[b.closed_by_seq - 1] + delay_s
        out.append(RawEvent(BAR_CHANNEL, envelope("minute_bar", data, n), received))
    for c in oracle.crossings.values():
        n += 1
        data = {"symbol": c.symbol, "threshold": c.threshold, "direction": c.direction, "price": c.price,
                "previous_price": c.previous_price, "seq": c.seq}
        out.append(RawEvent(THRESHOLD_CHANNEL, envelope("price_threshold_crossed", data, n),
                            sent_at[c.seq - 1] + delay_s))
    return out


@pytest.fixture
def run():
    ticks = TickTape(3, 20, 200).first(3000)
    sent_at = [1_000_000.0 + i / 2000 for i in range(len(ticks))]
    windows = {"before": range(1, 1201), "during": range(1201, 2401), "after": range(2401, 3001)}
    oracle = TapeOracle().advance(ticks)
    return ticks, sent_at, windows, oracle, perfect_events(oracle, sent_at)


def test_a_perfect_processor_has_no_problems_and_latencies_per_window(run):
    ticks, sent_at, windows, oracle, events = run
    j = judge(ticks, sent_at, windows, oracle, events)
    assert j.loss == []
    assert j.received == oracle.expected_events == j.expected_bars + j.expected_crossings
    assert len(j.latencies_ms["before"]) == oracle.events_caused_in(windows["before"]) > 100
    assert all(abs(ms - 4.0) < 1e-3 for w in j.latencies_ms.values() for ms in w)
    assert j.processed["before"] == j.sent["before"] == 1200 and j.processed["during"] == 1200
    assert j.closed_ticks == sum(1 for t in ticks if t.minute < ticks[-1].minute)
    assert j.counted_once == j.closed_ticks


def test_a_lost_bar_loses_its_ticks(run):
    ticks, sent_at, windows, oracle, events = run
    dropped = next(e for e in events
                   if e.channel == BAR_CHANNEL and json.loads(e.payload)["data"]["tick_count"] > 3)
    j = judge(ticks, sent_at, windows, oracle, [e for e in events if e is not dropped])
    count = json.loads(dropped.payload)["data"]["tick_count"]
    assert any("1 of" in p and "bars of closed minutes never arrived" in p for p in j.loss)
    assert any(p.startswith(f"{count} of ") and "counted in no bar" in p for p in j.loss)


def test_a_tick_dropped_inside_a_bar_is_found(run):
    ticks, sent_at, windows, oracle, events = run
    i = next(i for i, e in enumerate(events) if e.channel == BAR_CHANNEL
             and json.loads(e.payload)["data"]["tick_count"] > 3)
    message = json.loads(events[i].payload)
    message["data"]["tick_count"] -= 1
    message["data"]["volume"] -= 1
    events[i] = RawEvent(BAR_CHANNEL, json.dumps(message), events[i].received_at)
    loss = judge(ticks, sent_at, windows, oracle, events).loss
    assert any("bars differ from the tape" in p and "tick_count" in p for p in loss)
    assert any("tick counts disagree with the ticks in their seq range" in p for p in loss)


def test_duplicates_missing_crossings_and_unexplained_events_are_each_named(run):
    ticks, sent_at, windows, oracle, events = run
    crossings = [e for e in events if e.channel == THRESHOLD_CHANNEL]
    bar = json.loads(next(e for e in events if e.channel == BAR_CHANNEL).payload)
    open_minute = dict(bar, data=dict(bar["data"], minute=datetime.fromtimestamp(
        ticks[-1].minute * BAR_SECONDS, UTC).isoformat()))
    changed = [e for e in events if e is not crossings[0]] + [crossings[1], crossings[2]]
    changed.append(RawEvent(BAR_CHANNEL, json.dumps(open_minute), sent_at[-1]))
    changed.append(RawEvent(BAR_CHANNEL, "not json", sent_at[-1]))
    loss = judge(ticks, sent_at, windows, oracle, changed).loss
    assert any(p.startswith("1 of") and "threshold crossings on the tape never arrived" in p for p in loss)
    assert any(p.startswith("2 threshold crossings arrived more than once") for p in loss)
    assert any(p.startswith("1 events the tape does not explain") for p in loss)
    assert any(p.startswith("1 events are not JSON objects") for p in loss)


def test_a_wrong_crossing_and_a_bar_that_claims_a_later_closing_tick(run):
    ticks, sent_at, windows, oracle, events = run
    out = []
    for e in events:
        m = json.loads(e.payload)
        if e.channel == THRESHOLD_CHANNEL and not any(o.channel == THRESHOLD_CHANNEL for o in out):
            m["data"]["direction"] = "up" if m["data"]["direction"] == "down" else "down"
        if e.channel == BAR_CHANNEL and not any(o.channel == BAR_CHANNEL for o in out):
            m["data"]["closed_by_seq"] += 5
        out.append(RawEvent(e.channel, json.dumps(m), e.received_at))
    j = judge(ticks, sent_at, windows, oracle, out)
    assert any("threshold crossings differ from the tape" in p and "direction" in p for p in j.loss)
    assert any("bars differ from the tape" in p and "closed_by_seq" in p for p in j.loss)
    # the latency is still taken from the tick the tape says closed the bar, not the claimed one
    assert all(abs(ms - 4.0) < 1e-3 for w in j.latencies_ms.values() for ms in w)


def test_late_events_land_in_the_window_of_their_tick(run):
    ticks, sent_at, windows, oracle, _ = run
    events = perfect_events(oracle, sent_at)
    late = [RawEvent(e.channel, e.payload, e.received_at + 0.5)
            if 1201 <= json.loads(e.payload)["data"].get("seq", 0) < 2401 else e for e in events]
    j = judge(ticks, sent_at, windows, oracle, late)
    assert j.loss == []
    assert max(j.latencies_ms["during"]) == pytest.approx(504.0, abs=1e-3)
    assert max(j.latencies_ms["before"]) == pytest.approx(4.0, abs=1e-3)


def test_a_feeder_with_a_tick_limit_sends_exactly_that_many_as_fast_as_the_sink_takes_them():
    sink = ListSink()
    feeder = TickFeeder(TickTape(1, 20, 200), sink, rate=1e9, max_batch=1000, max_ticks=5000).start()
    deadline = time.monotonic() + 5
    while feeder.running and time.monotonic() < deadline:
        time.sleep(0.01)
    feeder.stop()
    assert feeder.sent == 5000 and max(len(b) for b in sink.batches) == 1000
