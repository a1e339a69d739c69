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
``not run``. The one exception is explicit: a scenario tagged ``@optional`` that was skipped (with a
reason, e.g. ETF-2's market-data check without ``MASSIVE_API_KEY``) does not count, and the passed
item's reason names it with that reason.

Each figure is a ``Figure``: the ``Measurement`` one scenario attached, with its item, scenario
and baseline comparison (the history keeps one per scenario). For reading, each item's row shows
its key figure against its target (of its figures judged against a target, the one closest to or
furthest past its line), and its evidence lists each figure name once: the worst against its
target, or for a figure without one the largest, noting how many scenarios recorded it.

Markdown and HTML are rendered from the Jinja templates in ``templates/``. The HTML file is
self-contained (inline CSS and SVG, no JavaScript) so it can be mailed, archived and printed.

The sign-off block holds the decision recorded for the run (``decisions``: who approved or
rejected it, when, with which waivers, bound to a digest of the run's results), whether it still
matches the results on disk, and the earlier decisions on the same suite commit. Every build fills
it in from the sign-off log, so rebuilding keeps it; ``record_decision`` appends a decision and
rewrites the files, ``verify_decision`` checks the latest one against the results on disk.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tickstock_acceptance.config import checklist
from tickstock_acceptance.config import targets as T
from tickstock_acceptance.config.checklist import Item
from tickstock_acceptance.config.paths import REPORTS_DIR, RESULTS_DIR, RUN_FACTS
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.reporting import coverage, decisions, history
from tickstock_acceptance.reporting.evidence import Measurement
from tickstock_acceptance.reporting.results import ScenarioResult, load_results

PASSED, FAILED, NOT_COVERED, NOT_RUN = "passed", "failed", "not covered", "not run"
STATUSES = (PASSED, FAILED, NOT_COVERED, NOT_RUN)
FAILING_RESULT = ("failed", "broken")
OPTIONAL_TAG = "optional"  # a scenario whose skip does not keep its item from passing (see judge_item)
# A scenario written for one kind of Redis (standalone or cluster): against the other kind it is skipped
# and its item is judged by the scenario written for that kind.
ALTERNATIVE_TAG_PREFIX = "use.with_redis="
SIGNOFF_FILES = ("signoff.json", "signoff.md", "signoff.html")
CHART_MIN_SAMPLES = 2  # the chart draws distributions only; a single sample stays in the tables
TEMPLATES_DIR = Path(__file__).with_name("templates")


@dataclass
class Figure:
    """One measurement of an item as one scenario recorded it, with its baseline comparison."""

    item_id: str
    scenario: str
    measurement: Measurement
    comparison: dict | None = None

    @property
    def key(self) -> str:
        """Its key in the history (per scenario: several scenarios may record the same name)."""
        return history.figure_key(self.item_id, self.scenario, self.measurement.name)

    @property
    def name(self) -> str:
        return self.measurement.name

    @property
    def value(self) -> float:
        return self.measurement.value

    def describe(self) -> str:
        return self.measurement.describe()

    def to_dict(self) -> dict:
        m = self.measurement
        return {"item_id": self.item_id, "scenario": self.scenario, "key": self.key, **m.to_dict(),
                "verdict": m.verdict(), "past_regression_line": m.past_regression_line,
                "comparison": self.comparison}


def worst(figures: Sequence[Figure]) -> Figure:
    """The figure to show for several of the same name: the worst against its target.

    Among figures judged against a target, the one closest to or furthest past it; among
    figures without one, the largest (the smallest where higher is better).
    """
    judged = [f for f in figures if f.measurement.has_target]
    if judged:
        return max(judged, key=lambda f: f.measurement.target_ratio)
    if all(f.measurement.higher_is_better for f in figures):
        return min(figures, key=lambda f: f.value)
    return max(figures, key=lambda f: f.value)


@dataclass
class EvidenceRow:
    """One row of an item's evidence: a figure name, shown once however many scenarios recorded it."""

    figure: Figure  # the worst of them (``worst``)
    recorded_by: int = 1  # how many scenarios of the item recorded a figure of this name

    @property
    def how_chosen(self) -> str:
        """E.g. ``largest of 9 scenarios`` when several scenarios recorded it; else empty."""
        if self.recorded_by < 2:
            return ""
        m = self.figure.measurement
        which = "worst" if m.has_target else ("smallest" if m.higher_is_better else "largest")
        return f"{which} of {self.recorded_by} scenarios"


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
    figures: list[Figure] = field(default_factory=list)  # every scenario's, as the history keeps them
    warnings: list[str] = field(default_factory=list)
    waiver: str | None = None  # the reason, when the run's approval waived this item

    @property
    def evidence_rows(self) -> list[EvidenceRow]:
        """The item's figures, each name once (in order of first recording), the worst shown."""
        by_name: dict[str, list[Figure]] = {}
        for fig in self.figures:
            by_name.setdefault(fig.name, []).append(fig)
        return [EvidenceRow(worst(same), len({f.scenario for f in same})) for same in by_name.values()]

    @property
    def key_figure(self) -> Figure | None:
        """The figure a stakeholder reads first: of those judged against a target, the one
        closest to or furthest past its line (None when no figure has a target)."""
        judged = [f for f in self.figures if f.measurement.has_target]
        return worst(judged) if judged else None

    def to_dict(self) -> dict:
        key = self.key_figure
        return {"id": self.id, "section": self.section, "text": self.text, "status": self.status,
                "reason": self.reason, "not_yet_automated": self.not_yet_automated,
                "targets": self.targets, "key_figure": key.measurement.against_target() if key else None,
                "scenarios": self.scenarios, "figures": [f.to_dict() for f in self.figures],
                "warnings": self.warnings, "waiver": self.waiver}


@dataclass
class Signoff:
    generated_at: str
    run: dict
    items: list[ItemSignoff]
    coverage_errors: list[str] = field(default_factory=list)
    baseline: dict | None = None
    decision: decisions.Decision | None = None  # the latest decision recorded for this run
    decision_mismatch: str = ""  # why the decision no longer matches the results ("" if it does)
    earlier_decisions: list[decisions.Decision] = field(default_factory=list)  # same commit, newest first
    log_problems: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str | None:
        return history.run_id(self.run) if self.run.get("started_at") else None

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(i.status for i in self.items)
        return {s: counted.get(s, 0) for s in STATUSES}

    @property
    def figures(self) -> list[Figure]:
        return [f for i in self.items for f in i.figures]

    @property
    def evidence_rows(self) -> list[EvidenceRow]:
        return [row for i in self.items for row in i.evidence_rows]

    def measurements(self) -> dict[str, Measurement]:
        """This run's figures as the history stores them, keyed ``item · scenario · name``."""
        return {f.key: f.measurement for f in self.figures}

    @property
    def warnings(self) -> list[str]:
        return [w for i in self.items for w in i.warnings]

    def to_dict(self) -> dict:
        base = self.baseline or {}
        return {"schema": "tickstock-signoff/1", "generated_at": self.generated_at, "run": self.run,
                "counts": self.counts, "items": [i.to_dict() for i in self.items],
                "warnings": self.warnings, "coverage_errors": self.coverage_errors,
                "baseline": {k: base.get(k) for k in ("run_id", "accepted_at", "accepted_by", "note")}
                if self.baseline else None,
                "signoff": self.signoff_block()}

    def signoff_block(self) -> dict:
        """The decision as signoff.json holds it (keys always present; null without a decision)."""
        d = self.decision
        earlier = [{"recorded_at": e.recorded_at, "run_id": e.run_id, "decision": e.decision,
                    "name": e.by, "role": e.role, "note": e.note, "waivers": len(e.waivers)}
                   for e in self.earlier_decisions]
        return {"name": d.by if d else None, "role": d.role if d else None,
                "date": d.recorded_at if d else None, "decision": d.decision if d else None,
                "note": d.note if d else None,
                "waivers": [{"id": i, "reason": r} for i, r in d.waivers.items()] if d else [],
                "run_id": d.run_id if d else None, "suite_commit": d.suite_commit if d else None,
                "target": d.target if d else None, "digest": d.digest if d else None,
                "matches_results": (not self.decision_mismatch) if d else None,
                "mismatch": self.decision_mismatch or None, "earlier_decisions": earlier,
                "log_problems": self.log_problems}


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
    figures = figures_of(item, mine)
    broken = [r for r in mine if r.status in FAILING_RESULT]
    if broken:
        telling = max(broken, key=lambda r: r.specificity)  # the failure that says most about the item
        more = f" (+{len(broken) - 1} more scenarios failed)" if len(broken) > 1 else ""
        return FAILED, f"{telling.message or telling.name + ': ' + telling.status}{more}"
    regressions = [f for f in figures if f.measurement.past_regression_line]
    if regressions:
        return FAILED, "regression: " + regressions[0].describe()
    passed = [r for r in mine if r.status == "passed"]
    # A skipped @optional scenario (e.g. no MASSIVE_API_KEY), or one written for the other kind of Redis,
    # leaves the verdict to the other scenarios.
    optional = {s.name for s in scenarios if OPTIONAL_TAG in s.tags}
    alternative = {s.name for s in scenarios if any(t.startswith(ALTERNATIVE_TAG_PREFIX) for t in s.tags)}
    skipped_optional = [r for r in mine if r.status == "skipped" and r.name in optional | alternative]
    if passed and len(passed) + len(skipped_optional) >= len(scenarios):
        unmeasured = targets_without_figure(item, figures)
        if unmeasured:
            return FAILED, "; ".join(f"no figure recorded against target {describe_target(t)}"
                                     for t in unmeasured)
        return PASSED, "; ".join(
            f"{'optional' if r.name in optional else 'alternative'} scenario skipped: {r.name} "
            f"({r.message or 'no reason given'})" for r in skipped_optional)
    skipped = [r for r in mine if r.status == "skipped"]
    chosen = [s for s in scenarios if s in set(selected)]
    if not chosen:
        return NOT_RUN, f"filtered out by --tags {tag_text}".rstrip()
    if skipped:
        return NOT_RUN, f"{len(skipped)} of {len(scenarios)} scenarios skipped"
    missing = len(scenarios) - len(passed)
    why = "filtered out by --tags" if len(chosen) < len(scenarios) else "no result (the run stopped early?)"
    return NOT_RUN, f"{missing} of {len(scenarios)} scenarios did not run: {why}"


def figures_of(item: Item, results: Sequence[ScenarioResult]) -> list[Figure]:
    """Every measurement the item's scenarios recorded, each with its item and scenario."""
    return [Figure(item.id, r.name, m) for r in results if item.id in r.checklist for m in r.evidence]


def describe_target(name: str) -> str:
    """A checklist target name in words with its line, e.g. ``ui_query_time ≤ 50 ms``."""
    try:
        return T.target(name).describe()
    except KeyError:
        return f"{name} (unknown to targets.py)"


def targets_without_figure(item: Item, figures: Sequence[Figure]) -> list[str]:
    """The item's checklist targets that no figure of its scenarios was judged against."""
    measured = {f.measurement.target_name for f in figures if f.measurement.has_target}
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
        entry.figures = figures_of(item, mine)
        signed.append(entry)
    signoff = Signoff(datetime.now(UTC).isoformat(timespec="seconds"), run, signed, report.errors, baseline)
    earlier = [r for r in earlier_runs if r.get("run_id") != history.run_id(facts)]
    comparisons = history.compare(signoff.measurements(), baseline, earlier)
    for entry in signed:
        for fig in entry.figures:
            cmp = comparisons.get(fig.key)
            fig.comparison = cmp.to_dict() if cmp else None
            if cmp and cmp.warning:
                entry.warnings.append(cmp.warning)
            m = fig.measurement
            if m.has_target and m.passed is False and not m.past_regression_line:
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


def build_from_disk(results_dir: Path, tags: Sequence[str], feature_paths: Sequence[str | Path],
                    facts: dict, history_dir: Path) -> Signoff:
    """The sign-off of the results under ``results_dir`` with the history's baseline and runs."""
    return build_signoff(load_results(results_dir), facts, tags, feature_paths,
                         baseline=history.load_baseline(history_dir),
                         earlier_runs=history.load_runs(history_dir), timing=result_timing(results_dir))


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
    signoff = build_from_disk(results_dir, tags, feature_paths, facts, history_dir)
    if store_history and signoff.figures:
        history.store_run(signoff.measurements(), facts, history_dir,
                          outcome=run_outcome(signoff, tags, feature_paths))
    attach_decisions(signoff, results_dir, history_dir)
    return signoff, write_signoff(signoff, out_dir)


# ---------------------------------------------------------------------------------------------
# Decisions: the log, the rules and the digest are in ``decisions``; here they meet the sign-off.


def attach_decisions(signoff: Signoff, results_dir: Path = RESULTS_DIR,
                     history_dir: Path = history.HISTORY_DIR) -> Signoff:
    """Fill in the sign-off block: this run's latest decision, whether it still matches the
    results under ``results_dir``, its waivers on their items, and earlier decisions on the commit."""
    try:
        log = decisions.load_log(history_dir)
    except OSError as error:
        log = decisions.Log([], [f"the sign-off log cannot be read: {error}"])
    signoff.log_problems = log.problems
    signoff.decision = log.latest_for(signoff.run_id) if signoff.run_id else None
    commit = str(signoff.run.get("suite_commit") or "")
    signoff.earlier_decisions = log.on_commit(commit, but=signoff.decision) if commit else []
    d = signoff.decision
    waived = d.waivers if d and d.approved else {}
    for item in signoff.items:
        item.waiver = waived.get(item.id)
    if d:
        items = [i.to_dict() for i in signoff.items]
        signoff.decision_mismatch = decisions.mismatch(d, decisions.digest(results_dir, items),
                                                       {i.id: i.status for i in signoff.items})
    return signoff


def _run_on_disk(facts_path: Path, results_dir: Path) -> tuple[dict, str]:
    """The facts and id of the run whose results are on disk; one-line errors when there is none."""
    facts = load_facts(facts_path)
    if not facts.get("started_at"):
        raise SuiteError(f"no run facts at {facts_path}", "run the suite first (make acceptance)")
    if not any(results_dir.glob("*-result.json")):
        raise SuiteError(f"no results under {results_dir}", "run the suite first (make acceptance)")
    return facts, history.run_id(facts)


def _require_run(run: str | None, current: str, log: decisions.Log, results_dir: Path,
                 history_dir: Path) -> None:
    """``--run`` must name the run whose results are on disk (the latest); one line otherwise."""
    if run is None or run == current:
        return
    known = set(log.run_ids()) | {r.get("run_id") for r in history.load_runs(history_dir)}
    if run in known:
        raise SuiteError(f"the results of run {run} are no longer on disk "
                         f"({results_dir} holds run {current})",
                         "decide on the run on disk (omit --run), or keep each release's reports/ to "
                         "check its decision later")
    raise SuiteError(f"no run {run!r}", f"omit --run for the latest run ({current}), or name a run "
                     f"from {history.runs_dir(history_dir)} or the sign-off's header")


def record_decision(by: str, role: str, decision: str, waive: Sequence[str] = (), note: str = "",
                    run: str | None = None, *, tags: Sequence[str] = (),
                    feature_paths: Sequence[str | Path] = (), results_dir: Path = RESULTS_DIR,
                    out_dir: Path = REPORTS_DIR, facts_path: Path = RUN_FACTS,
                    history_dir: Path = history.HISTORY_DIR) -> tuple[decisions.Decision, list[Path]]:
    """Append one decision on the run on disk to the sign-off log and rewrite the sign-off files.

    Refused with a ``SuiteError`` (one line, nothing written) when the run is unknown or not on
    disk, ``--by``/``--role`` are empty, a waiver is malformed, or the rules forbid the decision.
    """
    facts, current = _run_on_disk(facts_path, results_dir)
    log = decisions.load_log(history_dir)
    _require_run(run, current, log, results_dir, history_dir)
    if log.problems:
        raise SuiteError(f"the sign-off log is damaged: {log.problems[0]}",
                         f"restore {decisions.log_path(history_dir)} from its archive (the tool never "
                         "rewrites a line)")
    by = decisions.require_text(by, "--by", "'Ada Lovelace'")
    role = decisions.require_text(role, "--role", "'QA lead'")
    signoff = build_from_disk(results_dir, tags, feature_paths, facts, history_dir)
    items = [i.to_dict() for i in signoff.items]
    waivers = decisions.parse_waivers(waive, [i.id for i in signoff.items])
    decisions.check_decision(decision, note, waivers, items, current)
    entry = decisions.Decision(
        run_id=current, suite_commit=str(facts.get("suite_commit") or "?"),
        target=decisions.target_of(facts), by=by, role=role, decision=decision, note=note.strip(),
        waivers=waivers, digest=decisions.digest(results_dir, items).to_dict(),
        item_statuses={i.id: i.status for i in signoff.items},
        recorded_at=datetime.now(UTC).isoformat(timespec="seconds"))
    decisions.append(entry, history_dir)
    attach_decisions(signoff, results_dir, history_dir)
    return entry, write_signoff(signoff, out_dir)


@dataclass
class Verdict:
    ok: bool  # the latest decision on the run is an approval that matches the results on disk
    line: str
    decision: decisions.Decision | None = None


def verify_decision(run: str | None = None, *, results_dir: Path = RESULTS_DIR, out_dir: Path = REPORTS_DIR,
                    facts_path: Path = RUN_FACTS, history_dir: Path = history.HISTORY_DIR) -> Verdict:
    """Recompute the digest of the run on disk (its result files and signoff.json's items) and
    compare it with the latest decision recorded for the run."""
    facts, current = _run_on_disk(facts_path, results_dir)
    log = decisions.load_log(history_dir)
    _require_run(run, current, log, results_dir, history_dir)
    if log.problems:
        return Verdict(False, f"verify: FAILED — the sign-off log is damaged: {log.problems[0]}")
    d = log.latest_for(current)
    if d is None:
        return Verdict(False, f"verify: FAILED — no decision recorded for run {current} "
                              f"(record one: {decisions.RECORD_HINT})")
    items, unreadable = [], ""
    try:
        data = json.loads((out_dir / SIGNOFF_FILES[0]).read_text())
        items = list(data["items"])
        if history.run_id(data["run"]) != current:
            unreadable = f"{SIGNOFF_FILES[0]} is the sign-off of run {history.run_id(data['run'])}"
    except (OSError, ValueError, KeyError, TypeError):
        unreadable = f"{SIGNOFF_FILES[0]} is missing or unreadable"
    now = decisions.digest(results_dir, items)
    why = unreadable or decisions.mismatch(d, now, {i.get("id"): i.get("status") for i in items})
    what = "the approval" if d.approved else "the rejection"
    when = f"{what} by {d.who()} at {d.recorded_at} (log line {d.line})"
    if why:
        return Verdict(False, f"verify: FAILED — run {current}: {when} does not match the results on "
                              f"disk: {why} (sha256 recorded {decisions.short(d.digest.get('value', ''))}, "
                              f"now {decisions.short(now.value)})", d)
    if not d.approved:
        return Verdict(False, f"verify: FAILED — run {current} was rejected by {d.who()} at {d.recorded_at}: "
                              f"{d.note}", d)
    return Verdict(True, f"verify: OK — run {current} (commit {d.suite_commit}, {d.target_text}): {when} "
                         f"with {len(d.waivers)} waiver(s) matches the results on disk "
                         f"(sha256 {decisions.short(now.value)})", d)


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


# ---------------------------------------------------------------------------------------------
# Rendering: Jinja templates in reporting/templates/. HTML is autoescaped (select_autoescape on
# ``*.html.j2``); Markdown has no escaping of its own, so every cell goes through the ``md`` filter.


def fmt(value: float | None, unit: str = "") -> str:
    """A figure for a table cell: 4 significant digits (no exponent) and its unit, or a dash."""
    if value is None:
        return "—"
    return f"{value:.0f} {unit}".strip() if abs(value) >= 1000 else f"{value:.4g} {unit}".strip()


def num(value: float, digits: int | None = None) -> str:
    """A plain number (``%g``), or with ``digits`` significant digits."""
    return f"{value:g}" if digits is None else f"{value:.{digits}g}"


MD_CODE_SPAN = re.compile(r"(`+).+?\1")


def md_escape(text) -> str:
    """Text safe inside a Markdown table cell: ``|`` cannot end the cell, ``<`` cannot open HTML.

    Outside code spans, backslashes are doubled first (so the escapes added here are the only
    ones), then ``|`` and ``<`` are escaped; inside a code span, where nothing is an escape and
    ``<`` is text already, only ``|`` is (GitHub's tables split cells there too). A line break
    would end the table row, so it becomes a space.
    """
    text = re.sub(r"\s*\n\s*", " ", "" if text is None else str(text))
    out, done = [], 0
    for span in MD_CODE_SPAN.finditer(text):
        out += [_md_escape_plain(text[done:span.start()]), span.group().replace("|", "\\|")]
        done = span.end()
    return "".join([*out, _md_escape_plain(text[done:])])


def _md_escape_plain(text: str) -> str:
    for raw, escaped in (("\\", "\\\\"), ("|", "\\|"), ("<", "\\<")):
        text = text.replace(raw, escaped)
    return text


def baseline_text(fig: Figure) -> str:
    cmp = fig.comparison or {}
    if cmp.get("baseline") is None:
        return "no baseline"
    pct = f" ({cmp['change_pct']:+.1f} %)" if cmp.get("change_pct") is not None else ""
    return f"{cmp['baseline']:g} {fig.measurement.unit}{pct}: {cmp['verdict']}"


def run_rows(signoff: Signoff) -> list[tuple[str, str]]:
    run = signoff.run
    duration = run.get("duration_s", run.get("scenarios_duration_s"))
    return [("Run id", signoff.run_id or "?"),
            ("Mode", str(run.get("mode", "?"))), ("Target", str(run.get("target", "?"))),
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
            ("Cleanup", cleanup_text(run.get("cleanup"), run.get("mode"))),
            ("Generated", signoff.generated_at)]


def cleanup_text(cleanup: dict | None, mode: str | None) -> str:
    """What the run's cleanup did (external mode), or what it left where when it failed."""
    if mode != "external":
        return "the run's own servers and databases were thrown away"
    if not cleanup:
        return "not reported (the run stopped before cleaning up?)"
    if cleanup.get("problems"):
        left = ", ".join(f"{where}: {n}" for where, n in (cleanup.get("left") or {}).items()) or "not counted"
        return f"FAILED: {'; '.join(cleanup['problems'])} — left behind: {left}"
    removed = ", ".join(f"{n} {table}" for table, n in (cleanup.get("removed") or {}).items())
    return f"test data removed ({removed or 'nothing to remove'}); Redis databases 13-15 flushed"


def by_section(signoff: Signoff) -> list[tuple[str, list[ItemSignoff]]]:
    """The items under their checklist sections, in checklist order."""
    return [(section, [i for i in signoff.items if i.section == section]) for section in checklist.sections()]


@dataclass
class ChartBar:
    stat: str  # p50, p95, p99, max
    value: float
    y: float
    width: float
    color: str


@dataclass
class ChartMark:
    label: str  # "target" or "line" (the regression line, drawn dashed)
    value: float
    x: float
    dashed: bool


@dataclass
class ChartRow:
    figure: Figure
    label: str  # the figure's name, shortened to fit the label column
    count: int | str
    top: float
    bars: list[ChartBar]
    marks: list[ChartMark]


@dataclass
class LatencyChart:
    """Geometry of the latency chart (pixels): computed here, drawn by ``chart.html.j2``."""

    rows: list[ChartRow]
    label_w: int = 300
    bar_w: int = 520
    row_h: int = 74
    pad: int = 20

    @property
    def width(self) -> int:
        return self.label_w + self.bar_w + 140

    @property
    def height(self) -> int:
        return self.pad + self.row_h * len(self.rows) + 24


CHART_COLORS = {"p50": "#90caf9", "p95": "#42a5f5", "p99": "#1e88e5", "max": "#0d47a1"}
CHART_LABEL_CHARS = 44


def chart_geometry(figures: Sequence[Figure]) -> LatencyChart:
    """Per figure with a distribution: bars for p50/p95/p99/max on its own scale, target and line marks.

    Only distributions of at least ``CHART_MIN_SAMPLES`` samples are drawn: one sample has no
    spread to show, and its value is in the item's evidence and the evidence table already.
    """
    chart = LatencyChart([])
    drawn = [f for f in figures if f.measurement.distribution
             and (f.measurement.distribution.get("count") or 0) >= CHART_MIN_SAMPLES]
    for n, fig in enumerate(drawn):
        m, d = fig.measurement, fig.measurement.distribution or {}
        top = chart.pad + n * chart.row_h
        lines = [v for v in (m.target, m.regression_line) if v]
        scale_max = max([d.get("max", 0), m.value, *lines]) * 1.1 or 1.0

        def x(v: float, _m: float = scale_max) -> float:
            return chart.label_w + chart.bar_w * (v / _m)

        bars = [ChartBar(stat, d[stat], top + 2 + k * 13, max(1.0, x(d[stat]) - chart.label_w), color)
                for k, (stat, color) in enumerate(CHART_COLORS.items()) if d.get(stat) is not None]
        marks = [ChartMark(label, v, x(v), dashed) for v, label, dashed in
                 ((m.target, "target", False), (m.regression_line, "line", True)) if v]
        label = m.name if len(m.name) <= CHART_LABEL_CHARS else m.name[:CHART_LABEL_CHARS - 1] + "…"
        chart.rows.append(ChartRow(fig, label, d.get("count", "?"), top, bars, marks))
    return chart


@functools.cache
def templates() -> Environment:
    """The Jinja environment of the sign-off templates (autoescaping for ``*.html.j2``)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR),
                      autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters.update(md=md_escape, fmt=fmt, num=num)
    env.globals.update(baseline_text=baseline_text, FAILED=FAILED, short=decisions.short,
                       RECORD_HINT=decisions.RECORD_HINT)
    return env


def _context(signoff: Signoff) -> dict:
    return {"signoff": signoff, "facts": run_rows(signoff), "sections": by_section(signoff),
            "items_by_id": {i.id: i for i in signoff.items},
            "chart": chart_geometry([row.figure for row in signoff.evidence_rows])}


def render_markdown(signoff: Signoff) -> str:
    return templates().get_template("signoff.md.j2").render(_context(signoff))


def render_html(signoff: Signoff) -> str:
    """The self-contained page: inline CSS and SVG, no JavaScript, no external resource."""
    return templates().get_template("signoff.html.j2").render(_context(signoff))


def latency_chart(figures: Sequence[Figure]) -> str:
    """The chart of ``figures`` as inline SVG (or a one-line note when none has a distribution)."""
    return str(templates().get_template("chart.html.j2").module.latency_chart(chart_geometry(figures)))
