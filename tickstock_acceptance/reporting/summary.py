"""The one-screen summary a run prints: one mark per checklist item, failures, warnings, file paths.

``summary_text`` reads the Allure results and, when there is one, the sign-off, so the screen and
the sign-off never disagree; the CLI prints it after ``run``, ``signoff`` and ``summary``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tickstock_acceptance.config.checklist import items
from tickstock_acceptance.reporting.results import load_results

SUMMARY_MARKS = {"passed": "pass", "failed": "FAIL", "not covered": "----", "not run": "skip"}


def decision_line(signoff) -> str:
    """The run's recorded sign-off decision in one line (``signoff record`` records one)."""
    d = signoff.decision
    if d is None:
        return ("Decision: none recorded for this run "
                "(python -m tickstock_acceptance signoff record --by NAME --role ROLE --decision ...)")
    stale = " — does NOT match these results" if signoff.decision_mismatch else ""
    return f"Decision: {d.shown} by {d.who()} at {d.recorded_at}, {len(d.waivers)} waiver(s){stale}"


def summary_text(results_dir: Path, report: Path | None, signoff,
                 signoff_paths: list[Path] | None = None) -> str:
    """One screen: scenario counts, one mark per checklist item, failures, warnings and file paths.

    Item marks come from the sign-off (pass, FAIL, skip = not run, ---- = not covered), so the
    summary and the sign-off never disagree.
    """
    counts = Counter(r.status for r in load_results(results_dir))
    lines = ["", "=" * 72, "TickStock Phase 3 acceptance — summary", "-" * 72,
             "Scenarios: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
             if counts else "Scenarios: none ran",
             "Checklist: " + ", ".join(f"{n} {s}" for s, n in signoff.counts.items())
             + "  (skip = not run, ---- = not covered)"]
    marks = {i.id: SUMMARY_MARKS[i.status] for i in signoff.items}
    row = [f"{item.id:<7}{marks.get(item.id, '----')}" for item in items()]
    for i in range(0, len(row), 6):
        lines.append("  ".join(row[i:i + 6]))
    lines += [f"FAILED {item.id}: {item.reason[:110]}" for item in signoff.items if item.status == "failed"]
    lines += [f"warning: {warning[:120]}" for warning in signoff.warnings]
    lines += cleanup_lines(signoff.run.get("cleanup") or {})
    lines += [f"coverage: {error[:120]}" for error in signoff.coverage_errors]
    lines.append(decision_line(signoff))
    lines.append(f"Results: {results_dir}")
    lines.append(f"Report:  {report}" if report else "Report:  (not rendered)")
    lines += [f"Sign-off: {path}" for path in signoff_paths or []]
    lines.append("=" * 72)
    return "\n".join(lines)


def cleanup_lines(cleanup: dict) -> list[str]:
    """What an external run's cleanup could not do, and what it left where ([] when it did it all)."""
    if not cleanup.get("problems"):
        return []
    left = ", ".join(f"{where}: {n}" for where, n in (cleanup.get("left") or {}).items()) or "not counted"
    return [f"CLEANUP FAILED: {p[:110]}" for p in cleanup["problems"]] + [f"left behind: {left[:110]}"]
