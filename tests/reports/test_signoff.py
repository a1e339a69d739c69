"""The sign-off model and its files, built from synthetic Allure results (fast, no services)."""

from __future__ import annotations

import json
import re

import pytest

from tests.reports.conftest import write_result
from tickstock_acceptance.config.checklist import Item
from tickstock_acceptance.config.targets import GENERAL_QUERY, MESSAGE_DELIVERY, UI_QUERY
from tickstock_acceptance.reporting import history
from tickstock_acceptance.reporting import signoff as so
from tickstock_acceptance.reporting.coverage import TaggedScenario
from tickstock_acceptance.reporting.evidence import Measurement
from tickstock_acceptance.reporting.results import load_results

ITEMS = [Item("ENV-1", "Environment validation", "database", ("general_query_time",), False),
         Item("ENV-2", "Environment validation", "redis", (), False),
         Item("RED-1", "Redis Integration", "channels", (), False),
         Item("PERF-1", "Target Compliance", "delivery < 100 ms", ("message_delivery_time",), False),
         Item("RES-1", "Resilience Validation", "recovery", (), True),
         Item("DB-1", "Database Integration", "schema", (), False)]
FACTS = {"mode": "embedded", "started_at": "2026-01-01T00:00:00+00:00", "suite_commit": "abc1234",
         "python": "3.11.7", "postgresql": "15.20", "redis": "7.0.15", "target": "embedded"}


def scenario(name: str, *ids: str, line: int = 1) -> TaggedScenario:
    tags = frozenset(f"checklist:{i}" for i in ids)
    return TaggedScenario("features/x.feature", line, name, tags, ids)


SCENARIOS = [scenario("db ok", "ENV-1"), scenario("redis ok", "ENV-2", line=2),
             scenario("channels", "RED-1", line=3), scenario("delivery", "PERF-1", line=4),
             scenario("delivery burst", "PERF-1", line=5)]


def delivery(p95: float) -> dict:
    t = MESSAGE_DELIVERY
    return {"name": "message delivery", "value": p95, "unit": "ms", "target": t.limit,
            "target_name": t.name, "regression_line": t.regression_line, "minimum": False,
            "passed": t.met_by(p95), "note": "p95 of 200 samples",
            "distribution": {"count": 200, "p50": p95 / 2, "p95": p95, "p99": p95 * 1.1,
                             "max": p95 * 1.3, "mean": p95 / 1.8}}


def round_trip(p95: float = 3.0) -> dict:
    """ENV-1's figure against its checklist target (general_query_time)."""
    t = GENERAL_QUERY
    return {"name": "database round trip", "value": p95, "unit": "ms", "target": t.limit,
            "target_name": t.name, "regression_line": t.regression_line, "minimum": False,
            "passed": t.met_by(p95), "note": "p95 of 20 samples"}


def build(results_dir, tags=(), **kw) -> so.Signoff:
    return so.build_signoff(load_results(results_dir), FACTS, tags, items=ITEMS, scenarios=SCENARIOS, **kw)


def by_id(signoff) -> dict:
    return {i.id: i for i in signoff.items}


def test_statuses_cover_passed_failed_not_covered_and_not_run(results_dir):
    write_result(results_dir, "db ok", "passed", ["ENV-1"], evidence=[round_trip()])
    write_result(results_dir, "redis ok", "failed", ["ENV-2"], "AssertionError: db 14 leaked into 13\nmore")
    write_result(results_dir, "delivery", "passed", ["PERF-1"], evidence=[delivery(60.0)])
    items = by_id(build(results_dir))
    assert items["ENV-1"].status == "passed"
    assert items["ENV-2"].status == "failed"
    assert items["ENV-2"].reason == "db 14 leaked into 13"  # the cause, without "AssertionError:"
    assert items["RES-1"].status == "not covered" and "not yet automated" in items["RES-1"].reason
    assert items["DB-1"].status == "not covered" and "no scenario" in items["DB-1"].reason
    # one of PERF-1's two scenarios produced no result: never "passed" on partial evidence
    assert items["PERF-1"].status == "not run"
    assert items["RED-1"].status == "not run"


