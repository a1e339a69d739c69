"""The Service Boundaries problem finders (checks/boundaries): each finds what it must, and nothing in
data that is right. Pure functions on hand-made data; no servers."""

import json

import pytest

from tickstock_acceptance.checks.boundaries import audit, coupling, expansion, role
from tickstock_acceptance.config.settings import load_settings
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.steplib.parameter_types import (
    SpecMismatch,
    parse_permission_sqlstate,
    parse_producer_function,
    parse_producer_tables,
)
from tickstock_acceptance.sut.subscriber import decode
from tickstock_acceptance.sut.tickstock_app import Socket, parse_monitor_line

PROBE = role.PROBE_APPLICATION
T = "2026-01-01 10:00:0{} UTC [{}]"
PROBE_SESSION = f"<app_readwrite|{PROBE}>"
APP_SESSION = "<app_readwrite|tickstock_app>"
LOG = "\n".join([
    f"{T.format(0, 100)} LOG:  database system is ready to accept connections",
    f"{T.format(1, 200)} {PROBE_SESSION} LOG:  statement: INSERT INTO app_user_preferences "
    "SELECT * FROM app_user_preferences LIMIT 0",
    f"{T.format(1, 201)} {PROBE_SESSION} ERROR:  permission denied for table cache_entries",
    f'{T.format(1, 201)} {PROBE_SESSION} STATEMENT:  INSERT INTO "cache_entries" '
    'SELECT * FROM "cache_entries" LIMIT 0',
    f"{T.format(2, 300)} <tickstock_producer|tickstock_pl> LOG:  statement: INSERT INTO ohlcv_daily "
    "VALUES (1)",
    f'{T.format(3, 400)} {APP_SESSION} ERROR:  relation "nope" does not exist',
    f"{T.format(3, 400)} {APP_SESSION} STATEMENT:  SELECT * FROM nope",
    ""])
APP_WRITES = "\n".join([
    f"{T.format(4, 401)} {APP_SESSION} LOG:  execute <unnamed>: UPDATE cache_entries",
    "\tSET symbols = '[]'",
    f"{T.format(5, 402)} {APP_SESSION} ERROR:  permission denied for function update_etf_universe",
    f"{T.format(5, 402)} {APP_SESSION} STATEMENT:  SELECT update_etf_universe('x', '[]', '{{}}')",
    ""])


# -- SVC-1: the role boundary -------------------------------------------------------------------------
def test_refusals_must_be_the_permission_error():
    refused = role.Attempt("INSERT on symbols", "INSERT ...", "42501", "permission denied for table symbols")
    accepted = role.Attempt("INSERT on cache_entries", "INSERT ...", None)
    other = role.Attempt("UPDATE on ohlcv_daily", "UPDATE ...", "42703", "column does not exist")
    assert role.refusal_problems([refused]) == []
    found = role.refusal_problems([refused, accepted, other])
    assert found == ["INSERT on cache_entries was accepted: the consumer role may write it",
                     "UPDATE on ohlcv_daily failed with SQLSTATE 42703, not the permission error 42501: "
                     "column does not exist"]
    assert role.read_problems([accepted]) == []
    assert role.read_problems([refused]) == [
        "INSERT on symbols failed: SQLSTATE 42501 permission denied for table symbols"]


def test_the_probe_writes_the_contracts_producer_tables():
    assert role.producer_tables() == ["cache_entries", "cache_sync_changes", "cache_sync_runs", "ohlcv_daily",
                                      "symbols"]


def test_log_writes_are_attributed_to_their_session():
    writes = audit.writes_of(audit.parse_log(LOG), "app_readwrite")
    assert [(w.kind, w.application) for w in writes] == [("wrote", PROBE), ("denied", PROBE)]
    assert writes[1].statement.startswith('INSERT INTO "cache_entries"')
    assert audit.app_write_problems(writes) == []  # the probe is the suite; a failed SELECT is no write
    assert audit.control_problems(writes, PROBE, "app_user_preferences", ["cache_entries"]) == []


