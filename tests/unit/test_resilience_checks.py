"""The pure problem finders of RES-1 (recovery) and RES-4 (error isolation): each fails when its
behaviour breaks."""

from __future__ import annotations

import json

from tickstock_acceptance.checks.resilience import isolation as I
from tickstock_acceptance.checks.resilience import recovery as R
from tickstock_acceptance.config import targets as T
from tickstock_acceptance.contract.reference import below_filter
from tickstock_acceptance.sut.producer import ProducerRun
from tickstock_acceptance.sut.resilience_load import (
    BAD_KINDS,
    Injected,
    Injection,
    LoopReport,
    Query,
    bad_notifications,
)
from tickstock_acceptance.sut.subscriber import decode

THEME = {"focus": "f", "criteria": "c", "liquidity_filter": {"min_aum": 100.0},
         "etfs": [{"symbol": "AAA", "aum": 500.0, "avg_volume": 1.0},
                  {"symbol": "BBB", "aum": 50.0, "avg_volume": 1.0}]}
REF = {"alpha": THEME}


def whole_row(**over) -> R.UniverseRow:
    meta = {"liquidity_filter": {"min_aum": 100.0}, "excluded_symbols": below_filter(THEME),
            "symbol_facts": {"AAA": {}, "BBB": {}}}
    values = dict(theme="alpha", symbols=["AAA"], metadata=meta, liquidity_filter={"min_aum": 100.0},
                  updated_at=100.0, update_times_agree=True)
    values.update(over)
    return R.UniverseRow(**values)


def test_a_whole_write_passes_and_each_torn_part_is_named():
    assert R.universe_row_problems({"alpha": whole_row()}, REF) == []
    assert "no row" in R.universe_row_problems({}, REF)[0]
    assert "members" in R.universe_row_problems({"alpha": whole_row(symbols=["AAA", "BBB"])}, REF)[0]
    assert "liquidity filter" in R.universe_row_problems({"alpha": whole_row(liquidity_filter=None)}, REF)[0]
    assert "not one write" in R.universe_row_problems({"alpha": whole_row(update_times_agree=False)}, REF)[0]


ROUNDS = [{"status": "completed", "writes_started_at": 90.0, "writes_finished_at": 91.0},
          {"status": "failed", "started_at": 95.0, "finished_at": 95.1, "error": "refused"},
          {"status": "completed", "writes_started_at": 97.0, "writes_finished_at": 97.5}]


def test_an_acknowledged_write_older_in_the_database_is_lost():
    rows = {"alpha": whole_row(updated_at=90.2)}
    assert R.lost_commit_problems(rows, ROUNDS, down_at=94.0, themes=["alpha"]) == []
    lost = R.lost_commit_problems({"alpha": whole_row(updated_at=80.0)}, ROUNDS, 94.0, ["alpha"])
    assert "was lost" in lost[0]


def test_a_round_acknowledged_while_the_database_was_down_is_a_problem():
    swallowed = [*ROUNDS[:1], {"status": "completed", "writes_started_at": 94.5, "writes_finished_at": 94.6}]
    assert "while the database was down" in R.acknowledged_while_down_problems(swallowed, 94.0, 96.0)[0]
    assert R.acknowledged_while_down_problems(swallowed, 94.55, 96.0) == []  # began before the stop returned


def test_recovery_is_the_first_whole_round_and_the_first_answer_after_the_server_answered():
    assert R.first_completed_round_after(ROUNDS, 96.0) is ROUNDS[2]
    assert R.first_completed_round_after(ROUNDS[:2], 96.0) is None
    assert R.failed_rounds_between(ROUNDS, 94.0, 96.0) == [ROUNDS[1]]
    queries = [Query(93.0, 93.1, 200), Query(94.5, 95.0, 503), Query(96.1, 96.2, 200)]
    assert R.first_ok_query_after(queries, 94.0, 96.0) is queries[2]


def test_recovery_time_is_judged_against_its_target():
    assert R.recovery_problems(1.0, T.DATABASE_RECOVERY, "x") == []
    assert "beyond" in R.recovery_problems(11.0, T.DATABASE_RECOVERY, "x")[0]
    assert "did not work again" in R.recovery_problems(None, T.REDIS_RECOVERY, "x", "why")[0]