def test_subset_run_marks_unselected_items_not_run(results_dir):
    write_result(results_dir, "db ok", "passed", ["ENV-1"], evidence=[round_trip()])
    items = by_id(build(results_dir, tags=["@checklist:ENV-1"]))
    assert items["ENV-1"].status == "passed"
    for item_id in ("ENV-2", "RED-1", "PERF-1"):
        assert items[item_id].status == "not run"
        assert "filtered out by --tags @checklist:ENV-1" in items[item_id].reason


def test_figure_past_regression_line_fails_item_with_figure_target_and_line(results_dir):
    for name in ("delivery", "delivery burst"):
        write_result(results_dir, name, "passed", ["PERF-1"], evidence=[delivery(130.0)])
    item = by_id(build(results_dir))["PERF-1"]
    assert item.status == "failed"
    for shown in ("130 ms", "target ≤ 100 ms", "regression line 125 ms"):
        assert shown in item.reason


def test_figure_over_target_within_tolerance_is_a_warning_not_a_failure(results_dir):
    for name in ("delivery", "delivery burst"):
        write_result(results_dir, name, "passed", ["PERF-1"], evidence=[delivery(110.0)])
    item = by_id(build(results_dir))["PERF-1"]
    assert item.status == "passed"
    assert any("misses its target" in w for w in item.warnings)


def test_skipped_scenario_reads_not_run(results_dir):
    write_result(results_dir, "redis ok", "skipped", ["ENV-2"])
    assert by_id(build(results_dir))["ENV-2"].status == "not run"


def test_skipped_optional_scenario_leaves_its_item_to_the_others_and_its_reason_in_the_item(results_dir):
    why = "MASSIVE_API_KEY is not set: the market-data check was not run"
    optional = TaggedScenario("features/x.feature", 6, "market data",
                              frozenset({"checklist:ENV-2", "optional"}), ("ENV-2",))
    required = scenario("redis extra", "ENV-2", line=7)  # the same skip without @optional

    def env2(*results) -> so.ItemSignoff:
        for name, status in results:
            write_result(results_dir, name, status, ["ENV-2"], why if status == "skipped" else "")
        item = by_id(so.build_signoff(load_results(results_dir), FACTS, items=ITEMS,
                                      scenarios=[*SCENARIOS, optional, required]))["ENV-2"]
        for path in results_dir.glob("*-result.json"):
            path.unlink()
        return item

    item = env2(("redis ok", "passed"), ("redis extra", "passed"), ("market data", "skipped"))
    assert item.status == "passed"
    assert item.reason == f"optional scenario skipped: market data ({why})"
    assert env2(("redis ok", "passed"), ("redis extra", "skipped"), ("market data", "skipped")).status \
        == "not run"  # only @optional scenarios may be skipped
    assert env2(("market data", "skipped")).status == "not run"  # nothing else passed
    assert env2(("redis ok", "passed"), ("redis extra", "passed"), ("market data", "failed")).status \
        == "failed"  # an optional scenario that ran still counts
    assert env2(("redis ok", "passed"), ("redis extra", "passed"), ("market data", "passed")).reason == ""


def test_a_skipped_alternative_for_the_other_kind_of_redis_leaves_its_item_to_the_one_that_ran(results_dir):
    why = "written for another kind of Redis: not run on a standalone Redis"
    standalone = TaggedScenario("features/x.feature", 6, "logical databases",
                                frozenset({"checklist:ENV-2", "use.with_redis=standalone"}), ("ENV-2",))
    cluster = TaggedScenario("features/x.feature", 9, "cluster slots",
                             frozenset({"checklist:ENV-2", "use.with_redis=cluster"}), ("ENV-2",))
    scenarios = [s for s in SCENARIOS if s.name != "redis ok"] + [standalone, cluster]

    def env2(*results) -> so.ItemSignoff:
        for name, status in results:
            write_result(results_dir, name, status, ["ENV-2"], why if status == "skipped" else "")
        signoff = so.build_signoff(load_results(results_dir), FACTS, items=ITEMS, scenarios=scenarios)
        item = by_id(signoff)["ENV-2"]
        for path in results_dir.glob("*-result.json"):
            path.unlink()
        return item

    item = env2(("logical databases", "passed"), ("cluster slots", "skipped"))
    assert (item.status, item.reason) == ("passed", f"alternative scenario skipped: cluster slots ({why})")
    assert env2(("logical databases", "skipped"), ("cluster slots", "skipped")).status == "not run"
    assert env2(("logical databases", "failed"), ("cluster slots", "skipped")).status == "failed"


