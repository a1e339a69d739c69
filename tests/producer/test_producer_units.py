"""Unit tests of the reference producer: data, filter, loader source, events, schemas, CLI."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.conftest import run_cli
from tickstock_acceptance.checks.database.coexistence import stock_universes
from tickstock_acceptance.checks.redis import bursts
from tickstock_acceptance.contract import messaging
from tickstock_acceptance.contract.events import message_problems
from tickstock_acceptance.contract.messaging import CHANNEL_NAMING_PATTERN, CHANNELS
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.sut import streams
from tickstock_acceptance.sut import subscriber as consumer
from tickstock_acceptance.sut.ui_clients import Sample, peak_in_flight
from tickstock_producer import events
from tickstock_producer.etf_universe import Etf, SourceError, Theme, apply_liquidity_filter, load_source
from tickstock_producer.historical_loader import ANCHOR_DATE, synthetic_bars, trading_days
from tickstock_producer.stock_universe import market_caps, tier_universes

ORIGINAL_THEMES = {"sectors", "growth", "value", "international", "commodities", "technology", "bonds"}


def test_reference_data_has_200_plus_distinct_etfs_in_the_original_themes():
    themes = load_source()
    assert ORIGINAL_THEMES <= set(themes)
    symbols = [e.symbol for t in themes.values() for e in t.etfs]
    assert len(set(symbols)) == len(symbols) >= 200
    kept = [e for t in themes.values() for e in apply_liquidity_filter(t)[0]]
    assert len(kept) >= 200
    assert all(e.name and e.aum > 0 and e.avg_volume > 0 for t in themes.values() for e in t.etfs)


def test_liquidity_filter_excludes_below_either_threshold():
    etfs = (Etf("BIG", "", "x", 2e9, 5e6), Etf("THIN", "", "x", 2e9, 10.0), Etf("TINY", "", "x", 1e6, 5e6))
    kept, excluded = apply_liquidity_filter(Theme("x", "", "", {"min_aum": 1e9, "min_avg_volume": 1e5}, etfs))
    assert [e.symbol for e in kept] == ["BIG"]
    assert [e.symbol for e in excluded] == ["THIN", "TINY"]
    kept, _ = apply_liquidity_filter(Theme("x", "", "", {}, etfs))
    assert len(kept) == 3


def test_synthetic_bars_are_deterministic_weekdays_and_valid_ohlc():
    bars = synthetic_bars("SPY", 30)
    assert bars == synthetic_bars("SPY", 30) and bars != synthetic_bars("QQQ", 30)
    assert [b[1] for b in bars] == trading_days(30) and bars[-1][1] == ANCHOR_DATE
    assert all(b[1].weekday() < 5 for b in bars)
    for _sym, _d, o, h, lo, c, v in bars:
        assert h >= max(o, c, lo) and lo <= min(o, c) and v > 0


def _message(**over):
    m = {"event_type": "theme_updated", "service": "s", "producer_id": "p", "message_id": "a" * 32,
         "sequence": 1, "timestamp": "2026-01-01T00:00:00.000001+00:00",
         "data": {"theme": "bonds", "symbol_count": 3, "action": "created", "cache_key": "etf_bonds"}}
    m.update(over)
    return m


def test_schemas_accept_good_and_reject_bad_messages():
    assert events.schema_errors(_message()) == []
    assert events.schema_errors(_message(timestamp="2026-01-01T00:00:00")) != []  # no offset
    assert events.schema_errors(_message(sequence=0)) != []
    assert events.schema_errors(_message(event_type="nope")) != []
    bad = _message()
    bad["data"] = {"theme": "bonds"}
    assert events.schema_errors(bad) != []


def test_suite_and_producer_agree_on_the_contract():
    assert messaging.STREAM_KEY_PREFIX == events.STREAM_PREFIX
    assert messaging.STREAM_MAXLEN == events.STREAM_MAXLEN  # the stream bound the persistence checks judge
    assert messaging.STREAM_DB == events.REDIS_DB_FLOWS
    assert events.CHANNELS == CHANNELS  # the producer's channel table is the contract's
    assert messaging.UNIVERSE_CHANNEL == events.CHANNEL_UNIVERSE_UPDATED == CHANNELS["universe_updated"]
    assert all(CHANNEL_NAMING_PATTERN.match(c) for c in events.EVENT_CHANNELS.values())
    rec = consumer.decode("tickstock.universe.updated", json.dumps(_message()), 0.0)
    assert rec.problems() == [] == message_problems(_message())


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    from tickstock_acceptance.infra.embedded import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.close()


def test_publisher_publishes_and_persists_ordered_unique_messages(redis_server):
    import redis

    r = redis.Redis(host=redis_server.host, port=redis_server.port, db=14, decode_responses=True)
    ps = r.pubsub()
    ps.subscribe(events.CHANNEL_UNIVERSE_UPDATED)
    assert ps.get_message(timeout=2)["type"] == "subscribe"
    pub = events.EventPublisher(r, "test_service")
    data = {"theme": "bonds", "symbol_count": 3, "action": "created", "cache_key": "etf_bonds"}
    threads = [threading.Thread(target=pub.publish, args=("theme_updated", data)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    live = []
    while len(live) < 20:
        m = ps.get_message(timeout=2)
        assert m is not None, f"only {len(live)} live messages"
        if m["type"] == "message":
            live.append(json.loads(m["data"]))
    key = events.stream_key(events.CHANNEL_UNIVERSE_UPDATED)
    stored = [json.loads(f["data"]) for _id, f in r.xrange(key)]
    assert [m["sequence"] for m in live] == list(range(1, 21)) == [m["sequence"] for m in stored]
    assert len({m["message_id"] for m in live}) == 20
    with pytest.raises(events.InvalidEvent):
        pub.publish("theme_updated", {"theme": "bonds"})
    with pytest.raises(events.InvalidEvent):
        pub.publish("not_an_event", {})
    assert r.xlen(events.stream_key(events.CHANNEL_UNIVERSE_UPDATED)) == 20


def test_a_publisher_in_a_namespace_is_heard_only_there(redis_server):
    """TICKSTOCK_PL_CHANNEL_PREFIX: every channel and stream in the namespace; the spec's stay silent."""
    import redis

    from tickstock_producer.facade import ProducerConfig

    r = redis.Redis(host=redis_server.host, port=redis_server.port, db=14, decode_responses=True)
    ps = r.pubsub()
    ps.psubscribe("*")
    assert ps.get_message(timeout=2)["type"] == "psubscribe"
    plain_stream = events.stream_key(events.CHANNEL_UNIVERSE_UPDATED)
    plain_before = r.xlen(plain_stream)
    pub = events.EventPublisher(r, "test_service", channel_prefix="w1.")
    data = {"theme": "bonds", "symbol_count": 3, "action": "created", "cache_key": "etf_bonds"}
    sent = pub.publish("theme_updated", data)
    message = ps.get_message(timeout=2)
    assert (sent.channel, message["channel"]) == ("w1.tickstock.universe.updated",) * 2
    assert r.xlen("stream:w1.tickstock.universe.updated") == 1
    assert r.xlen(plain_stream) == plain_before and ps.get_message(timeout=0.2) is None
    eod = "stream:tickstock.eod.completion"
    assert events.namespaced_stream(eod, "w1.") == "stream:w1.tickstock.eod.completion"
    assert events.namespaced_stream(eod, "") == eod
    for bad in ("W1.", "w1", "a b.", "x" * 40 + "."):
        with pytest.raises(ValueError, match="channel prefix"):
            ProducerConfig.from_env({"TICKSTOCK_PL_CHANNEL_PREFIX": bad})
    assert ProducerConfig.from_env({}).channel_prefix == ""