def loop_report(published: int, unacknowledged: list[int]) -> LoopReport:
    report = {"producer_id": "p", "published_count": published, "unacknowledged_sequences": unacknowledged}
    return LoopReport(ProducerRun(["x"], 0, report, "", "", 0.0, 1.0))


def entry(seq: int):
    return decode("stream:x", json.dumps({"producer_id": "p", "sequence": seq}), 0.0)


def test_stream_delivery_owes_acknowledged_sequences_and_ignores_indeterminate_ones():
    report = loop_report(3, [3])   # 1, 2, 4 acknowledged; 3 raised
    assert report.acknowledged() == {"p": {1, 2, 4}}
    assert R.stream_delivery(report, [entry(1), entry(2), entry(3), entry(4)]).problems() == []
    assert R.stream_delivery(report, [entry(1), entry(2), entry(4)]).problems() == []
    lost = R.stream_delivery(report, [entry(1), entry(4)])
    assert lost.lost == [("p", 2)] and lost.problems()
    assert R.kept_entry_problems(["1-0", "2-0"], ["2-0"])


def run(returncode: int, stderr: str = "", report: dict | None = None) -> ProducerRun:
    return ProducerRun(["expand"], returncode, report or {}, "", stderr, 0.0, 1.0)


def test_a_failed_run_must_say_so_with_the_servers_own_error():
    refused = ('error: cannot reach the database or Redis: connection to server at "127.0.0.1", '
               'port 5555 failed')
    assert I.failed_run_problems(run(3, refused), "PostgreSQL", 5555) == []
    assert "reported success" in I.failed_run_problems(run(0), "PostgreSQL", 5555)[0]
    vague = I.failed_run_problems(run(1, "error: something"), "PostgreSQL", 5555)
    assert any("port 5555" in p for p in vague)
    swallowed = run(0, "", {"themes": [{"theme": "alpha", "status": "completed"}]})
    assert I.failed_run_problems(swallowed, "PostgreSQL", 5555)


def test_health_must_show_each_server_as_wanted():
    health = {"database": {"state": "down", "error": "refused"}, "redis": {"state": "up"}}
    assert I.health_problems(health, {"database": "down", "redis": "up"}) == []
    assert I.health_problems(health, {"database": "up", "redis": "up"})
    assert I.health_problems({"database": {"state": "down"}, "redis": {"state": "up"}},
                             {"database": "down"})  # down without its error


def test_every_bad_kind_is_injected_and_each_needs_one_dead_letter_with_a_reason():
    payloads = bad_notifications("m")
    assert set(payloads) == set(BAD_KINDS)
    assert len(payloads["oversized"]) > 64 * 1024  # TickStockApp refuses more than 64 KiB
    assert all(f"m:{kind}" in payloads[kind][:4096] for kind in BAD_KINDS)
    injection = Injection([Injected("wrong types", "ch", "m:wrong types"),
                           Injected("wrong types", "stream:ch", "m:wrong types", "1-0")])
    letters = [{"channel": "ch", "reason": "wrong type", "payload": '{"injected": "m:wrong types"}'},
               {"channel": "stream:ch", "reason": "wrong type", "payload": '{"injected": "m:wrong types"}'}]
    assert I.dead_letter_problems(injection, letters) == []
    assert "no dead letter" in I.dead_letter_problems(injection, letters[:1])[0]
    no_reason = [letters[0], {**letters[1], "reason": ""}]
    assert "without a reason" in I.dead_letter_problems(injection, no_reason)[0]


def test_the_view_must_follow_the_expansion_from_its_own_notifications():
    done = run(0, "", {"published": ["m1", "m2"], "themes": [{"theme": "alpha", "status": "completed"}]})
    view = {"alpha": {"source_message_id": "m2", "symbol_count": 1}}
    assert I.view_follows_problems(view, done, {"alpha": 1}) == []
    stale = {"alpha": {"source_message_id": "old", "symbol_count": 1}}
    assert "not refreshed" in I.view_follows_problems(stale, done, {"alpha": 1})[0]
    assert "not in" in I.view_follows_problems({}, done, {"alpha": 1})[0]