def test_files_hold_every_item_status_chart_and_signoff_block(results_dir, tmp_path):
    write_result(results_dir, "db ok", "passed", ["ENV-1"], evidence=[round_trip()])
    write_result(results_dir, "redis ok", "broken", ["ENV-2"], "ConnectionError: refused")
    for name in ("delivery", "delivery burst"):
        write_result(results_dir, name, "passed", ["PERF-1"], evidence=[delivery(60.0)])
    paths = so.write_signoff(build(results_dir, timing={"duration_s": 4.2}), tmp_path / "out")
    data = json.loads(paths[0].read_text())
    assert [i["id"] for i in data["items"]] == [i.id for i in ITEMS]
    assert data["counts"] == {"passed": 2, "failed": 1, "not covered": 2, "not run": 1}
    assert data["run"]["suite_commit"] == "abc1234" and data["run"]["duration_s"] == 4.2
    assert {"name", "role", "date", "decision", "note", "waivers"} <= set(data["signoff"])
    assert data["signoff"]["decision"] is None  # no decision recorded (test_signoff_decisions.py)
    page = paths[2].read_text()
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "<svg" in page and "p95 60" in page and "line 125" in page
    for item in ITEMS:
        assert f"id='item-{item.id}'" in page
    assert "ConnectionError: refused" in page and "Decision" in page
    md = paths[1].read_text()
    assert "| ENV-2 | **failed** |" in md and "## Sign-off" in md


@pytest.mark.parametrize("status", ["failed", "broken"])
def test_item_status_agrees_with_allure_status(results_dir, status):
    write_result(results_dir, "db ok", status, ["ENV-1"], "boom")
    assert by_id(build(results_dir))["ENV-1"].status == "failed"


def test_item_whose_scenarios_recorded_no_figure_against_its_target_fails(results_dir):
    write_result(results_dir, "db ok", "passed", ["ENV-1"])  # passed, but no general_query_time figure
    other = dict(delivery(60.0), name="not ENV-1's target")
    write_result(results_dir, "redis ok", "passed", ["ENV-2"], evidence=[other])  # ENV-2 has no target
    signoff = build(results_dir)
    items = by_id(signoff)
    assert items["ENV-1"].status == "failed"
    assert items["ENV-1"].reason == "no figure recorded against target general_query_time ≤ 500 ms"
    assert items["ENV-1"].targets == ["general_query_time ≤ 500 ms"]
    assert items["ENV-2"].status == "passed" and items["ENV-2"].targets == []
    page = so.render_html(signoff)
    assert "Targets: general_query_time ≤ 500 ms" in page
    assert "no figure recorded against target general_query_time" in page
    assert "(targets: general_query_time ≤ 500 ms)" in so.render_markdown(signoff)


def test_same_evidence_name_from_two_scenarios_keeps_both_figures_in_history(results_dir, tmp_path):
    write_result(results_dir, "delivery", "passed", ["PERF-1"], evidence=[delivery(60.0)])
    write_result(results_dir, "delivery burst", "passed", ["PERF-1"], evidence=[delivery(80.0)])
    signoff = build(results_dir)
    keys = {f.key: f.value for f in signoff.figures}
    assert keys == {"PERF-1 · delivery · message delivery": 60.0,
                    "PERF-1 · delivery burst · message delivery": 80.0}
    history.store_run(signoff.measurements(), FACTS, tmp_path)
    stored = history.load_runs(tmp_path)[0]["figures"]
    assert {k: v["value"] for k, v in stored.items()} == keys


def test_chart_draws_distributions_of_two_or_more_samples_only(results_dir):
    single = dict(round_trip(), distribution={"count": 1, "p50": 3.0, "p95": 3.0, "p99": 3.0, "max": 3.0,
                                              "mean": 3.0})
    write_result(results_dir, "db ok", "passed", ["ENV-1"], evidence=[single])
    signoff = build(results_dir)
    chart = so.latency_chart(signoff.figures)
    assert "<svg" not in chart and "repeated samples" in chart
    page = so.render_html(signoff)
    assert "database round trip: <b>3 ms</b>" in page  # the single value stays in the item's evidence
    write_result(results_dir, "delivery", "passed", ["PERF-1"], evidence=[delivery(60.0)])
    chart = so.latency_chart(build(results_dir).figures)
    assert "<svg" in chart and "message delivery" in chart and "database round trip" not in chart