class _RedisOnly:
    """Just enough of AcceptanceSystem for a consumer-side observer on a test Redis."""

    def __init__(self, server):
        self.server = server

    def redis_client(self, db, **kw):
        import redis

        return redis.Redis(host=self.server.host, port=self.server.port, db=db, decode_responses=True, **kw)


def test_red1_observer_sees_every_tickstock_channel_and_nothing_else(redis_server):
    """On a shared Redis other applications' channels are not judged; misnamed TickStock ones are."""
    observer = consumer.observe_tickstock_channels(_RedisOnly(redis_server))
    publisher = _RedisOnly(redis_server).redis_client(14)
    try:
        for channel in ("other.app.events", "tickstock.universe.updated", "tickstock:cache:sync_complete",
                        "metrics"):
            publisher.publish(channel, json.dumps({"n": 1}))
        wait_until(lambda: len(observer.snapshot()) >= 2, 5, "the observer receiving two messages")
        time.sleep(0.2)  # anything else published would have arrived by now
        seen = sorted(r.channel for r in observer.snapshot())
    finally:
        observer.stop()
        publisher.close()
    assert seen == ["tickstock.universe.updated", "tickstock:cache:sync_complete"]
    misnamed = [c for c in seen if not messaging.follows_naming_convention(c)]
    assert misnamed == ["tickstock:cache:sync_complete"]


def test_cli_help_and_bad_arguments():
    ok = run_cli("--help", module="tickstock_producer")
    assert ok.returncode == 0 and "expand" in ok.stdout and "summary" in ok.stdout
    for args in (["bogus"], ["expand", "--themes", "nope"], ["load-history", "--days", "x"], [],
                 ["maintain-stock-universes", "--symbols", "0"],
                 ["expand", "--repeat-until-stopped", "--max-seconds", "0"]):
        bad = run_cli(*args, module="tickstock_producer")
        assert bad.returncode == 2, (args, bad)
        assert len(bad.stderr.strip().splitlines()) == 1 and bad.stderr.startswith("error:"), bad.stderr
        assert "Traceback" not in bad.stderr


