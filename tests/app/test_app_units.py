"""The reference TickStockApp's pure parts: validation and dead-letter reasons, the view, config, CLI."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import run_cli
from tickstock_app.config import AppConfig
from tickstock_app.consumer import (
    MAX_PAYLOAD_BYTES,
    PAYLOAD_KEEP_BYTES,
    Consumer,
    Hub,
    View,
    check_message,
    contract_channels,
    dead_letter_fields,
    themes_to_refresh,
)
from tickstock_app.database import DatabaseUnavailable


def envelope(event_type: str, data: dict, **extra) -> dict:
    return {"event_type": event_type, "service": "tickstock_pl.etf_universe_manager",
            "producer_id": "p1", "message_id": "a" * 32, "sequence": 1,
            "timestamp": "2026-01-05T10:00:00.000001+00:00", "data": data, **extra}


THEME = envelope("theme_updated", {"theme": "growth", "symbol_count": 2, "action": "updated",
                                   "cache_key": "etf_growth"})
EXPANSION = envelope("universe_expansion_complete", {
    "themes_processed": 3, "total_symbols": 5, "success_count": 2, "failed_count": 1,
    "themes": [{"theme": "growth", "status": "completed", "symbol_count": 2},
               {"theme": "bonds", "status": "failed", "symbol_count": 0, "error": "boom"},
               {"theme": "value", "status": "completed", "symbol_count": 3}]})


def test_valid_messages_pass():
    for message in (THEME, EXPANSION):
        checked, reason = check_message(json.dumps(message).encode())
        assert reason is None and checked == message


@pytest.mark.parametrize("raw, fragment", [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[1, 2]", "not a JSON object"),
    (json.dumps({"service": "x"}).encode(), "missing required field: event_type"),
    (json.dumps({**THEME, "event_type": 7}).encode(), "wrong type: event_type"),
    (json.dumps({**THEME, "event_type": "start_analysis"}).encode(), "unknown event_type: 'start_analysis'"),
    (json.dumps({k: v for k, v in THEME.items() if k != "message_id"}).encode(),
     "missing required field: <root>: 'message_id'"),
    (json.dumps({**THEME, "data": {**THEME["data"], "symbol_count": "two"}}).encode(),
     "wrong type: data/symbol_count"),
    (json.dumps({**THEME, "pad": "x" * MAX_PAYLOAD_BYTES}).encode(), "oversized"),
])
def test_bad_messages_get_a_one_line_reason(raw, fragment):
    message, reason = check_message(raw)
    assert message is None
    assert fragment in reason and "\n" not in reason and len(reason) <= 500


def test_dead_letter_fields_are_bounded():
    fields = dead_letter_fields("tickstock.universe.updated", "a\nreason", b"x" * (PAYLOAD_KEEP_BYTES * 3))
    assert fields["reason"] == "a reason"
    assert len(fields["payload"]) == PAYLOAD_KEEP_BYTES
    assert fields["channel"] == "tickstock.universe.updated" and fields["received_at"].endswith("+00:00")


def test_channels_come_from_the_contract():
    assert contract_channels()["universe_updated"] == "tickstock.universe.updated"
    assert contract_channels()["eod_completion"] == "tickstock.eod.completion"
    assert contract_channels()["automation_events"] == "tickstock.automation.events"
    assert len(contract_channels()) == 10


# The cache synchronization's events (contract/schemas), one valid example each, with its channel.
RUN = {"run_id": 7, "trading_date": "2026-10-30"}
CACHE_SYNC_EVENTS = [
    ("tickstock.eod.completion", envelope("eod_complete", {"trading_date": "2026-10-30",
                                                           "symbols_processed": 4900})),
    ("tickstock.automation.events", envelope("ipo_listed", {
        "symbol": "TEST_M00111", "name": "Energy Company 111", "list_date": "2026-10-20",
        "market_cap": 512000000, "sector": "Energy", "industry": None})),
    ("tickstock.cache.sync_complete", envelope("daily_sync_complete", {
        **RUN, "scope": "", "status": "failed", "total_changes": 3,
        "task_summary": {"market_cap_recalculation": {"status": "completed", "changes": 3},
                         "ipo_universe_assignment": {"status": "completed", "changes": 0},
                         "delisted_cleanup": {"status": "failed", "changes": 0, "error": "refusing"},
                         "theme_rebalancing": {"status": "completed", "changes": 0},
                         "etf_universe_maintenance": {"status": "completed", "changes": 0}},
        "changes_by_type": {"added": 3}, "universes_changed": 1,
        "started_at": "2026-10-30T21:00:00.000001+00:00", "finished_at": "2026-10-30T21:00:01+00:00",
        "duration_s": 1.0, "signal_id": "b" * 32})),
    ("tickstock.universe.updated", envelope("universe_synchronized", {
        **RUN, "universe": "large_cap", "universe_category": "STOCK", "change_count": 3,
        "actions": {"added": 3, "removed": 0, "created": 0, "correlation_updated": 0}, "symbol_count": 40})),
    ("tickstock.cache.ipo_assignment", envelope("ipo_assignment", {
        **RUN, "symbol": "TEST_M00111", "universe": "ipo_small_cap_energy", "tier": "small_cap",
        "sector": "Energy", "announcement_id": "c" * 32})),
    ("tickstock.cache.delisting_cleanup", envelope("delisting_cleanup", {
        **RUN, "symbol": "TEST_M00007", "reason": "inactive", "universes": ["large_cap", "top_500"]})),
    ("tickstock.etf.correlation_update", envelope("etf_correlation_update", {
        **RUN, "theme": "bonds", "cache_key": "etf_bonds", "window_days": 30, "symbols": ["AGG", "BND"],
        "pairs": [["AGG", "BND", 0.9871]], "average_correlation": 0.9871})),
]


@pytest.mark.parametrize("channel, message", CACHE_SYNC_EVENTS,
                         ids=[m["event_type"] for _, m in CACHE_SYNC_EVENTS])
def test_cache_sync_events_are_valid_notifications_not_dead_letters(channel, message):
    checked, reason = check_message(json.dumps(message).encode())
    assert reason is None and checked == message
    assert channel in contract_channels().values()
    assert themes_to_refresh(message) == []  # no ETF universe to re-read

    async def scenario():
        db = FakeDatabase()
        consumer = RecordingConsumer(db)
        for durable in (False, True):  # live, then the same message from the stream
            assert await consumer.receive(channel, json.dumps(message).encode(), durable=durable)
        assert consumer.dead == [] and consumer.consumed == 1 and db.calls == []
        bad = {**message, "data": {**message["data"], "unexpected": 1}}  # additionalProperties: false
        assert await consumer.receive(channel, json.dumps(bad).encode(), durable=False)
        assert len(consumer.dead) == 1 and f"schema {message['event_type']}" in consumer.dead[0][1]
        await consumer.client.aclose()

    asyncio.run(scenario())


def test_themes_to_refresh():
    assert themes_to_refresh(THEME) == ["growth"]
    assert themes_to_refresh(EXPANSION) == ["growth", "value"]  # failed themes are not re-read
    assert themes_to_refresh(envelope("minute_bar", {})) == []


def test_view_update_from_a_message():
    view = View()
    entry = view.apply("growth", {"symbols": ["QQQ", "VUG"], "last_updated": "2026-01-05T10:00:00"}, THEME)
    assert entry == {"symbols": ["QQQ", "VUG"], "symbol_count": 2, "last_update": "2026-01-05T10:00:00",
                     "source_message_id": "a" * 32}
    assert view.as_dict()["themes"]["growth"] == entry
    view.apply("growth", {"error": "Universe not found: growth"}, THEME)  # gone from the database
    assert view.themes == {}


class FakeDatabase:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[str] = []

    async def universe(self, theme: str, filtered: bool) -> dict:
        self.calls.append(theme)
        if self.fail:
            raise DatabaseUnavailable("down")
        return {"symbols": [theme.upper()], "last_updated": "t"}


class RecordingConsumer(Consumer):
    def __init__(self, database, config: AppConfig | None = None) -> None:
        super().__init__(config or AppConfig(), database, Hub())
        self.dead: list[tuple[str, str]] = []

    async def handle_invalid(self, channel, reason, raw):
        self.dead.append((channel, reason))


def test_consumer_handles_valid_invalid_and_deferred_messages():
    async def scenario():
        db = FakeDatabase()
        consumer = RecordingConsumer(db)
        sub = consumer.hub.subscribe()
        raw = json.dumps(THEME).encode()
        assert await consumer.receive("tickstock.universe.updated", raw, durable=False)
        assert db.calls == [] and consumer.consumed == 1  # live path: announced, no database work
        assert await consumer.receive("stream:tickstock.universe.updated", raw, durable=True)
        assert db.calls == ["growth"] and consumer.consumed == 1  # announced once, view refreshed
        assert consumer.view.themes["growth"]["symbols"] == ["GROWTH"]
        assert json.loads(sub.queue.get_nowait())["message_id"] == "a" * 32 and sub.queue.empty()
        assert await consumer.receive("tickstock.universe.updated", b"{oops", durable=False)
        assert consumer.dead and "not JSON" in consumer.dead[0][1]
        db.fail = True  # database down: the stream entry must stay pending (not acknowledged)
        other = json.dumps({**THEME, "message_id": "b" * 32}).encode()
        assert await consumer.receive("stream:tickstock.universe.updated", other, durable=True) is False
        assert len(consumer.dead) == 1
        await consumer.client.aclose()

    asyncio.run(scenario())


def test_a_notification_whose_processing_raises_is_a_dead_letter():
    class Exploding(RecordingConsumer):
        async def refresh_view(self, message):
            raise RuntimeError("bug\nin processing")

    async def scenario():
        consumer = Exploding(FakeDatabase())
        assert await consumer.receive("stream:x", json.dumps(THEME).encode(), durable=True) is True
        assert consumer.dead == [("stream:x", "processing failed: RuntimeError: bug in processing")]
        await consumer.client.aclose()

    asyncio.run(scenario())


def test_config_from_environment_hides_the_password():
    config = AppConfig.from_env({"TICKSTOCK_APP_DB_HOST": "db", "TICKSTOCK_APP_DB_PORT": "6543",
                                 "TICKSTOCK_APP_DB_PASSWORD": "s3cret-pw", "TICKSTOCK_APP_REDIS_DB": "13"},
                                instance="i1")
    got = (config.db_host, config.db_port, config.db_password, config.redis_db)
    assert got == ("db", 6543, "s3cret-pw", 13)
    assert config.db_user == "app_readwrite" and config.redis_client_name == "tickstock_app.i1"
    assert "s3cret-pw" not in repr(config) and "s3cret-pw" not in config.describe()
    assert AppConfig.from_env({}).redis_db == 14


def test_a_channel_namespace_prefixes_every_channel_stream_and_the_dead_letters():
    config = AppConfig.from_env({"TICKSTOCK_APP_CHANNEL_PREFIX": "w1."})
    consumer = RecordingConsumer(FakeDatabase(), config=config)
    assert consumer.channels == sorted("w1." + c for c in contract_channels().values())
    assert consumer.stream == "stream:w1.tickstock.universe.updated"
    assert consumer.dead_letters.stream == "w1.tickstock_app:dead_letters"
    plain = RecordingConsumer(FakeDatabase())
    assert plain.stream == "stream:tickstock.universe.updated"
    assert plain.dead_letters.stream == "tickstock_app:dead_letters"
    asyncio.run(consumer.client.aclose())
    asyncio.run(plain.client.aclose())


@pytest.mark.parametrize("env, fragment", [
    ({"TICKSTOCK_APP_CHANNEL_PREFIX": "W1"}, "TICKSTOCK_APP_CHANNEL_PREFIX must be"),
    ({"TICKSTOCK_APP_DB_PORT": "abc"}, "TICKSTOCK_APP_DB_PORT must be an integer"),
    ({"TICKSTOCK_APP_REDIS_PORT": "70000"}, "TICKSTOCK_APP_REDIS_PORT must be a port"),
    ({"TICKSTOCK_APP_REDIS_DB": "16"}, "TICKSTOCK_APP_REDIS_DB must be 0-15"),
])
def test_bad_config_is_refused(env, fragment):
    with pytest.raises(ValueError, match=fragment):
        AppConfig.from_env(env)


@pytest.mark.parametrize("args, env, fragment", [
    (["--port", "x"], {}, "not a port number"),
    (["--port", "99999"], {}, "port out of range"),
    (["--bogus"], {}, "unrecognized arguments"),
    (["--instance", "a b"], {}, "--instance"),
    ([], {"TICKSTOCK_APP_DB_PORT": "abc", "TICKSTOCK_APP_DB_PASSWORD": "pw-never-shown"},
     "TICKSTOCK_APP_DB_PORT"),
])
def test_cli_bad_input_is_one_line_exit_2(args, env, fragment):
    result = run_cli(*args, env=env, module="tickstock_app", timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert "pw-never-shown" not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_cli_port_in_use_is_one_line_exit_2():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port), module="tickstock_app", timeout=30)
    assert result.returncode == 2 and "cannot listen on 127.0.0.1:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