def test_tickstock_apps_writes_and_refused_writes_are_found():
    writes = audit.writes_of(audit.parse_log(LOG + APP_WRITES), "app_readwrite")
    found = audit.app_write_problems(writes)
    assert len(found) == 2
    assert found[0].startswith("app_readwrite [tickstock_app, pid 401] wrote: UPDATE cache_entries SET")
    assert "denied: SELECT update_etf_universe" in found[1] and "permission denied for function" in found[1]


def test_a_log_that_records_nothing_fails_the_control():
    writes = audit.writes_of(audit.parse_log(LOG.splitlines()[0]), "app_readwrite")
    found = audit.control_problems(writes, PROBE, "app_user_preferences", ["cache_entries", "symbols"])
    assert len(found) == 3 and "does not record" in found[0]


# -- SVC-2: no analysis on expansion ------------------------------------------------------------------
def _message(producer_id, event_type="theme_updated", service="tickstock_pl.etf_universe_manager"):
    return json.dumps({"producer_id": producer_id, "event_type": event_type, "service": service,
                       "message_id": f"{producer_id}-1", "timestamp": "2026-01-01T00:00:00+00:00"})


def test_the_view_must_show_the_stored_counts_from_this_expansion():
    view = {"sectors": {"symbols": ["A", "B"], "symbol_count": 2, "source_message_id": "m1"},
            "etf_growth": {"symbols": ["C"], "symbol_count": 1, "source_message_id": "m2"}}
    assert expansion.view_problems(view, {"sectors": 2, "growth": 1}, {"m1", "m2"}) == []
    assert expansion.view_problems(view, {"sectors": 3, "bonds": 1}, {"m1"}) == [
        "bonds: not in TickStockApp's view", "sectors: the view shows 2 symbols, the producer stored 3"]
    assert expansion.view_problems(view, {"growth": 1}, {"m1"}) == [
        "growth: the view's source message 'm2' is not one of this expansion's"]


def test_only_the_producers_messages_may_appear():
    ours = decode("tickstock.universe.updated", _message("pl-1"), 0.0)
    theirs = decode("tickstock.analysis.requested",
                    _message(None, "analysis_requested", "tickstock_app"), 0.0)
    assert expansion.observed_message_problems([ours], {"pl-1"}) == []
    found = expansion.observed_message_problems([ours, theirs, theirs], {"pl-1"})
    assert found == ["tickstock.analysis.requested: analysis_requested message from tickstock_app "
                     "(producer_id None), not the producer's (x2)"]
    pattern = decode("tickstock.patterns.detected", _message("pl-1", "pattern_detected"), 0.0)
    assert expansion.observed_message_problems([pattern], {"pl-1"}) == [
        "tickstock.patterns.detected: the producer published pattern_detected during an expansion"]


def test_publishing_on_any_channel_is_judged_by_its_envelope():
    line = ('1767225600.123456 [14 127.0.0.1:40001] "PUBLISH" "analysis:jobs" '
            '"{\\"event_type\\": \\"analysis_requested\\", \\"service\\": \\"tickstock_app\\"}"')
    command = parse_monitor_line(line)
    assert command is not None and command.client == "127.0.0.1:40001" and command.db == 14
    assert command.args[:2] == ("PUBLISH", "analysis:jobs")
    assert json.loads(command.args[2])["service"] == "tickstock_app"
    producer = parse_monitor_line(f'1.0 [14 127.0.0.1:40002] "PUBLISH" "tickstock.universe.updated" '
                                  f'"{_message("pl-1").replace(chr(34), chr(92) + chr(34))}"')
    assert expansion.publish_problems([producer], {"pl-1"}) == []
    assert expansion.publish_problems([command, producer], {"pl-1"}) == [
        "analysis:jobs: analysis_requested from tickstock_app at 127.0.0.1:40001, not the producer's"]


def test_tickstock_app_may_publish_nothing_but_its_dead_letters():
    names = {"127.0.0.1:40001": "tickstock_app.acceptance", "127.0.0.1:40002": "other"}
    clients = expansion.app_clients(names, {"127.0.0.1:40003"})
    assert clients == {"127.0.0.1:40001", "127.0.0.1:40003"}
    dead_letter = parse_monitor_line('1.0 [14 127.0.0.1:40001] "XADD" "tickstock_app:dead_letters" "*" "a"')
    push = parse_monitor_line('1.0 [14 127.0.0.1:40003] "LPUSH" "analysis:queue" "x"')
    other = parse_monitor_line('1.0 [14 127.0.0.1:40002] "PUBLISH" "tickstock.universe.updated" "x"')
    assert expansion.app_publishing_problems([dead_letter, other], clients, names) == []
    assert expansion.app_publishing_problems([push], clients, names) == [
        "TickStockApp (127.0.0.1:40003) sent LPUSH analysis:queue"]


