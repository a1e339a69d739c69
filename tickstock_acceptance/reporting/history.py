"""Performance history: every run's figures, the accepted baseline, and noise-aware comparison.

Layout under ``reports/history/``:

- ``runs/<run id>.json``  one file per run: the run's facts, its outcome (selection, checklist
  item and scenario counts) and its figures (each a ``Measurement`` as the evidence attachment
  holds it: value, unit, target, regression line, distribution...), keyed
  ``"<item ID> · <scenario name> · <evidence name>"`` (the scenario is part of the key because
  several scenarios of one item may attach evidence of the same name);
- ``baseline.json``       the accepted baseline, written only by
  ``python -m tickstock_acceptance baseline accept`` (never by a run), which refuses a run with
  failed items or a partial selection unless told ``--even-if-incomplete``;
- ``allure-history.jsonl`` Allure 3's own history (``historyPath`` in ``allurerc.mjs``) for trends.

A change against the baseline is judged against run-to-run noise estimated from repeated samples,
never from one number: the spread of the last runs' values (median ± ``BASELINE_SIGMAS`` robust
standard deviations, from the median absolute deviation) once there are enough earlier runs,
otherwise the spread of the samples inside the run (p50 → p95 of the baseline's and this run's
distributions); the thresholds are in ``config/measurement.py`` ("Baseline comparison"). A single figure
without a distribution and without history is "not judged". A rise is worse, except for figures
where higher is better (``higher_is_better``: throughput, and "at least" targets). Changes are
warnings, never failures: failing is the job of the targets and regression lines.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tickstock_acceptance.config.measurement import (
    BASELINE_MIN_RUNS,
    BASELINE_MIN_SAMPLES,
    BASELINE_RELATIVE_FLOOR,
    BASELINE_SIGMAS,
    BASELINE_WINDOW,
)
from tickstock_acceptance.config.paths import REPORTS_DIR
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.reporting.evidence import Measurement

HISTORY_DIR = REPORTS_DIR / "history"
ALLURE_HISTORY = HISTORY_DIR / "allure-history.jsonl"  # also in allurerc.mjs (historyPath)
# The judgement's thresholds live in config/measurement.py ("Baseline comparison"); this is arithmetic only.
MAD_TO_SIGMA = 1.4826  # median absolute deviation → standard deviation (normal data)


def figure_key(item_id: str, scenario: str, evidence_name: str) -> str:
    return f"{item_id} · {scenario} · {evidence_name}"


def runs_dir(history_dir: Path = HISTORY_DIR) -> Path:
    return history_dir / "runs"


def baseline_path(history_dir: Path = HISTORY_DIR) -> Path:
    return history_dir / "baseline.json"


def run_id(facts: dict) -> str:
    """A file-name-safe id for a run: its start time (and commit) from the run facts."""
    started = facts.get("started_at") or datetime.now(UTC).isoformat(timespec="seconds")
    raw = f"{started}_{facts.get('suite_commit', 'nocommit')}"
    return re.sub(r"[^0-9A-Za-z._-]+", "-", raw)


def store_run(figures: Mapping[str, Measurement], facts: dict, history_dir: Path = HISTORY_DIR,
              outcome: dict | None = None) -> Path:
    """Write this run's figures (keyed by ``figure_key``) to ``runs/<run id>.json``.

    The same run stored twice overwrites its file.

    ``outcome`` is what a baseline must know about the run (see ``run_outcome``): its selection
    and how its checklist items and scenarios ended.
    """
    directory = runs_dir(history_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_id(facts)}.json"
    stored = {key: m.to_dict() for key, m in figures.items()}
    path.write_text(json.dumps({"run_id": run_id(facts), "facts": facts, "outcome": outcome,
                                "figures": stored}, indent=2, sort_keys=True))
    return path


def run_outcome(tags, features, complete: bool, item_counts: dict[str, int],
                scenario_results: dict[str, int]) -> dict:
    """A run's outcome as stored with its figures: selection, item statuses, scenario statuses."""
    return {"selection": {"tags": list(tags), "features": [str(f) for f in features],
                          "complete": bool(complete)},
            "item_counts": dict(item_counts), "scenario_results": dict(scenario_results)}


def incomplete_reasons(run: dict) -> list[str]:
    """Why a stored run is no baseline: failed items or scenarios, a partial selection ([] if none)."""
    outcome = run.get("outcome")
    if not outcome:
        return ["its outcome was not recorded (stored before outcomes were kept)"]
    reasons = []
    failed_items = (outcome.get("item_counts") or {}).get("failed", 0)
    if failed_items:
        reasons.append(f"{failed_items} checklist item(s) failed")
    scenarios = outcome.get("scenario_results") or {}
    failed_scenarios = scenarios.get("failed", 0) + scenarios.get("broken", 0)
    if failed_scenarios:
        reasons.append(f"{failed_scenarios} scenario(s) failed or broke")
    selection = outcome.get("selection") or {}
    if not selection.get("complete", False):
        chosen = " ".join([*(f"--tags {t}" for t in selection.get("tags", [])),
                           *selection.get("features", [])])
        reasons.append(f"it ran a partial selection ({chosen or 'not every scenario'})")
    return reasons


def load_runs(history_dir: Path = HISTORY_DIR) -> list[dict]:
    """Stored runs, oldest first (run ids start with the ISO start time, so names sort by time)."""
    directory = runs_dir(history_dir)
    if not directory.is_dir():
        return []
    runs = []
    for path in sorted(directory.glob("*.json")):
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue  # a half-written file of an interrupted run is not history
    return runs


