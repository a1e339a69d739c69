"""The checklist sign-off: one status per checklist item, written as JSON, Markdown and HTML.

Inputs: the checklist (``checklist.toml``), the scenarios in the feature files and the run's tag
selection (``coverage``), the Allure results (``results``), the run facts (``run-facts.json``) and
the performance history (``history``). Statuses:

- ``passed``       every scenario carrying the item's tag ran and passed, no figure is past
                   its regression line, and every target the checklist names for the item
                   (``targets`` in checklist.toml) has at least one figure recorded against it;
- ``failed``       a scenario failed or broke, a figure is past its regression line
                   (target ± 25 %, the spec's PERFORMANCE_REGRESSION_THRESHOLDS), or the
                   item's scenarios all passed but recorded no figure against one of its targets;
- ``not covered``  no scenario carries the tag, or the item is marked ``not_yet_automated``;
- ``not run``      its scenarios were filtered out (``--tags``), skipped, or produced no result.

An item is never ``passed`` on partial evidence: if one of its scenarios did not run, it reads
``not run``. The HTML file is self-contained (inline CSS and SVG, no JavaScript) so it can be
mailed, archived and printed.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tickstock_acceptance.config import checklist
from tickstock_acceptance.config import targets as T
from tickstock_acceptance.config.checklist import Item
from tickstock_acceptance.config.paths import REPORTS_DIR, RESULTS_DIR, RUN_FACTS
from tickstock_acceptance.reporting import coverage, history
from tickstock_acceptance.reporting.results import ScenarioResult, load_results

PASSED, FAILED, NOT_COVERED, NOT_RUN = "passed", "failed", "not covered", "not run"
STATUSES = (PASSED, FAILED, NOT_COVERED, NOT_RUN)
FAILING_RESULT = ("failed", "broken")
SIGNOFF_FILES = ("signoff.json", "signoff.md", "signoff.html")
CHART_MIN_SAMPLES = 2  # the chart draws distributions only; a single sample stays in the tables


@dataclass
class Figure:
    """One measured figure of an item, with its target, regression line and baseline comparison."""

    item_id: str
    scenario: str
    name: str
    value: float
    unit: str
    target: float | None = None
    target_name: str | None = None
    regression_line: float | None = None
    minimum: bool = False
    met_target: bool | None = None
    higher_is_better: bool = False
    distribution: dict | None = None
    note: str = ""
    comparison: dict | None = None

    @property
    def key(self) -> str:
        return history.figure_key(self.item_id, self.scenario, self.name)

    @property
    def past_regression_line(self) -> bool:
        if self.regression_line is None:
            return False
        return self.value < self.regression_line if self.minimum else self.value > self.regression_line

    def verdict(self) -> str:
        """Figure vs target vs regression line, in words."""
        if self.target is None:
            return "recorded (no target)"
        if self.past_regression_line:
            return "REGRESSION: past the regression line"
        return "meets target" if self.met_target else "misses target, within the 25 % tolerance"

    def describe(self) -> str:
        sign = "≥" if self.minimum else "≤"
        text = f"{self.name} {self.value:g} {self.unit}"
        if self.target is not None:
            text += f" (target {sign} {self.target:g} {self.unit}, regression line {self.regression_line:g} "
            text += f"{self.unit})"
        return text

    def history_record(self) -> dict:
        return {"value": self.value, "unit": self.unit, "target": self.target,
                "regression_line": self.regression_line, "minimum": self.minimum,
                "higher_is_better": self.higher_is_better, "distribution": self.distribution,
                "scenario": self.scenario}

    @classmethod
    def from_evidence(cls, item_id: str, scenario: str, ev: dict) -> Figure:
        return cls(item_id, scenario, ev.get("name", "?"), float(ev.get("value", 0.0)), ev.get("unit", ""),
                   ev.get("target"), ev.get("target_name"), ev.get("regression_line"),
                   bool(ev.get("minimum", False)), ev.get("passed"),
                   bool(ev.get("higher_is_better") or ev.get("minimum", False)),
                   ev.get("distribution"), ev.get("note", ""))


@dataclass
class ItemSignoff:
    id: str
    section: str
    text: str
    status: str
    reason: str = ""
    not_yet_automated: bool = False
    targets: list[str] = field(default_factory=list)  # the checklist's targets, described
    scenarios: list[dict] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Signoff:
    generated_at: str
    run: dict
    items: list[ItemSignoff]
    coverage_errors: list[str] = field(default_factory=list)
    baseline: dict | None = None

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(i.status for i in self.items)
        return {s: counted.get(s, 0) for s in STATUSES}

    @property
    def figures(self) -> list[Figure]:
        return [f for i in self.items for f in i.figures]

    @property
    def warnings(self) -> list[str]:
        return [w for i in self.items for w in i.warnings]

    def to_dict(self) -> dict:
        items = []
        for i in self.items:
            entry = asdict(i)
            entry["figures"] = [dict(asdict(f), key=f.key, verdict=f.verdict(),
                                     past_regression_line=f.past_regression_line) for f in i.figures]
            items.append(entry)
        base = self.baseline or {}
        return {"schema": "tickstock-signoff/1", "generated_at": self.generated_at, "run": self.run,
                "counts": self.counts, "items": items, "warnings": self.warnings,
                "coverage_errors": self.coverage_errors,
                "baseline": {k: base.get(k) for k in ("run_id", "accepted_at", "accepted_by", "note")}
                if self.baseline else None,
                "signoff": {"name": None, "role": None, "date": None, "decision": None}}


# ---------------------------------------------------------------------------------------------
# Judging


def judge_item(item: Item, scenarios: Sequence[coverage.TaggedScenario],
               selected: Sequence[coverage.TaggedScenario], results: Sequence[ScenarioResult],
               tag_text: str = "") -> tuple[str, str]:
    """Status and one-line reason of one item, from its scenarios, the selection and the results."""
    if item.not_yet_automated:
        stale = " (but scenarios carry its tag: stale mark)" if scenarios else ""
        return NOT_COVERED, "marked not yet automated in checklist.toml" + stale
    if not scenarios:
        return NOT_COVERED, f"no scenario carries @{checklist.TAG_PREFIX}{item.id}"
    mine = [r for r in results if item.id in r.checklist]
    figures = [Figure.from_evidence(item.id, r.name, ev) for r in mine for ev in r.evidence]
    broken = [r for r in mine if r.status in FAILING_RESULT]
    if broken:
        first = broken[0]
        more = f" (+{len(broken) - 1} more failed)" if len(broken) > 1 else ""
        return FAILED, f"{first.name}: {first.message or first.status}{more}"
    regressions = [f for f in figures if f.past_regression_line]
    if regressions:
        return FAILED, "regression: " + regressions[0].describe()
    passed = [r for r in mine if r.status == "passed"]
    if passed and len(passed) >= len(scenarios):
        unmeasured = targets_without_figure(item, figures)
        if unmeasured:
            return FAILED, "; ".join(f"no figure recorded against target {describe_target(t)}"
                                     for t in unmeasured)
        return PASSED, ""
    skipped = [r for r in mine if r.status == "skipped"]
    chosen = [s for s in scenarios if s in set(selected)]
    if not chosen:
        return NOT_RUN, f"filtered out by --tags {tag_text}".rstrip()
    if skipped:
        return NOT_RUN, f"{len(skipped)} of {len(scenarios)} scenarios skipped"
    missing = len(scenarios) - len(passed)
    why = "filtered out by --tags" if len(chosen) < len(scenarios) else "no result (the run stopped early?)"
    return NOT_RUN, f"{missing} of {len(scenarios)} scenarios did not run: {why}"


def describe_target(name: str) -> str:
    """A checklist target name in words with its line, e.g. ``ui_query_time ≤ 50 ms``."""
    try:
        return T.target(name).describe()
    except KeyError:
        return f"{name} (unknown to targets.py)"


def targets_without_figure(item: Item, figures: Sequence[Figure]) -> list[str]:
    """The item's checklist targets that no figure of its scenarios was judged against."""
    measured = {f.target_name for f in figures if f.target is not None}
    return [t for t in item.targets if t not in measured]


