"""CI shards for real: two `run --shard K/2` runs merged with `merge` give the sign-off one run gives."""

from __future__ import annotations

import json

from tests.conftest import assert_signoff_of_one_run, leftovers_since, run_cli, run_dirs
from tickstock_acceptance.reporting.results import load_results

# Items of two features that the deal puts in different shards (10_etf_universe_expansion in 1/2,
# 40_database_integration in 2/2), and the environment gate both run.
SHARD_TAGS = "@checklist:ETF-4 or @checklist:DB-1"
SELECTED = {"ENV-1", "ENV-2", "ENV-3", "ETF-4", "DB-1"}


def test_two_shards_merged_give_the_sign_off_of_one_run(full_run, tmp_path):
    before = run_dirs()
    shards = [run_cli("run", "--shard", f"{k}/2", "--no-report", "--tags", SHARD_TAGS,
                      reports_dir=tmp_path / f"shard-{k}") for k in (1, 2)]
    for k, shard in enumerate(shards, 1):
        assert shard.returncode == 0, f"shard {k}/2: " + shard.stdout[-2000:] + shard.stderr[-1000:]
    assert "10_etf_universe_expansion.feature" in shards[0].stdout
    assert "40_database_integration.feature" in shards[1].stdout
    assert leftovers_since(before) == []

    merged = run_cli("merge", "--no-report", str(tmp_path / "shard-1"), str(tmp_path / "shard-2"),
                     reports_dir=tmp_path / "merged")
    assert merged.returncode == 0, merged.stdout[-2000:] + merged.stderr[-1000:]
    assert "Traceback" not in merged.stdout + merged.stderr

    # one result per scenario: the gate that ran in both shards is kept once
    results = load_results(tmp_path / "merged" / "allure-results")
    names = [r.name for r in results]
    assert len(names) == len(set(names))
    shard_results = sum(len(load_results(tmp_path / f"shard-{k}" / "allure-results")) for k in (1, 2))
    gate = [r for r in results if {"ENV-1", "ENV-2", "ENV-3"} & set(r.checklist)]
    assert len(results) == shard_results - len(gate)

    # the merged sign-off is the single run's for every item the selection holds; the rest not run
    assert_signoff_of_one_run(full_run.reports_dir, tmp_path / "merged", SELECTED)
    facts = json.loads((tmp_path / "merged" / "run-facts.json").read_text())
    assert [s["shard"] for s in facts["shards"]] == ["1/2", "2/2"]