MALFORMED_SOURCES = {
    "themes is a number": {"themes": 5},
    "not an object": [1, 2],
    "theme is a list": {"themes": {"x": []}},
    "etfs missing": {"themes": {"x": {"focus": "f"}}},
    "etf is a number": {"themes": {"x": {"etfs": [1]}}},
    "symbol is a number": {"themes": {"x": {"etfs": [{"symbol": 1, "aum": 1e9, "avg_volume": 1e6}]}}},
    "aum missing": {"themes": {"x": {"etfs": [{"symbol": "SPY", "avg_volume": 1e6}]}}},
    "aum is text": {"themes": {"x": {"etfs": [{"symbol": "SPY", "aum": "big", "avg_volume": 1e6}]}}},
    "filter is a list": {"themes": {"x": {"liquidity_filter": [1], "etfs": []}}},
    "filter threshold is text": {"themes": {"x": {"liquidity_filter": {"min_aum": "1e9"}, "etfs": []}}},
    "focus is a number": {"themes": {"x": {"focus": 3, "etfs": []}}},
}


@pytest.mark.parametrize("shape", list(MALFORMED_SOURCES))
def test_malformed_source_is_a_source_error_naming_the_field(shape, tmp_path):
    path = tmp_path / "source.json"
    path.write_text(json.dumps(MALFORMED_SOURCES[shape]))
    with pytest.raises(SourceError):
        load_source(path)


def test_source_of_the_reference_shape_loads(tmp_path):
    path = tmp_path / "source.json"
    path.write_text(json.dumps({"themes": {"x": {"liquidity_filter": None, "etfs": [
        {"symbol": " spy ", "aum": 5, "avg_volume": 7}]}}}))
    theme = load_source(path)["x"]
    assert theme.etfs == (Etf("SPY", "", "x", 5.0, 7.0),) and theme.liquidity_filter == {}


@pytest.mark.parametrize("content", ['{"themes": 5}', '{"themes": {"x": {"etfs": [{"symbol": 1}]}}}',
                                     '{"themes": {"x": {"etfs": ["SPY"]}}}', "[]", "not json"])
def test_cli_expand_with_a_malformed_source_is_one_line_exit_2(content, tmp_path):
    path = tmp_path / "source.json"
    path.write_text(content)
    bad = run_cli("expand", "--source", str(path), module="tickstock_producer")
    assert bad.returncode == 2, bad
    assert len(bad.stderr.strip().splitlines()) == 1 and bad.stderr.startswith("error: --source"), bad.stderr
    assert "Traceback" not in bad.stderr and "not an ETF source file" in bad.stderr


def test_peak_in_flight_counts_overlapping_samples_only():
    assert peak_in_flight([]) == 0
    serial = [Sample(100.0 + i, 500.0) for i in range(5)]  # each ends before the next starts
    assert peak_in_flight(serial) == 1
    touching = [Sample(100.0, 1000.0), Sample(101.0, 1000.0)]  # one ends as the other starts
    assert peak_in_flight(touching) == 1
    staggered = [Sample(100.0 + i * 0.01, 100.0) for i in range(12)]  # 12 starts within 0.11 s
    assert peak_in_flight(staggered) == 10


def test_producer_stock_tiers_agree_with_the_suites_statement_of_them():
    symbols = [f"TEST_STK{i:03d}" for i in range(60)]
    for round_no in range(5):
        caps = market_caps(symbols, round_no)
        assert tier_universes(caps, "test_") == stock_universes(caps)


def test_theme_names_of_the_stream_burst_are_valid_theme_names():
    import re

    names = [bursts.BURST_THEME_PREFIX + bursts._letters(n) for n in (0, 25, 26, 700)]
    assert names[:3] == ["test_stream_burst_a", "test_stream_burst_z", "test_stream_burst_ba"]
    assert all(re.fullmatch(r"[a-z][a-z_]*", n) for n in names) and len(set(names)) == 4


def test_a_group_member_claims_what_a_crashed_member_left_unacknowledged(redis_server):
    import redis

    system = _RedisOnly(redis_server)
    first = streams.GroupInstance(system, "unit_crash_group", "app-1")
    second = streams.GroupInstance(system, "unit_crash_group", "app-2")
    first.register()
    r = redis.Redis(host=redis_server.host, port=redis_server.port, db=14, decode_responses=True)
    pub = events.EventPublisher(r, "test_service")
    data = {"theme": "bonds", "symbol_count": 3, "action": "created", "cache_key": "etf_bonds"}
    for _ in range(5):
        pub.publish("theme_updated", data)
    read = first.read(2)
    first.crash()
    assert [rec.message["sequence"] for _, rec in read] == [1, 2]
    assert second.claim(60_000) == []  # not idle long enough: still the first member's
    claimed = wait_until(lambda: second.claim(50), 5, "claim after 50 ms idle")
    assert [i for i, _ in claimed] == [i for i, _ in read]
    second.ack([i for i, _ in claimed])
    rest = second.read(100)
    second.ack([i for i, _ in rest])
    assert [rec.message["sequence"] for _, rec in rest] == [3, 4, 5]
    assert second.pending() == 0 and second.read(100) == [] and second.claim(0) == []
    assert second.own_history() == []
    assert streams.trim_slack(r) == 100  # Redis's default stream-node-max-entries