def test_history_keeps_each_runs_selection_and_item_counts(results_dir, tmp_path):
    write_result(results_dir, "db ok", "passed", ["ENV-1"], evidence=[round_trip()])
    write_result(results_dir, "redis ok", "failed", ["ENV-2"], "boom")
    signoff = build(results_dir)
    whole = so.run_outcome(signoff, all_scenarios=SCENARIOS)
    assert whole["selection"] == {"tags": [], "features": [], "complete": True}
    assert whole["item_counts"] == signoff.counts and whole["item_counts"]["failed"] == 1
    assert whole["scenario_results"] == {"passed": 1, "failed": 1}
    subset = so.run_outcome(signoff, ["@checklist:ENV-1"], all_scenarios=SCENARIOS)
    assert subset["selection"]["complete"] is False
    every = so.run_outcome(signoff, ["not @checklist:nothing"], all_scenarios=SCENARIOS)
    assert every["selection"]["complete"]  # a tag expression that selects every scenario is whole
    history.store_run(signoff.measurements(), FACTS, tmp_path, subset)
    stored = history.load_runs(tmp_path)[0]
    assert stored["outcome"] == subset
    assert "1 checklist item(s) failed" in "; ".join(history.incomplete_reasons(stored))


def test_feature_paths_count_as_a_partial_selection_unless_they_name_every_scenario():
    assert so.selection_is_complete()
    assert so.selection_is_complete(feature_paths=["features"])
    assert not so.selection_is_complete(feature_paths=["features/00_environment_validation.feature"])
    assert not so.selection_is_complete(feature_paths=["features/70_target_compliance.feature:4"])


# -- Rendering: text stays text, each figure once, the key figure in its item's row ----------------

def html_row(page: str, item_id: str) -> str:
    found = re.search(rf"<tr id='item-{item_id}'.*?</tr>", page, flags=re.S)
    assert found, f"no row for {item_id}"
    return found.group()