def build_signoff(results: Sequence[ScenarioResult], facts: dict, tags: Sequence[str] = (),
                  feature_paths: Sequence[str | Path] = (), items: Sequence[Item] | None = None,
                  scenarios: Sequence[coverage.TaggedScenario] | None = None,
                  baseline: dict | None = None, earlier_runs: Sequence[dict] = (),
                  timing: dict | None = None) -> Signoff:
    """The sign-off model: every checklist item with status, reason, scenarios and figures."""
    items = list(items if items is not None else checklist.items())
    scenarios = list(scenarios if scenarios is not None else coverage.scan(feature_paths))
    report = coverage.check_coverage(scenarios, items)
    chosen = coverage.selected(scenarios, tags)
    tag_text = " ".join(tags)
    run = dict(facts)
    run.update(timing or {})
    run["tags"] = tag_text or None
    run["scenario_results"] = dict(Counter(r.status for r in results))
    signed: list[ItemSignoff] = []
    for item in items:
        tagged = report.scenarios_by_id.get(item.id, [])
        status, reason = judge_item(item, tagged, chosen, results, tag_text)
        mine = [r for r in results if item.id in r.checklist]
        entry = ItemSignoff(item.id, item.section, item.text, status, reason, item.not_yet_automated,
                            [describe_target(t) for t in item.targets])
        entry.scenarios = [{"name": r.name, "status": r.status, "message": r.message} for r in mine]
        ran = {r.name for r in mine}
        entry.scenarios += [{"name": s.name, "status": "not run" if s not in chosen else "no result",
                             "message": s.where} for s in tagged if s.name not in ran]
        entry.figures = [Figure.from_evidence(item.id, r.name, ev) for r in mine for ev in r.evidence]
        signed.append(entry)
    signoff = Signoff(datetime.now(UTC).isoformat(timespec="seconds"), run, signed, report.errors, baseline)
    figures = {f.key: f.history_record() for f in signoff.figures}
    comparisons = history.compare(figures, baseline, [r for r in earlier_runs
                                                      if r.get("run_id") != history.run_id(facts)])
    for entry in signed:
        for fig in entry.figures:
            cmp = comparisons.get(fig.key)
            fig.comparison = cmp.to_dict() if cmp else None
            if cmp and cmp.warning:
                entry.warnings.append(cmp.warning)
            if fig.target is not None and fig.met_target is False and not fig.past_regression_line:
                entry.warnings.append(f"{fig.describe()}: misses its target but stays within the "
                                      "regression tolerance")
    return signoff