def load_baseline(history_dir: Path = HISTORY_DIR) -> dict | None:
    path = baseline_path(history_dir)
    return json.loads(path.read_text()) if path.exists() else None


def accept_baseline(history_dir: Path = HISTORY_DIR, run: str | None = None, accepted_by: str = "",
                    note: str = "", even_if_incomplete: bool = False) -> dict:
    """Make a stored run (default: the latest) the accepted baseline; returns the baseline.

    A run with failed items or scenarios, or one that ran only part of the suite (``--tags``,
    feature paths), is refused with a ``SuiteError`` unless ``even_if_incomplete`` is given; the
    baseline then records why it was incomplete.
    """
    runs = load_runs(history_dir)
    if not runs:
        raise LookupError(f"no stored runs under {runs_dir(history_dir)}; run the suite first")
    chosen = runs[-1] if run is None else next((r for r in runs if r["run_id"] == run), None)
    if chosen is None:
        raise LookupError(f"no stored run {run!r}; known: {', '.join(r['run_id'] for r in runs[-5:])}")
    reasons = incomplete_reasons(chosen)
    if reasons and not even_if_incomplete:
        raise SuiteError(f"run {chosen['run_id']} is not accepted as the baseline: {'; '.join(reasons)}",
                         "accept a complete run whose items all passed (--run <id>), "
                         "or add --even-if-incomplete if this run is meant")
    baseline = {"accepted_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "accepted_by": accepted_by, "note": note, "run_id": chosen["run_id"],
                "facts": chosen.get("facts", {}), "outcome": chosen.get("outcome"),
                "accepted_incomplete": reasons, "figures": chosen.get("figures", {})}
    baseline_path(history_dir).write_text(json.dumps(baseline, indent=2, sort_keys=True))
    return baseline


@dataclass
class Comparison:
    """One figure of this run next to its baseline, with the noise band the change is judged by."""

    key: str
    value: float
    unit: str
    baseline: float | None = None
    change: float | None = None
    change_pct: float | None = None
    noise: float | None = None
    noise_basis: str = ""
    verdict: str = "no baseline"  # no baseline | within noise | worse | better | not judged
    warning: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _spread_of_runs(values: list[float]) -> float:
    """3 robust standard deviations of earlier runs' values (MAD based, so one outlier is ignored)."""
    middle = statistics.median(values)
    mad = statistics.median(abs(v - middle) for v in values)
    return BASELINE_SIGMAS * MAD_TO_SIGMA * mad


def _spread_of_samples(*distributions: dict | None) -> float | None:
    """The widest p50 → p95 spread of the given distributions, if they hold enough samples."""
    spreads = [d["p95"] - d["p50"] for d in distributions
               if d and d.get("count", 0) >= BASELINE_MIN_SAMPLES and "p95" in d and "p50" in d]
    return max(spreads) if spreads else None


def noise_band(current: Measurement, baseline: Measurement,
               earlier_values: list[float]) -> tuple[float | None, str]:
    """How far a figure may move between runs by chance, and what that estimate is based on."""
    recent = earlier_values[-BASELINE_WINDOW:]
    if len(recent) >= BASELINE_MIN_RUNS:
        band, basis = _spread_of_runs(recent), f"spread of the last {len(recent)} runs"
    else:
        band = _spread_of_samples(baseline.distribution, current.distribution)
        if band is None:
            return None, f"one sample and fewer than {BASELINE_MIN_RUNS} earlier runs"
        counts = [d.get("count") for d in (baseline.distribution, current.distribution) if d]
        basis = "p50→p95 spread of " + " and ".join(str(c) for c in counts) + " samples"
    floor = BASELINE_RELATIVE_FLOOR * max(abs(baseline.value), abs(current.target or 0.0))
    return max(band, floor), basis


def compare(figures: Mapping[str, Measurement], baseline: dict | None,
            earlier_runs: list[dict]) -> dict[str, Comparison]:
    """Compare each figure with the accepted baseline; flag changes beyond the noise as warnings.

    ``figures`` are this run's, keyed by ``figure_key``; ``baseline`` and ``earlier_runs`` are
    stored runs as ``load_baseline`` and ``load_runs`` return them.
    """
    out: dict[str, Comparison] = {}
    base_figures = (baseline or {}).get("figures", {})
    for key, fig in figures.items():
        cmp = Comparison(key, fig.value, fig.unit)
        out[key] = cmp
        if key not in base_figures:
            continue
        base = Measurement.from_dict(base_figures[key], name=key)
        cmp.baseline = base.value
        cmp.change = fig.value - base.value
        cmp.change_pct = (100.0 * cmp.change / base.value) if base.value else None
        earlier = [r["figures"][key]["value"] for r in earlier_runs if key in r.get("figures", {})]
        cmp.noise, cmp.noise_basis = noise_band(fig, base, earlier)
        if cmp.noise is None:
            cmp.verdict = "not judged"
            continue
        if abs(cmp.change) <= cmp.noise:
            cmp.verdict = "within noise"
            continue
        cmp.verdict = "better" if (cmp.change > 0) == fig.higher_is_better else "worse"
        pct = f" ({cmp.change_pct:+.0f} %)" if cmp.change_pct is not None else ""
        cmp.warning = (f"{key}: {fig.value:g} {cmp.unit} vs baseline {base.value:g} {cmp.unit}"
                       f"{pct}, {cmp.verdict} beyond the noise band ±{cmp.noise:.3g} {cmp.unit} "
                       f"({cmp.noise_basis})")
    return out