def test_a_process_started_during_the_expansion_is_found():
    before = {10: "python worker.py"}
    assert expansion.child_process_problems(before, before) == []
    assert expansion.child_process_problems({**before, 11: "python -m analysis"}, before) == [
        "pid 11: python -m analysis"]


# -- loose coupling -----------------------------------------------------------------------------------
def test_tickstock_apps_sockets_go_only_to_the_servers_and_its_own_port():
    servers = {5432: "PostgreSQL", 6379: "Redis"}
    fine = {Socket("tcp", "127.0.0.1:8000", "", "LISTEN", 1),
            Socket("tcp", "127.0.0.1:8000", "127.0.0.1:50000", "ESTABLISHED", 1),
            Socket("tcp", "127.0.0.1:41000", "127.0.0.1:5432", "ESTABLISHED", 1),
            Socket("tcp", "127.0.0.1:41001", "127.0.0.1:6379", "ESTABLISHED", 1)}
    assert coupling.socket_problems(fine, 8000, servers) == []
    assert coupling.redis_addresses(fine, 6379) == {"127.0.0.1:41001"}
    bad = fine | {Socket("tcp", "127.0.0.1:41002", "127.0.0.1:9000", "ESTABLISHED", 1),
                  Socket("tcp", "0.0.0.0:9001", "", "LISTEN", 2)}
    found = coupling.socket_problems(bad, 8000, servers)
    assert len(found) == 2
    assert found[0].startswith("tcp 127.0.0.1:41002 → 127.0.0.1:9000 (ESTABLISHED): neither PostgreSQL")
    assert "0.0.0.0:9001 (LISTEN) that is not its own port 8000" in found[1]
    assert coupling.foreign_client_problems({}) == []
    assert coupling.foreign_client_problems({7: "python -m tickstock_producer expand"}) == [
        "pid 7 (python -m tickstock_producer expand) connected to TickStockApp"]


# -- the sentences' numbers and names ------------------------------------------------------------------
def test_sentences_name_the_contracts_tables_function_and_sqlstate():
    named = "symbols, cache_entries, ohlcv_daily, cache_sync_runs and cache_sync_changes"
    assert parse_producer_tables(named) == ["symbols", "cache_entries", "ohlcv_daily", "cache_sync_runs",
                                            "cache_sync_changes"]
    assert parse_producer_function("update_etf_universe") == "update_etf_universe"
    assert parse_permission_sqlstate("42501") == "42501"
    for parse, text in ((parse_producer_tables, "symbols and cache_entries"),
                        (parse_producer_function, "get_etf_universe"),
                        (parse_permission_sqlstate, "42000")):
        with pytest.raises(SpecMismatch):
            parse(text)


# -- settings -----------------------------------------------------------------------------------------
def test_tickstock_app_settings():
    s = load_settings({}, {"tickstock_app": "tests.broken.app_triggers_analysis"})
    assert s.tickstock_app_argv()[1:] == ["-m", "tests.broken.app_triggers_analysis"]
    command = load_settings({"TICKSTOCK_APP_COMMAND": "./bin/app --x"})
    assert command.tickstock_app_argv() == ["./bin/app", "--x"]
    external = load_settings({"TEST_DB_HOST": "db", "TICKSTOCK_APP_URL": "http://app:8000/"})
    assert external.tickstock_app_url == "http://app:8000"
    with pytest.raises(SuiteError, match="needs|cannot reach the embedded"):
        load_settings({}, {"tickstock_app_url": "http://app:8000"})
    with pytest.raises(SuiteError, match="not a Python module path"):
        load_settings({}, {"tickstock_app": "bad module"})
    with pytest.raises(SuiteError, match="not an http"):
        load_settings({"TEST_DB_HOST": "db"}, {"tickstock_app_url": "ftp://x"})
