"""Sign-off decisions: recording, the approval rules, verifying against the results on disk, the log
and how the decision shows in signoff.{json,md,html} (synthetic results, no services)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from tests.conftest import run_cli
from tests.reports.conftest import FAKE_FACTS, NEEDS_WAIVER, write_green_run, write_result
from tests.reports.test_signoff import html_row, md_cells, md_row
from tickstock_acceptance.config import checklist
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.reporting import decisions, history
from tickstock_acceptance.reporting import signoff as so

NOT_COVERED = NEEDS_WAIVER  # the green run's non-passed items (not run), in checklist order
EVIL_NAME = "Ada <script>alert(1)</script> | Lovelace"
EVIL_NOTE = "ok | <b>bold</b> `a|b`"
EVIL_REASON = "later slice <i>x</i> | see #12"


def waive_all(ids=None, reason: str = "not automated yet (later slice)") -> list[str]:
    return [arg for i in (NOT_COVERED if ids is None else ids) for arg in ("--waive", f"{i}={reason}")]


def dirs(reports) -> dict:
    """The keyword arguments that point record_decision / verify_decision at a private reports folder."""
    return {"results_dir": reports / "allure-results", "out_dir": reports,
            "facts_path": reports / "run-facts.json", "history_dir": reports / "history"}


def record(reports, by="Ada", role="QA lead", decision="approve", waive=(), note="", run=None):
    return so.record_decision(by, role, decision, list(waive), note, run, **dirs(reports))


def log_lines(reports) -> list[str]:
    path = decisions.log_path(reports / "history")
    return path.read_text().splitlines() if path.exists() else []


def one_error_line(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and "— fix: " in lines[0], result.stderr
    return lines[0]


def test_green_run_has_only_not_covered_items_to_waive(green_run):
    assert len(NOT_COVERED) == 9  # the number the README's refusal example relies on
    assert NOT_COVERED == [i.id for i in checklist.items() if i.id in NOT_COVERED]  # checklist order
    signoff = so.build_from_disk(green_run / "allure-results", [], [], FAKE_FACTS, green_run / "history")
    assert {i.id for i in signoff.items if i.status != "passed"} == set(NOT_COVERED)


# -- 1, 2: record, and the approval rules ---------------------------------------------------------

def test_approval_is_refused_while_items_are_not_covered_and_accepted_with_waivers(green_run):
    refused = run_cli("signoff", "record", "--by", "Ada", "--role", "QA lead", "--decision", "approve",
                      reports_dir=green_run)
    line = one_error_line(refused)
    n = len(NOT_COVERED)
    assert f"approval of run 2026-01-01T00-00-00-00-00_abc1234 refused: {n} items need a waiver" in line
    assert f"not run ({n}): {', '.join(NOT_COVERED)}]" in line
    assert not log_lines(green_run)  # nothing recorded

    partly = run_cli("signoff", "record", "--by", "Ada", "--role", "QA lead", "--decision", "approve",
                     *waive_all(NOT_COVERED[:-4]), reports_dir=green_run)
    line = one_error_line(partly)
    assert f"4 of {n} items need a waiver" in line and ", ".join(NOT_COVERED[-4:]) in line
    assert NOT_COVERED[0] not in line.split("[")[1]

    accepted = run_cli("signoff", "record", "--by", "Ada", "--role", "QA lead", "--decision", "approve",
                       *waive_all(), "--note", "Phase 3 release 3.0", reports_dir=green_run)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.startswith("recorded: approved run 2026-01-01T00-00-00-00-00_abc1234 "
                                      "(commit abc1234) by Ada (QA lead), 9 waiver(s)")
    [line] = log_lines(green_run)
    entry = json.loads(line)
    assert entry["run_id"] == "2026-01-01T00-00-00-00-00_abc1234" and entry["suite_commit"] == "abc1234"
    assert entry["target"]["mode"] == "embedded" and entry["decision"] == "approve"
    assert [w["id"] for w in entry["waivers"]] == NOT_COVERED and entry["prev"] == ""
    assert re.fullmatch(r"[0-9a-f]{64}", entry["digest"]["value"])
    assert entry["digest"]["item_count"] == 38 and entry["digest"]["result_files"] > 10
    block = json.loads((green_run / "signoff.json").read_text())["signoff"]
    assert (block["name"], block["role"], block["decision"], block["note"]) == \
        ("Ada", "QA lead", "approve", "Phase 3 release 3.0")
    assert block["matches_results"] is True and block["date"] == entry["recorded_at"]
    assert [w["id"] for w in block["waivers"]] == NOT_COVERED
    items = {i["id"]: i for i in json.loads((green_run / "signoff.json").read_text())["items"]}
    assert items[NOT_COVERED[0]]["waiver"] == "not automated yet (later slice)"
    assert items["ENV-1"]["waiver"] is None


def test_a_rejection_needs_a_note_and_waives_nothing(green_run):
    line = one_error_line(run_cli("signoff", "record", "--by", "Bob", "--role", "release manager",
                                  "--decision", "reject", reports_dir=green_run))
    assert "a rejection of run 2026-01-01T00-00-00-00-00_abc1234 needs a note" in line
    with pytest.raises(SuiteError, match="a rejection waives nothing"):
        record(green_run, decision="reject", note="no", waive=["SYNC-1=x"])
    assert not log_lines(green_run)
    rejected = run_cli("signoff", "record", "--by", "Bob", "--role", "release manager",
                       "--decision", "reject", "--note", "SYNC-1 must be automated first",
                       reports_dir=green_run)
    assert rejected.returncode == 0 and rejected.stdout.startswith("recorded: rejected run "), rejected
    assert json.loads(log_lines(green_run)[0])["note"] == "SYNC-1 must be automated first"


APPROVE = ["--by", "Ada", "--role", "QA lead", "--decision", "approve"]


@pytest.mark.parametrize("args, problem", [
    ([*APPROVE, "--waive", "NOPE-9=because"], "--waive names 'NOPE-9', which is not a checklist item"),
    ([*APPROVE, "--waive", "SYNC-1="], "--waive SYNC-1= has an empty reason"),
    ([*APPROVE, "--waive", "SYNC-1=   "], "--waive SYNC-1= has an empty reason"),
    ([*APPROVE, "--waive", "SYNC-1"], "--waive 'SYNC-1' is not ID=REASON"),
    ([*APPROVE, "--waive", "SYNC-1=a", "--waive", "SYNC-1=b"], "SYNC-1 is waived twice"),
    ([*APPROVE, "--waive", "ENV-1=fine anyway"], "ENV-1 passed and needs no waiver"),
    ([*APPROVE, "--run", "2025-01-01T00-00-00-00-00_0000000"], "no run '2025-01-01T00-00-00-00-00_0000000'"),
    (["--by", " ", "--role", "QA lead", "--decision", "reject", "--note", "x"], "--by is empty"),
])
def test_bad_input_is_one_line_and_records_nothing(green_run, args, problem):
    line = one_error_line(run_cli("signoff", "record", *args, reports_dir=green_run))
    assert problem in line, line
    assert not log_lines(green_run)


def test_a_run_whose_results_are_gone_or_no_run_at_all_is_one_line(green_run, tmp_path):
    history.store_run({}, dict(FAKE_FACTS, started_at="2025-12-31T00:00:00+00:00"), green_run / "history")
    with pytest.raises(SuiteError, match=r"results of run 2025-12-31T00-00-00-00-00_abc1234 are no longer on "
                                         r"disk .* holds run 2026-01-01T00-00-00-00-00_abc1234\)"):
        record(green_run, waive=waive_all()[1::2], run="2025-12-31T00-00-00-00-00_abc1234")
    empty = tmp_path / "empty"
    line = one_error_line(run_cli("signoff", "verify", reports_dir=empty))
    assert "no run facts at" in line and "make acceptance" in line


# -- 3: verify ----------------------------------------------------------------------------------

def test_verify_passes_for_a_matching_approval_and_fails_after_a_result_file_is_edited(green_run):
    assert run_cli("signoff", "record", "--by", "Ada", "--role", "QA lead", "--decision", "approve",
                   *waive_all(), reports_dir=green_run).returncode == 0
    ok = run_cli("signoff", "verify", reports_dir=green_run)
    assert ok.returncode == 0, ok
    assert ok.stdout.startswith("verify: OK — run 2026-01-01T00-00-00-00-00_abc1234 (commit abc1234, ")
    assert "the approval by Ada (QA lead)" in ok.stdout and "matches the results on disk" in ok.stdout

    result = sorted((green_run / "allure-results").glob("*-result.json"))[0]
    original = result.read_text()
    result.write_text(original.replace('"passed"', '"failed"', 1))
    changed = run_cli("signoff", "verify", reports_dir=green_run)
    assert changed.returncode == 1, changed
    assert "does not match the results on disk: the result files changed" in changed.stdout
    assert len(changed.stdout.strip().splitlines()) == 1

    rebuilt = run_cli("signoff", reports_dir=green_run)  # the sign-off now shows the mismatch too
    assert rebuilt.returncode == 1  # an item failed
    assert "Decision: approved by Ada (QA lead) at " in rebuilt.stdout
    assert "9 waiver(s) — does NOT match these results" in rebuilt.stdout
    block = json.loads((green_run / "signoff.json").read_text())["signoff"]
    assert block["name"] == "Ada" and block["matches_results"] is False
    assert "the sign-off items changed" in block["mismatch"] and "passed → failed" in block["mismatch"]
    assert "does not match the results in this report" in (green_run / "signoff.md").read_text()
    assert run_cli("signoff", "verify", reports_dir=green_run).returncode == 1

    result.write_text(original)  # the results as they were when approved: valid again
    run_cli("signoff", reports_dir=green_run)
    assert run_cli("signoff", "verify", reports_dir=green_run).returncode == 0


def test_verify_fails_without_a_decision_after_a_rejection_and_when_the_signoff_was_edited(green_run):
    none = run_cli("signoff", "verify", reports_dir=green_run)
    assert none.returncode == 1 and "no decision recorded for run" in none.stdout, none
    record(green_run, waive=waive_all()[1::2])
    page = green_run / "signoff.json"
    edited = json.loads(page.read_text())
    last = next(i for i in edited["items"] if i["id"] == NOT_COVERED[-1])  # a waived item that did not run
    last["status"] = "passed"
    page.write_text(json.dumps(edited))
    verdict = so.verify_decision(**dirs(green_run))
    changed = f"the sign-off items changed: {NOT_COVERED[-1]} not run → passed"
    assert not verdict.ok and changed in verdict.line
    record(green_run, by="Bob", role="release manager", decision="reject", note="not yet")
    verdict = so.verify_decision(**dirs(green_run))
    assert not verdict.ok and "was rejected by Bob (release manager)" in verdict.line
    assert verdict.line.endswith(": not yet")
    record(green_run, by="Cy", role="CTO", waive=waive_all()[1::2])  # the latest decision counts
    assert so.verify_decision(**dirs(green_run)).ok


def test_a_new_baseline_after_the_decision_does_not_invalidate_it(green_run):
    record(green_run, waive=waive_all()[1::2])
    before = json.loads((green_run / "signoff.json").read_text())["items"]
    signoff = so.build_from_disk(green_run / "allure-results", [], [], FAKE_FACTS, green_run / "history")
    slower = {k: replace(m, value=m.value * 3) for k, m in signoff.measurements().items()}
    history.store_run(slower, dict(FAKE_FACTS, started_at="2025-01-01T00:00:00+00:00"),
                      green_run / "history", None)
    history.accept_baseline(green_run / "history", even_if_incomplete=True)
    so.generate(green_run / "allure-results", green_run, facts_path=green_run / "run-facts.json",
                history_dir=green_run / "history", store_history=False)
    after = json.loads((green_run / "signoff.json").read_text())["items"]
    assert before != after  # the comparisons with the baseline changed...
    assert so.verify_decision(**dirs(green_run)).ok  # ...the results the decision judged did not


# -- the log: append-only, chained --------------------------------------------------------------

def test_the_log_only_grows_and_a_changed_line_is_detected(green_run):
    record(green_run, by="Bob", role="release manager", decision="reject", note="first look")
    first = log_lines(green_run)[0]
    record(green_run, waive=waive_all()[1::2])
    lines = log_lines(green_run)
    assert len(lines) == 2 and lines[0] == first
    assert json.loads(lines[1])["prev"] == decisions.sha256(first)
    log = decisions.load_log(green_run / "history")
    assert not log.problems and [d.line for d in log.decisions] == [1, 2]
    assert so.verify_decision(**dirs(green_run)).ok

    path = decisions.log_path(green_run / "history")
    path.write_text(lines[0].replace("first look", "looks fine") + "\n" + lines[1] + "\n")
    log = decisions.load_log(green_run / "history")
    assert log.problems == ["signoff-log.jsonl line 2 does not follow line 1 (an earlier line was changed "
                            "or removed)"]
    verdict = so.verify_decision(**dirs(green_run))
    assert not verdict.ok and "the sign-off log is damaged" in verdict.line
    with pytest.raises(SuiteError, match="the sign-off log is damaged"):
        record(green_run, waive=waive_all()[1::2])
    path.write_text("\n".join([*lines, '{"decision": "maybe"}', "garbage"]) + "\n")
    assert decisions.load_log(green_run / "history").problems == [
        "signoff-log.jsonl line 3 is not a decision", "signoff-log.jsonl line 4 is not a decision"]


def test_the_target_is_recorded_without_secrets():
    described = "external PostgreSQL app_readwrite@db.staging:5432/tickstock_test, Redis redis.staging:6379"
    assert decisions.target_of({"mode": "external", "target": described}) == {
        "mode": "external", "host": "db.staging", "database": "tickstock_test", "description": described}
    leaky = {"mode": "external", "target": "postgresql://app:s3cret@db:5432/x_test"}
    assert "s3cret" not in json.dumps(decisions.target_of(leaky))


# -- 4: the decision in signoff.{json,md,html} -----------------------------------------------------

def test_the_decision_block_escapes_names_notes_and_reasons_in_both_formats(green_run):
    record(green_run, by=EVIL_NAME, role="QA | lead", note=EVIL_NOTE,
           waive=[f"{i}={EVIL_REASON}" for i in NOT_COVERED])
    page = (green_run / "signoff.html").read_text()
    assert "<script" not in page and "<b>bold" not in page and "<i>x" not in page
    assert "Ada &lt;script&gt;alert(1)&lt;/script&gt; | Lovelace" in page
    assert "ok | &lt;b&gt;bold&lt;/b&gt; `a|b`" in page
    row = html_row(page, "SYNC-1")
    assert "data-waived='yes'" in row and '<span class="waived-mark">waived</span>' in row
    assert "later slice &lt;i&gt;x&lt;/i&gt; | see #12" in row
    assert "data-waived" not in html_row(page, "ENV-1")

    md = (green_run / "signoff.md").read_text()
    block = md[md.index("## Sign-off"):]
    rows = {md_cells(ln)[0]: md_cells(ln)[1:] for ln in block.splitlines() if ln.startswith("| ")}
    assert rows["Name"] == ["Ada \\<script>alert(1)\\</script> \\| Lovelace"]
    assert rows["Role"] == ["QA \\| lead"] and rows["Decision"] == ["**approved**"]
    assert rows["Note"] == ["ok \\| \\<b>bold\\</b> `a\\|b`"]
    assert rows["SYNC-1"] == ["not run", "later slice \\<i>x\\</i> \\| see #12"]
    cells = md_cells(md_row(md, "SYNC-1"))
    assert cells[1] == "**not run** · waived"
    assert cells[-1].endswith("waived: later slice \\<i>x\\</i> \\| see #12")
    assert md_cells(md_row(md, "ENV-1"))[1] == "**passed**"
    assert not re.search(r"(?<!\\)<(?!br>)", md.replace("\\\\", "")), "raw HTML in the Markdown"


def test_earlier_decisions_on_the_same_commit_are_listed(green_run, tmp_path):
    record(green_run, by="Bob", role="release manager", decision="reject", note="flaky | <b>x</b>")
    record(green_run, waive=waive_all()[1::2])
    # a later run on the same commit: its own block is empty, both decisions are listed as earlier
    later = tmp_path / "later"
    write_green_run(later, dict(FAKE_FACTS, started_at="2026-01-02T00:00:00+00:00"))
    (later / "history").mkdir()
    decisions.log_path(later / "history").write_bytes(decisions.log_path(green_run / "history").read_bytes())
    signoff, _ = so.generate(later / "allure-results", later, facts_path=later / "run-facts.json",
                             history_dir=later / "history", store_history=False)
    block = signoff.to_dict()["signoff"]
    assert block["decision"] is None and block["waivers"] == [] and block["matches_results"] is None
    assert [(e["name"], e["decision"]) for e in block["earlier_decisions"]] == [("Ada", "approve"),
                                                                               ("Bob", "reject")]
    md = (later / "signoff.md").read_text()
    assert "Decision: none recorded for this run" in md and "### Earlier decisions on commit abc1234" in md
    assert "flaky \\| \\<b>x\\</b>" in md
    assert "flaky | &lt;b&gt;x&lt;/b&gt;" in (later / "signoff.html").read_text()
    # another commit's decisions are not this one's
    other_commit = so.build_from_disk(later / "allure-results", [], [],
                                      dict(FAKE_FACTS, suite_commit="def5678"), later / "history")
    other = so.attach_decisions(other_commit, later / "allure-results", later / "history")
    assert other.earlier_decisions == []


def test_without_a_decision_the_block_says_how_to_record_one(results_dir, tmp_path):
    write_result(results_dir, "db ok", "passed", ["ENV-1"])
    signoff, paths = so.generate(results_dir, tmp_path, facts_path=tmp_path / "none.json",
                                 history_dir=tmp_path / "history", store_history=False)
    block = json.loads(paths[0].read_text())["signoff"]
    assert {k for k, v in block.items() if v not in (None, [])} == set()
    assert "signoff record --by NAME --role ROLE" in paths[1].read_text()
    assert "signoff record --by NAME --role ROLE" in paths[2].read_text()