def result_timing(results_dir: Path) -> dict:
    """Start, stop and duration of the scenarios, read from the Allure results' timestamps."""
    starts, stops = [], []
    for path in results_dir.glob("*-result.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if "start" in data and "stop" in data:
            starts.append(data["start"])
            stops.append(data["stop"])
    if not starts:
        return {}
    return {"scenarios_started_at": datetime.fromtimestamp(min(starts) / 1000, UTC).isoformat(
        timespec="seconds"), "scenarios_duration_s": round((max(stops) - min(starts)) / 1000, 3)}


def load_facts(path: Path = RUN_FACTS) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {"note": f"no run facts at {path} (did the run start its services?)"}


# ---------------------------------------------------------------------------------------------
# Writing


def write_signoff(signoff: Signoff, out_dir: Path = REPORTS_DIR) -> list[Path]:
    """Write signoff.json, signoff.md and signoff.html into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in SIGNOFF_FILES]
    paths[0].write_text(json.dumps(signoff.to_dict(), indent=2, ensure_ascii=False) + "\n")
    paths[1].write_text(render_markdown(signoff))
    paths[2].write_text(render_html(signoff))
    return paths


def generate(results_dir: Path = RESULTS_DIR, out_dir: Path = REPORTS_DIR, tags: Sequence[str] = (),
             feature_paths: Sequence[str | Path] = (), facts_path: Path = RUN_FACTS,
             history_dir: Path = history.HISTORY_DIR, store_history: bool = True,
             extra_facts: dict | None = None) -> tuple[Signoff, list[Path]]:
    """Everything ``run`` and ``signoff`` do: build from the results, store history, write files."""
    facts = load_facts(facts_path)
    facts.update(extra_facts or {})
    signoff = build_signoff(load_results(results_dir), facts, tags, feature_paths,
                            baseline=history.load_baseline(history_dir),
                            earlier_runs=history.load_runs(history_dir),
                            timing=result_timing(results_dir))
    if store_history and signoff.figures:
        history.store_run({f.key: f.history_record() for f in signoff.figures}, facts, history_dir,
                          outcome=run_outcome(signoff, tags, feature_paths))
    return signoff, write_signoff(signoff, out_dir)


def selection_is_complete(tags: Sequence[str] = (), feature_paths: Sequence[str | Path] = (),
                          all_scenarios: Sequence[coverage.TaggedScenario] | None = None) -> bool:
    """Whether the run's selection (tags, feature paths) chose every scenario of the suite."""
    if any(re.search(r":\d+(:\d+)*$", str(p)) for p in feature_paths):
        return False  # file.feature:LINE runs one scenario, even though its whole file is scanned
    everything = list(all_scenarios if all_scenarios is not None else coverage.scan())
    chosen = coverage.selected(coverage.scan(feature_paths) if feature_paths else everything, tags)
    return {(s.feature_file, s.line) for s in chosen} == {(s.feature_file, s.line) for s in everything}


def run_outcome(signoff: Signoff, tags: Sequence[str] = (), feature_paths: Sequence[str | Path] = (),
                all_scenarios: Sequence[coverage.TaggedScenario] | None = None) -> dict:
    """What the history keeps about a run besides its figures (a baseline must be a whole, green run)."""
    return history.run_outcome(tags, feature_paths,
                               selection_is_complete(tags, feature_paths, all_scenarios),
                               signoff.counts, signoff.run.get("scenario_results", {}))


def _fmt(value: float | None, unit: str = "") -> str:
    return "—" if value is None else f"{value:.4g} {unit}".strip()


def _baseline_text(fig: Figure) -> str:
    cmp = fig.comparison or {}
    if cmp.get("baseline") is None:
        return "no baseline"
    pct = f" ({cmp['change_pct']:+.1f} %)" if cmp.get("change_pct") is not None else ""
    return f"{cmp['baseline']:g} {fig.unit}{pct}: {cmp['verdict']}"


def _run_rows(signoff: Signoff) -> list[tuple[str, str]]:
    run = signoff.run
    duration = run.get("duration_s", run.get("scenarios_duration_s"))
    return [("Mode", str(run.get("mode", "?"))), ("Target", str(run.get("target", "?"))),
            ("Suite commit", str(run.get("suite_commit", "?"))),
            ("PostgreSQL", str(run.get("postgresql", "?"))), ("Redis", str(run.get("redis", "?"))),
            ("Python", str(run.get("python", "?"))), ("Started", str(run.get("started_at", "?"))),
            ("Duration", f"{duration:g} s" if isinstance(duration, int | float) else "?"),
            ("Selection", run.get("tags") or "all scenarios"),
            ("Scenario results", ", ".join(f"{n} {s}" for s, n in sorted(run["scenario_results"].items()))
             or "none"),
            ("Baseline", (f"{signoff.baseline.get('run_id')} accepted {signoff.baseline.get('accepted_at')}"
                          f" by {signoff.baseline.get('accepted_by') or '?'}") if signoff.baseline
             else "none accepted (python -m tickstock_acceptance baseline accept)"),
            ("Generated", signoff.generated_at)]


def render_markdown(signoff: Signoff) -> str:
    counts = signoff.counts
    lines = ["# TickStock Phase 3 — checklist sign-off", "",
             " · ".join(f"**{n}** {s}" for s, n in counts.items()), "", "| Run | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _run_rows(signoff)]
    for section in checklist.sections():
        lines += ["", f"## {section}", "", "| ID | Status | Item | Scenarios | Reason |",
                  "|---|---|---|---|---|"]
        for i in (i for i in signoff.items if i.section == section):
            scen = "<br>".join(f"{s['name']} ({s['status']})" for s in i.scenarios) or "—"
            text = i.text + (f" (targets: {', '.join(i.targets)})" if i.targets else "")
            lines.append(f"| {i.id} | **{i.status}** | {_md(text)} | {_md(scen)} | {_md(i.reason) or ''} |")
    if signoff.figures:
        lines += ["", "## Evidence vs target vs regression line", "",
                  "| Item | Figure | Value | Target | Regression line | Verdict | Baseline |",
                  "|---|---|---|---|---|---|---|"]
        for f in signoff.figures:
            sign = "≥ " if f.minimum and f.target is not None else ("≤ " if f.target is not None else "")
            lines.append(f"| {f.item_id} | {_md(f.name)} | {_fmt(f.value, f.unit)} | "
                         f"{sign}{_fmt(f.target, f.unit)} | {_fmt(f.regression_line, f.unit)} | "
                         f"{f.verdict()} | {_baseline_text(f)} |")
    if signoff.warnings:
        lines += ["", "## Warnings (not failures)", ""] + [f"- {_md(w)}" for w in signoff.warnings]
    if signoff.coverage_errors:
        lines += ["", "## Coverage gate errors", ""] + [f"- {_md(e)}" for e in signoff.coverage_errors]
    lines += ["", "## Sign-off", "", "| | |", "|---|---|", "| Name | |", "| Role | |", "| Date | |",
              "| Decision | ☐ accept · ☐ accept with conditions · ☐ reject |", "| Conditions / notes | |", ""]
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------------------------
# HTML (self-contained: inline CSS, inline SVG, no JavaScript)

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1c2430}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ccd}
table{border-collapse:collapse;width:100%}
.items{table-layout:fixed} th,td{border:1px solid #d5d9e0;padding:4px 8px;
vertical-align:top;text-align:left} th{background:#f2f4f7}
.facts{width:auto} .facts th{width:150px}
.status{font-weight:700;white-space:nowrap;border-radius:4px;padding:1px 6px}
.s-passed{background:#d8f3dc;color:#1b5e20}.s-failed{background:#ffd6d6;color:#a00000}
.s-not-covered{background:#eceff1;color:#37474f}.s-not-run{background:#fff3cd;color:#7a5200}
.counts span{margin-right:14px;font-size:15px} .id{font-weight:700;white-space:nowrap}
.reason{color:#a00000} .muted{color:#667} .warn{color:#7a5200}
.scen{margin:0;padding-left:16px} .chart text{font:11px system-ui,sans-serif}
.signoff td{height:30px} .signoff th{width:150px}
@media print{body{margin:8mm} .chart{page-break-inside:avoid}}
"""


COLUMNS = ("<colgroup><col style='width:6%'><col style='width:9%'><col style='width:31%'>"
           "<col style='width:24%'><col style='width:30%'></colgroup>")


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _status_span(status: str) -> str:
    return f'<span class="status s-{status.replace(" ", "-")}">{_e(status)}</span>'


def latency_chart(figures: Sequence[Figure]) -> str:
    """Inline SVG: per figure with a distribution, bars for p50/p95/p99/max, target and line marks.

    Only distributions of at least ``CHART_MIN_SAMPLES`` samples are drawn: one sample has no
    spread to show, and its value is in the item's evidence and the evidence table already.
    """
    rows = [f for f in figures if f.distribution
            and (f.distribution.get("count") or 0) >= CHART_MIN_SAMPLES]
    if not rows:
        return '<p class="muted">No figure of this run carries a distribution of repeated samples.</p>'
    label_w, bar_w, row_h, pad = 300, 520, 74, 20
    height = pad + row_h * len(rows) + 24
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 140}" '
             f'height="{height}" role="img" aria-label="Latency distributions against targets">',
             f'<text x="{label_w}" y="12" fill="#334">p50 / p95 / p99 / max per figure; solid line = '
             'target, dashed = regression line (target + 25 %)</text>']
    colors = {"p50": "#90caf9", "p95": "#42a5f5", "p99": "#1e88e5", "max": "#0d47a1"}
    for n, fig in enumerate(rows):
        d = fig.distribution or {}
        top = pad + n * row_h
        scale_max = max([d.get("max", 0), fig.value] + [v for v in (fig.target, fig.regression_line) if v])
        scale_max = scale_max * 1.1 or 1.0

        def x(v: float, _m: float = scale_max) -> float:
            return label_w + bar_w * (v / _m)

        name = fig.name if len(fig.name) <= 44 else fig.name[:43] + "…"
        parts.append(f'<text x="0" y="{top + 14}" font-weight="bold">{_e(fig.item_id)}</text>'
                     f'<text x="0" y="{top + 30}">{_e(name)}</text>'
                     f'<text x="0" y="{top + 46}" fill="#667">{d.get("count", "?")} samples, '
                     f'{_e(fig.unit)}</text>')
        for k, (q, color) in enumerate(colors.items()):
            v = d.get(q)
            if v is None:
                continue
            y = top + 2 + k * 13
            parts.append(f'<rect x="{label_w}" y="{y}" width="{max(1.0, x(v) - label_w):.1f}" height="11" '
                         f'fill="{color}"><title>{q} {v:g} {_e(fig.unit)}</title></rect>'
                         f'<text x="{x(v) + 4:.1f}" y="{y + 10}">{q} {v:.3g}</text>')
        marks = ((fig.target, "", "target"), (fig.regression_line, ' stroke-dasharray="5,3"', "line"))
        for v, dash, label in marks:
            if v:
                parts.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{top}" y2="{top + 56}" '
                             f'stroke="#c62828" stroke-width="2"{dash}/><text x="{x(v) - 2:.1f}" '
                             f'y="{top + 66}" fill="#c62828" text-anchor="end">{label} {v:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(signoff: Signoff) -> str:
    counts = "".join(f"<span>{_status_span(s)} {n}</span>" for s, n in signoff.counts.items())
    facts = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in _run_rows(signoff))
    body = [f"<h1>TickStock Phase 3 — checklist sign-off</h1><p class='counts'>{counts}</p>",
            f"<table class='facts'>{facts}</table>"]
    body.append("<h2>Latency distributions of this run</h2>" + latency_chart(signoff.figures))
    if signoff.coverage_errors:
        body.append("<h2>Coverage gate errors</h2><ul>"
                    + "".join(f"<li class='reason'>{_e(e)}</li>" for e in signoff.coverage_errors) + "</ul>")
    for section in checklist.sections():
        body.append(f"<h2>{_e(section)}</h2><table class='items'>{COLUMNS}<tr><th>ID</th><th>Status</th>"
                    "<th>Item</th><th>Scenarios</th>"
                    "<th>Evidence (value · target · regression line · baseline)</th></tr>")
        for i in (i for i in signoff.items if i.section == section):
            scen = "".join(f"<li>{_e(s['name'])} — {_e(s['status'])}</li>" for s in i.scenarios)
            evid = "".join(f"<li>{_e(f.name)}: <b>{_e(_fmt(f.value, f.unit))}</b> · target "
                           f"{_e(_fmt(f.target, f.unit))} · line {_e(_fmt(f.regression_line, f.unit))} · "
                           f"{_e(f.verdict())} · {_e(_baseline_text(f))}</li>" for f in i.figures)
            reason = f"<div class='reason'>{_e(i.reason)}</div>" if i.status == FAILED else (
                f"<div class='muted'>{_e(i.reason)}</div>" if i.reason else "")
            warns = "".join(f"<div class='warn'>⚠ {_e(w)}</div>" for w in i.warnings)
            tgts = (f"<div class='muted'>Targets: {_e(', '.join(i.targets))}</div>" if i.targets else "")
            body.append(f"<tr id='item-{_e(i.id)}' data-status='{_e(i.status)}'>"
                        f"<td class='id'>{_e(i.id)}</td>"
                        f"<td>{_status_span(i.status)}</td><td>{_e(i.text)}{tgts}{reason}{warns}</td>"
                        f"<td><ul class='scen'>{scen}</ul></td><td><ul class='scen'>{evid}</ul></td></tr>")
        body.append("</table>")
    if signoff.warnings:
        body.append("<h2>Warnings (changes beyond run-to-run noise; not failures)</h2><ul>"
                    + "".join(f"<li class='warn'>{_e(w)}</li>" for w in signoff.warnings) + "</ul>")
    body.append("<h2>Sign-off</h2><table class='signoff'><tr><th>Name</th><td></td></tr><tr><th>Role</th>"
                "<td></td></tr><tr><th>Date</th><td></td></tr><tr><th>Decision</th><td>☐ accept &nbsp; "
                "☐ accept with conditions &nbsp; ☐ reject</td></tr><tr><th>Conditions / notes</th>"
                "<td style='height:60px'></td></tr></table>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>TickStock Phase 3 sign-off"
            f"</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
