"""CI shards: the deal-out of features, and merging shards' results into one run (reporting.shards)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tickstock_acceptance.config.paths import ROOT
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.reporting.shards import (
    ENVIRONMENT_FEATURE,
    Shard,
    all_features,
    merge_results,
    merged_selection,
    parse_shard,
    shard_features,
)


@pytest.mark.parametrize("text, shard",
                         [("1/2", Shard(1, 2)), (" 2 / 2 ", Shard(2, 2)), ("1/1", Shard(1, 1))])
def test_parse_shard(text, shard):
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "1", "a/b", "", "-1/2"])
def test_parse_shard_refuses_bad_input_in_one_line(text):
    with pytest.raises(SuiteError) as caught:
        parse_shard(text)
    assert "\n" not in caught.value.one_line()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 12])
def test_every_feature_runs_in_exactly_one_shard_and_the_gate_in_none(n):
    features = all_features(ROOT)
    dealt = [shard_features(Shard(k, n), features) for k in range(1, n + 1)]
    flat = [f for share in dealt for f in share]
    assert sorted(flat) == sorted(f for f in features if f != ENVIRONMENT_FEATURE)
    assert len(flat) == len(set(flat))
    assert max(map(len, dealt)) - min(map(len, dealt)) <= 1  # dealt in turn: balanced by count


def test_the_deal_is_stable_whatever_the_order_given():
    features = all_features(ROOT)
    assert shard_features(Shard(1, 2), features) == shard_features(Shard(1, 2), list(reversed(features)))


def _shard_dir(root: Path, name: str, results: list[dict], commit: str = "abc1234",
               started: str = "2026-11-30T10:00:00+00:00", tags=(), features=()) -> Path:
    reports = root / name
    folder = reports / "allure-results"
    folder.mkdir(parents=True)
    for i, result in enumerate(results):
        uid = f"{name}-{i}"
        (folder / f"{uid}-attachment.json").write_text("{}")
        (folder / f"{uid}-result.json").write_text(json.dumps(
            {"uuid": uid, "attachments": [{"source": f"{uid}-attachment.json"}], **result}))
    (reports / "run-facts.json").write_text(json.dumps({"started_at": started, "suite_commit": commit}))
    (reports / "run-selection.json").write_text(json.dumps({"tags": list(tags), "features": list(features)}))
    return reports


def _result(case: str, status: str) -> dict:
    return {"name": case, "testCaseId": case, "status": status}


def test_merge_keeps_each_scenario_once_with_its_worst_status(tmp_path):
    one = _shard_dir(tmp_path, "one", [_result("gate", "passed"), _result("a", "passed")],
                     started="2026-11-30T10:00:05+00:00")
    two = _shard_dir(tmp_path, "two", [_result("gate", "failed"), _result("b", "skipped")])
    into = tmp_path / "merged"
    report = merge_results([one, two], into)
    statuses = {d["testCaseId"]: d["status"] for d in
                (json.loads(p.read_text()) for p in into.glob("*-result.json"))}
    assert statuses == {"gate": "failed", "a": "passed", "b": "skipped"}
    assert (report.results, report.duplicates) == (3, 1)
    assert len(list(into.glob("*-attachment.json"))) == 4  # every attachment copied
    assert report.facts["started_at"] == "2026-11-30T10:00:00+00:00"
    assert len(report.facts["shards"]) == 2


def test_merge_accepts_results_folders_and_refuses_what_is_not_one_run(tmp_path):
    one = _shard_dir(tmp_path, "one", [_result("a", "passed")])
    two = _shard_dir(tmp_path, "two", [_result("b", "passed")], commit="def5678")
    with pytest.raises(SuiteError, match="different suite commits"):
        merge_results([one / "allure-results", two / "allure-results"], tmp_path / "merged")
    with pytest.raises(SuiteError, match="no Allure results"):
        merge_results([tmp_path / "nowhere"], tmp_path / "merged")
    with pytest.raises(SuiteError, match="both a shard and the merged"):
        merge_results([one], one / "allure-results")


def test_merged_selection_is_the_union_of_the_shards_features(tmp_path):
    features = all_features(ROOT)
    halves = [[ENVIRONMENT_FEATURE, *shard_features(Shard(k, 2), features)] for k in (1, 2)]
    one = _shard_dir(tmp_path, "one", [_result("a", "passed")], features=halves[0])
    two = _shard_dir(tmp_path, "two", [_result("b", "passed")], features=halves[1])
    assert merged_selection([one, two], features) == {"tags": [], "features": []}
    assert merged_selection([one], features)["features"] == sorted(halves[0])
    other = _shard_dir(tmp_path, "other", [_result("c", "passed")], tags=["@x"], features=halves[1])
    with pytest.raises(SuiteError, match="different --tags"):
        merged_selection([one, other], features)


def test_cli_refuses_a_bad_shard_in_one_line():
    done = subprocess.run([sys.executable, "-m", "tickstock_acceptance", "run", "--shard", "3/2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "--shard" in done.stderr and "Traceback" not in done.stderr