def md_row(md: str, item_id: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {item_id} | **"))


def md_cells(line: str) -> list[str]:
    """A Markdown table row split at its unescaped pipes (as GitHub's tables split it)."""
    cells, cell, chars = [], "", iter(line)
    for char in chars:
        if char == "\\":
            cell += char + next(chars, "")
        elif char == "|":
            cells.append(cell)
            cell = ""
        else:
            cell += char
    return [c.strip() for c in cells[1:]]  # the row starts and ends with a pipe


def test_names_and_reasons_holding_markup_or_pipes_render_as_text(results_dir):
    evil = "db <script>alert(1)</script> | ok"
    write_result(results_dir, "redis ok", "failed", ["ENV-2"], "AssertionError: got a|b <b>bold</b>",
                 evidence=[dict(delivery(60.0), name=evil, target=None, passed=None)])
    signoff = build(results_dir)
    page = so.render_html(signoff)
    assert "<script" not in page and "<b>bold" not in page
    row = html_row(page, "ENV-2")
    assert "db &lt;script&gt;alert(1)&lt;/script&gt; | ok" in row
    assert "got a|b &lt;b&gt;bold&lt;/b&gt;" in row
    md = so.render_markdown(signoff)
    line = md_row(md, "ENV-2")
    assert md_cells(line) == ["ENV-2", "**failed**", "", "redis", "redis ok (failed)",
                              "got a\\|b \\<b>bold\\</b>"]
    evidence = next(ln for ln in md.splitlines() if ln.startswith("| ENV-2 | db "))
    assert md_cells(evidence)[1] == "db \\<script>alert(1)\\</script> \\| ok"
    assert not re.search(r"(?<!\\)<(?!br>)", md.replace("\\\\", "")), "raw HTML in the Markdown"


def test_markdown_escaping_leaves_code_spans_as_written():
    assert so.md_escape("match `^a\\.b|c$` or a|b <x>\nnext") == "match `^a\\.b\\|c$` or a\\|b \\<x> next"
    assert so.md_escape("C:\\temp") == "C:\\\\temp"


def wall_time(seconds: float) -> dict:
    """A figure every expanding scenario records, without a target."""
    return {"name": "expansion wall time", "value": seconds, "unit": "s", "note": "p95 of 1 samples",
            "distribution": {"count": 1, "p50": seconds, "p95": seconds, "p99": seconds, "max": seconds,
                             "mean": seconds}}


def test_each_figure_appears_once_worst_against_target_or_largest(results_dir):
    write_result(results_dir, "delivery", "passed", ["PERF-1"], evidence=[delivery(60.0), wall_time(0.3)])
    write_result(results_dir, "delivery burst", "passed", ["PERF-1"],
                 evidence=[delivery(80.0), wall_time(0.2)])
    signoff = build(results_dir)
    assert len(signoff.measurements()) == 4  # the history keeps one figure per scenario
    rows = {r.figure.name: r for r in by_id(signoff)["PERF-1"].evidence_rows}
    assert list(rows) == ["message delivery", "expansion wall time"]
    assert rows["message delivery"].figure.value == 80.0
    assert rows["message delivery"].how_chosen == "worst of 2 scenarios"
    assert rows["expansion wall time"].figure.value == 0.3
    assert rows["expansion wall time"].how_chosen == "largest of 2 scenarios"
    md = so.render_markdown(signoff)
    table = md[md.index("## Evidence"):]
    assert table.count("| PERF-1 | message delivery |") == 1
    assert table.count("| PERF-1 | expansion wall time | 0.3 s (largest of 2 scenarios) |") == 1
    evidence = html_row(so.render_html(signoff), "PERF-1").split("<ul class=\"scen\">")[-1]
    assert evidence.count("message delivery:") == 1 and "<b>80 ms</b> (worst of 2 scenarios)" in evidence
    assert evidence.count("expansion wall time:") == 1 and "<b>0.3 s</b> (largest of 2 scenarios)" in evidence


def test_worst_of_an_at_least_target_is_the_lowest():
    rate = dict(delivery(0.0), name="success rate", unit="%", target=95.0, regression_line=71.25,
                minimum=True, distribution=None, note="")
    figures = [so.Figure("RED-4", s, Measurement.from_dict(dict(rate, value=v, passed=v >= 95)))
               for s, v in (("a", 99.0), ("b", 96.0), ("c", 98.0))]
    assert so.worst(figures).scenario == "b"
    assert figures[1].measurement.against_target() == "success rate 96 % ≥ 95 %"


def test_item_row_shows_its_key_figure_against_its_target(results_dir):
    ui = {"name": "UI query", "value": 40.0, "unit": "ms", "target": UI_QUERY.limit,
          "target_name": UI_QUERY.name, "regression_line": UI_QUERY.regression_line, "passed": True,
          "note": "p99 of 20 samples"}
    write_result(results_dir, "db ok", "passed", ["ENV-1"], evidence=[round_trip(3.0), ui])
    write_result(results_dir, "redis ok", "passed", ["ENV-2"], evidence=[wall_time(0.3)])
    write_result(results_dir, "delivery", "passed", ["PERF-1"], evidence=[delivery(60.0)])
    write_result(results_dir, "delivery burst", "passed", ["PERF-1"], evidence=[delivery(110.0)])
    signoff = build(results_dir)
    items = by_id(signoff)
    # ENV-1: of round trip (3 of 500 ms) and UI query (40 of 50 ms), the one closest to its line
    assert items["ENV-1"].key_figure.name == "UI query"
    page, md = so.render_html(signoff), so.render_markdown(signoff)
    for item_id, shown in (("ENV-1", "UI query p99 40 ms ≤ 50 ms"),
                           ("PERF-1", "message delivery p95 110 ms &gt; 100 ms")):
        assert shown in html_row(page, item_id)
        assert md_cells(md_row(md, item_id))[2] == shown.replace("&gt;", ">")
    assert "class=\"key miss\"" in html_row(page, "PERF-1")
    assert "<td></td>" in html_row(page, "ENV-2")  # no figure with a target: no key figure
    assert md_cells(md_row(md, "ENV-2"))[2] == ""
    data = signoff.to_dict()["items"]
    assert [i["key_figure"] for i in data[:2]] == ["UI query p99 40 ms ≤ 50 ms", None]


def test_key_figure_names_no_percentile_for_a_single_sample(results_dir):
    write_result(results_dir, "db ok", "passed", ["ENV-1"], evidence=[dict(round_trip(3.0),
                                                                            note="p95 of 1 samples")])
    assert by_id(build(results_dir))["ENV-1"].key_figure.measurement.against_target() == \
        "database round trip 3 ms ≤ 500 ms"
