"""The spec's test categories run as its `pytest -k` did, and CI gets JUnit XML.

``make acceptance TAGS=@isolation`` selects the scenarios tagged with that category (plus the
environment gate); the JUnit files list exactly what ran, with its status. (A small category: the
test is about the selection, not about what the scenarios judge.)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.conftest import run_cli
from tests.isolated_run import ALL_FEATURES, optional_keys, scenario_index
from tickstock_acceptance.reporting.results import load_results


def test_a_category_runs_its_scenarios_and_writes_junit(tmp_path):
    result = run_cli("run", "--no-report", "--tags", "@isolation", reports_dir=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    index = scenario_index(ALL_FEATURES)
    wanted = {k for k, tags in index.items() if "isolation" in tags or "environment" in tags}
    assert len(wanted) > 3, "the category holds scenarios beyond the environment gate"
    ran = {r.key: r.status for r in load_results(tmp_path / "allure-results")}
    assert set(ran) == wanted, f"ran {sorted(ran)}, the category selects {sorted(wanted)}"
    may_skip = optional_keys(index)  # e.g. ENV-2's cluster scenario, on this run's one Redis server
    assert {status for key, status in ran.items() if key not in may_skip} == {"passed"}

    cases = []
    for xml in sorted((tmp_path / "junit").glob("TESTS-*.xml")):
        suite = ET.parse(xml).getroot()
        cases += [(c.get("name"), c.get("status")) for c in suite.iter("testcase")]
    ran_in_junit = [name for name, status in cases if status == "passed"]
    assert len(ran_in_junit) == len([k for k in ran if ran[k] == "passed"]) == len(wanted - may_skip), cases
    assert all(status in ("passed", "skipped", "untested") for _, status in cases), cases


def test_a_category_that_selects_nothing_is_one_line(tmp_path):
    result = run_cli("run", "--no-report", "--tags", "@no_such_category", reports_dir=tmp_path)
    assert result.returncode == 2 and "no scenario matches" in result.stderr
    assert len([ln for ln in result.stderr.splitlines() if ln.strip()]) == 1
