"""What `run --workers N` plans: N shard runs of the scenarios that may share the machine, then one run
of those tagged @runs_alone (read from the feature files, nothing started)."""

from __future__ import annotations

import pytest

from tickstock_acceptance.cli.workers import (
    ALONE_TAG,
    combined,
    parse_workers,
    plan,
    worker_database,
    worker_namespace,
)
from tickstock_acceptance.core.errors import SuiteError


def _arg(part, flag: str) -> str:
    return part.argv[part.argv.index(flag) + 1]


def test_two_workers_deal_the_shareable_scenarios_and_the_rest_runs_alone_after_them():
    workers, alone = plan(2, [], [], ["producer=tickstock_producer"])
    assert [w.name for w in workers] == ["worker 1", "worker 2"]
    assert [_arg(w, "--shard") for w in workers] == ["1/2", "2/2"]
    assert {_arg(w, "--tags") for w in workers} == {f"(not {ALONE_TAG})"}
    assert _arg(alone, "--tags") == f"({ALONE_TAG})"
    assert "--shard" not in alone.argv
    assert all(_arg(p, "-D") == "producer=tickstock_producer" for p in [*workers, alone])
    assert len({p.reports for p in [*workers, alone]}) == 3, "each part writes reports of its own"


def test_the_users_tags_hold_in_every_part():
    assert combined(["@checklist:PERF-2 or @checklist:ETF-4"], "not @runs_alone") == [
        "(@checklist:PERF-2 or @checklist:ETF-4) and (not @runs_alone)"]


def test_a_selection_with_nothing_to_share_runs_only_alone_and_the_reverse():
    workers, alone = plan(2, ["@checklist:PERF-1"], [], [])
    assert workers == [] and alone is not None
    workers, alone = plan(2, ["@checklist:ETF-4"], [], [])
    assert len(workers) == 2 and alone is None


@pytest.mark.parametrize(("text", "count"), [(None, None), ("1", 1), ("2", 2), (8, 8)])
def test_worker_counts(text, count):
    assert parse_workers(text) == count


@pytest.mark.parametrize("text", ["0", "9", "-1", "two", "1.5"])
def test_bad_worker_counts_are_one_line(text):
    with pytest.raises(SuiteError):
        parse_workers(text)


def test_external_workers_get_a_test_database_and_a_namespace_of_their_own():
    from tickstock_acceptance.config.settings import load_settings

    external = load_settings({"TEST_DB_HOST": "db", "TEST_DB_NAME": "tickstock_test"}, {})
    workers, alone = plan(2, [], [], [], external)
    defines = [[w.argv[i + 1] for i, a in enumerate(w.argv) if a == "-D"] for w in workers]
    assert defines == [["db_name=tickstock_w1_test", "redis_namespace=test_w1:"],
                       ["db_name=tickstock_w2_test", "redis_namespace=test_w2:"]]
    assert "-D" not in alone.argv, "the alone part runs on the configured database, as a serial run"
    assert worker_namespace("test_ci.", 3) == "test_ci_w3."
    assert worker_database("staging", 2) == "staging_w2"  # a non-test name stays refused by the guard
    embedded, _ = plan(2, [], [], [], load_settings({}, {}))
    assert all("-D" not in w.argv for w in embedded), "embedded workers own their servers"
