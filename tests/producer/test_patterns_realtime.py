"""Unit tests of the pattern detector and the tick processor (pure parts; no database, no Redis)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tickstock_producer import events, patterns, realtime
from tickstock_producer.patterns import PatternDetector, SymbolBars, detect_in_rows
from tickstock_producer.realtime import BadTick, Tick, TickProcessor, TickRules, parse_tick

CONTRACT = Path(__file__).resolve().parents[2] / "contract"


class ListPublisher:
    """Collects what would be published; validates like the real EventPublisher."""

    producer_id = "test-producer"

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.published_count = 0

    def publish(self, event_type: str, data: dict) -> None:
        message = {"event_type": event_type, "service": "t", "producer_id": self.producer_id,
                   "message_id": "0" * 32, "sequence": len(self.sent) + 1,
                   "timestamp": "2026-01-01T00:00:00.000001+00:00", "data": data}
        errors = events.schema_errors(message)
        if errors:
            raise events.InvalidEvent("; ".join(errors))
        self.sent.append((event_type, data))
        self.published_count += 1


# --- the contract ---------------------------------------------------------------------------

def test_realtime_constants_are_the_contracts():
    block = json.loads((CONTRACT / "messaging.json").read_text())["realtime"]
    assert realtime.TICK_STREAM == block["tick_stream"]
    assert list(realtime.TICK_FIELDS) == block["tick_fields"]
    assert realtime.BAR_SECONDS == block["bar_seconds"]
    assert realtime.THRESHOLD_STEP == block["threshold_step"]


def test_pattern_table_is_the_contracts():
    contract = json.loads((CONTRACT / "reference" / "scenarios.json").read_text())
    assert {p: f for p, (f, _) in patterns.PATTERNS.items()} == {
        p: spec["talib"] for p, spec in contract["patterns"].items()}
    assert contract["storage"]["bars_table"] == "synthetic.ohlcv_daily"


def test_new_event_types_have_schemas_and_realtime_channels():
    assert events.EVENT_CHANNELS["pattern_detected"] == "tickstock.patterns.detected"
    assert events.EVENT_CHANNELS["minute_bar"] == "tickstock.realtime.bar"
    assert events.EVENT_CHANNELS["price_threshold_crossed"] == "tickstock.realtime.threshold"
    for event_type in ("pattern_detected", "minute_bar", "price_threshold_crossed"):
        events.validator(event_type)  # raises KeyError without a schema


# --- pattern detection ----------------------------------------------------------------------

def _rows(candles, start=date(2026, 1, 5)):
    """(date, open, high, low, close, volume) rows on consecutive days (Decimals, as psycopg2 gives)."""
    return [(start + timedelta(days=i), *(Decimal(str(x)) for x in c), 1000) for i, c in enumerate(candles)]


def _quiet(n, price=100.0):
    """Ordinary candles (body ~0.8, small wicks) that trip none of the four patterns."""
    out = []
    for i in range(n):
        o = price + (0.3 if i % 2 else -0.3)
        c = price - (0.5 if i % 2 else -0.5)
        out.append((o, max(o, c) + 0.3, min(o, c) - 0.3, c))
    return out


def test_detection_finds_a_doji_on_its_date_and_nothing_on_plain_candles():
    plain = _rows(_quiet(30))
    assert detect_in_rows("TEST_X", plain) == []
    candles = _quiet(30) + [(100.0, 101.0, 99.0, 100.0)]  # open == close, long wicks: a doji
    hits = detect_in_rows("TEST_X", _rows(candles))
    assert [(h.pattern, h.talib_function, h.signal, h.date) for h in hits] == [
        ("doji", "CDLDOJI", 100, (date(2026, 1, 5) + timedelta(days=30)).isoformat())]
    assert detect_in_rows("TEST_X", []) == []


def test_only_bullish_engulfing_counts():
    falling = [(100.0 - i, 100.4 - i, 98.6 - i, 99.0 - i) for i in range(30)]
    bullish = falling + [(70.2, 70.4, 69.6, 69.8), (69.5, 71.2, 69.4, 71.0)]
    hits = [h for h in detect_in_rows("TEST_X", _rows(bullish)) if h.pattern == "bullish_engulfing"]
    assert [(h.signal, h.date) for h in hits] == [(100, (date(2026, 1, 5) + timedelta(days=31)).isoformat())]
    rising = [(70.0 + i, 71.4 + i, 69.6 + i, 71.0 + i) for i in range(30)]
    bearish = rising + [(100.8, 101.4, 100.6, 101.2), (101.5, 101.6, 100.0, 100.4)]
    assert not [h for h in detect_in_rows("TEST_X", _rows(bearish)) if h.pattern == "bullish_engulfing"]


class _Detector(PatternDetector):
    def __init__(self, bars, publisher):
        super().__init__(connect=None, publisher=publisher)
        self.bars = bars

    def read_bars(self, symbols):
        return {s: self.bars[s] for s in symbols if s in self.bars}


def test_detector_publishes_one_event_per_hit_oldest_first_and_reports_missing():
    doji = (100.0, 101.0, 99.0, 100.0)
    late = _rows(_quiet(30) + [doji])
    early = _rows(_quiet(20) + [doji] + _quiet(10))
    bars = {"TEST_A": SymbolBars("TEST_A", True, "candlestick_patterns", late),
            "AAPL": SymbolBars("AAPL", False, None, early)}
    pub = ListPublisher()
    report = _Detector(bars, pub).detect(["TEST_A", "AAPL", "TEST_NONE"]).as_dict()
    assert [(t, d["symbol"], d["synthetic"], d["scenario"]) for t, d in pub.sent] == [
        ("pattern_detected", "AAPL", False, None),
        ("pattern_detected", "TEST_A", True, "candlestick_patterns")]
    assert pub.sent[0][1]["date"] < pub.sent[1][1]["date"]
    assert report["published_count"] == 2 and report["symbols"] == 3
    assert report["missing"] == ["TEST_NONE"] and report["errors"] == []
    assert report["detections"] == [{"symbol": d["symbol"], "pattern": "doji", "date": d["date"]}
                                    for _, d in pub.sent]


# --- tick processing ------------------------------------------------------------------------

MIN = 60_000
T0 = 1_790_000_000_000 - 1_790_000_000_000 % MIN  # a minute boundary


def _tick(seq, symbol, price, ts, volume=10):
    return Tick(seq, symbol, price, volume, ts)


def test_watermark_closes_every_earlier_bar_in_symbol_order():
    rules = TickRules()
    out = []
    for t in (_tick(1, "B", 10.2, T0), _tick(2, "A", 20.5, T0 + 1000), _tick(3, "B", 10.7, T0 + 2000),
              _tick(4, "B", 10.1, T0 + 3000, volume=5)):
        out += rules.on_tick(t)
    assert out == []
    closing = rules.on_tick(_tick(5, "A", 20.4, T0 + MIN + 10))
    assert [d["symbol"] for _, d in closing] == ["A", "B"]
    a, b = (d for _, d in closing)
    assert b == {"symbol": "B", "minute": realtime.minute_iso(T0 // MIN), "open": 10.2, "high": 10.7,
                 "low": 10.1, "close": 10.1, "volume": 25, "tick_count": 3, "first_seq": 1,
                 "last_seq": 4, "closed_by_seq": 5}
    assert a["tick_count"] == 1 and a["closed_by_seq"] == 5
    assert b["minute"].endswith("+00:00") and b["minute"][17:19] == "00"
    # the same minute again closes nothing; the open bar counts its tick
    assert rules.on_tick(_tick(6, "B", 10.3, T0 + MIN + 20)) == []
    assert rules.open_bar_ticks() == 2 and len(rules.bars) == 2
    # a jump over several minutes closes both open bars at once
    assert [d["symbol"] for _, d in rules.on_tick(_tick(7, "C", 5.5, T0 + 5 * MIN))] == ["A", "B"]


def test_late_tick_is_counted_not_lost():
    rules = TickRules()
    rules.on_tick(_tick(1, "A", 10.5, T0 + MIN))
    assert rules.on_tick(_tick(2, "A", 10.5, T0)) == []
    assert rules.late_ticks == 1 and rules.open_bar_ticks() == 2
    closed = rules.on_tick(_tick(3, "A", 10.5, T0 + 2 * MIN))
    assert [(d["minute"], d["tick_count"]) for _, d in closed] == [
        (realtime.minute_iso(T0 // MIN), 1), (realtime.minute_iso(T0 // MIN + 1), 1)]


def test_threshold_crossings_follow_the_floor_rule():
    rules = TickRules(threshold_step=1.0)
    prices = [99.5, 99.9, 100.0, 100.7, 99.99, 102.3, 99.0, 99.5]
    out = []
    for i, p in enumerate(prices, 1):
        out += [d for t, d in rules.on_tick(_tick(i, "X", p, T0 + i)) if t == "price_threshold_crossed"]
    assert [(d["threshold"], d["direction"], d["previous_price"], d["price"], d["seq"]) for d in out] == [
        (100.0, "up", 99.9, 100.0, 3),
        (100.0, "down", 100.7, 99.99, 5),
        (102.0, "up", 99.99, 102.3, 6),    # a jump over several multiples: one event
        (102.0, "down", 102.3, 99.0, 7),
    ]
    # thresholds are per symbol: another symbol's first tick crosses nothing
    assert rules.on_tick(_tick(9, "Y", 50.0, T0 + 20)) == []
    half = TickRules(threshold_step=0.5)
    half.on_tick(_tick(1, "X", 10.4, T0))
    assert half.on_tick(_tick(2, "X", 10.6, T0))[0][1]["threshold"] == 10.5
    with pytest.raises(ValueError):
        TickRules(threshold_step=0)


def test_parse_tick_accepts_stream_bytes_and_rejects_bad_fields():
    good = {b"seq": b"7", b"symbol": b"AAPL", b"price": b"101.25", b"volume": b"300",
            b"ts": str(T0).encode()}
    assert parse_tick(good) == Tick(7, "AAPL", 101.25, 300, T0)
    assert parse_tick({k.decode(): v.decode() for k, v in good.items()}) == Tick(7, "AAPL", 101.25, 300, T0)
    for bad in ({b"symbol": b"aapl"}, {b"price": b"nan"}, {b"price": b"-1"}, {b"volume": b"1.5"},
                {b"ts": b"-5"}, {b"seq": b"x"}):
        with pytest.raises(BadTick):
            parse_tick({**good, **bad})
    with pytest.raises(BadTick):
        parse_tick({k: v for k, v in good.items() if k != b"ts"})


class FakeRedis:
    """Serves prepared XREAD batches, then asks the run to stop."""

    def __init__(self, batches):
        self.batches = list(batches)
        self.name = None
        self.reads = []

    def client_setname(self, name):
        self.name = name

    def xread(self, streams, count, block):
        self.reads.append((dict(streams), count, block))
        if not self.batches:
            return []
        return [(realtime.TICK_STREAM.encode(), self.batches.pop(0))]


def _entry(seq, symbol, price, ts, volume=10):
    return (f"{ts}-{seq}".encode(), {b"seq": str(seq).encode(), b"symbol": symbol.encode(),
                                     b"price": str(price).encode(), b"volume": str(volume).encode(),
                                     b"ts": str(ts).encode()})


def test_processor_reads_in_order_publishes_validated_events_and_accounts_for_every_tick():
    batch1 = [_entry(1, "AAA", 10.5, T0), _entry(2, "BBB", 20.5, T0 + 10), _entry(3, "AAA", 11.2, T0 + 20)]
    batch2 = [_entry(4, "BBB", 20.7, T0 + MIN), (b"9-9", {b"symbol": b"bad"}),
              _entry(5, "AAA", 11.1, T0 + MIN)]
    fake = FakeRedis([batch1, batch2])
    pub = ListPublisher()
    proc = TickProcessor(fake, pub)
    report = proc.run(should_stop=lambda: not fake.batches and len(fake.reads) >= 2, max_seconds=5).as_dict()
    assert fake.name == "tickstock_pl.tick_processor"
    stream = realtime.TICK_STREAM
    assert [r[0] for r in fake.reads] == [{stream: "0-0"}, {stream: batch1[-1][0]}]
    assert [(t, d["symbol"]) for t, d in pub.sent] == [
        ("price_threshold_crossed", "AAA"), ("minute_bar", "AAA"), ("minute_bar", "BBB")]
    bars = [d for t, d in pub.sent if t == "minute_bar"]
    assert sum(d["tick_count"] for d in bars) + report["open_bar_ticks"] == report["ticks_processed"] == 5
    assert {k: report[k] for k in ("published_count", "bars_published", "thresholds_published",
                                   "open_bars", "last_seq", "rejected_ticks")} == {
        "published_count": 3, "bars_published": 2, "thresholds_published": 1, "open_bars": 2,
        "last_seq": 5, "rejected_ticks": 1}
    assert len(report["errors"]) == 1 and "rejected" in report["errors"][0]
    assert report["producer_id"] == "test-producer"


def test_processor_stops_at_once_when_asked():
    fake = FakeRedis([])
    report = TickProcessor(fake, ListPublisher()).run(should_stop=lambda: True, max_seconds=5)
    assert fake.reads == [] and report.ticks_processed == 0 and report.last_seq is None


class _FakePipeline:
    def __init__(self, log):
        self.log, self.commands = log, []

    def publish(self, channel, payload):
        self.commands.append(("PUBLISH", channel, json.loads(payload)))

    def xadd(self, key, fields, maxlen, approximate):
        self.commands.append(("XADD", key, json.loads(fields["data"])))

    def execute(self):
        self.log.append(self.commands)
        return [1 if c[0] == "PUBLISH" else f"1-{i}" for i, c in enumerate(self.commands)]


class _FakeClient:
    def __init__(self):
        self.round_trips = []

    def pipeline(self, transaction):
        assert transaction
        return _FakePipeline(self.round_trips)


def test_publish_many_validates_all_then_sends_one_transaction_with_consecutive_sequences():
    client = _FakeClient()
    pub = events.EventPublisher(client, "tickstock_pl.tick_processor")
    bar = {"symbol": "AAA", "minute": realtime.minute_iso(T0 // MIN), "open": 1.0, "high": 1.0,
           "low": 1.0, "close": 1.0, "volume": 0, "tick_count": 1, "first_seq": 1, "last_seq": 1,
           "closed_by_seq": 2}
    cross = {"symbol": "AAA", "threshold": 2.0, "direction": "up", "price": 2.1,
             "previous_price": 1.9, "seq": 3}
    sent = pub.publish_many([("minute_bar", bar), ("price_threshold_crossed", cross)])
    assert [p.sequence for p in sent] == [1, 2] and pub.published_count == 2
    (commands,) = client.round_trips
    assert [(c[0], c[1]) for c in commands] == [
        ("PUBLISH", "tickstock.realtime.bar"), ("XADD", "stream:tickstock.realtime.bar"),
        ("PUBLISH", "tickstock.realtime.threshold"), ("XADD", "stream:tickstock.realtime.threshold")]
    assert all(events.schema_errors(c[2]) == [] for c in commands)
    with pytest.raises(events.InvalidEvent):
        pub.publish_many([("minute_bar", bar),
                          ("price_threshold_crossed", {**cross, "direction": "sideways"})])
    assert len(client.round_trips) == 1 and pub.published_count == 2  # nothing of a bad batch went out
    assert pub.publish_many([("minute_bar", bar)])[0].sequence == 3  # no sequence number was used
