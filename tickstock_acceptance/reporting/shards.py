"""CI shards: which features a shard runs (``run --shard K/N``), and how shards' results become one
run again (``merge``).

**Selection.** The feature files (every ``features/*.feature`` unless the command names some) are
sorted by path and dealt out in turn: file ``i`` (from 0) goes to shard ``i mod N + 1``. The same
files and the same N always give the same shards, on any machine, so a CI matrix of N jobs runs
every feature exactly once. The environment validation feature is the run's gate: every shard runs
it first (as every subset run does) and it is not dealt out.

**Merging.** ``merge`` takes each shard's reports directory (the one holding ``allure-results/``
and ``run-facts.json``) or its ``allure-results/`` itself, and writes one results folder: every
attachment and container is copied; a scenario that ran in several shards (the environment gate)
is kept once, with its worst status (failed, then broken, then skipped, then passed), so a gate
that failed anywhere fails the merged run. The merged run's facts are the first shard's, started
at the earliest shard's start, with each shard's facts listed under ``shards``. The sign-off and
the coverage gate then judge the merged whole like one run of every feature.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tickstock_acceptance.core.errors import SuiteError

ENVIRONMENT_FEATURE = "features/00_environment_validation.feature"
RESULTS_SUBDIR = "allure-results"
FACTS_FILE = "run-facts.json"
SELECTION_FILE = "run-selection.json"
# worst first: the merged status of a scenario that ran in several shards
STATUS_ORDER = ("failed", "broken", "unknown", "skipped", "passed")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"K/N"`` with 1 <= K <= N; a one-line SuiteError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise SuiteError(f"--shard must look like K/N (e.g. 1/2), got {text!r}",
                         "K is this job's shard, N the number of shards")
    index, count = int(m[1]), int(m[2])
    if count < 1 or not 1 <= index <= count:
        raise SuiteError(f"--shard {text}: K must be between 1 and N (N at least 1)",
                         "e.g. --shard 1/2 and --shard 2/2 in two CI jobs")
    return Shard(index, count)


def shard_features(shard: Shard, features: list[str]) -> list[str]:
    """The features of ``shard`` among ``features`` (the gate left out: every run adds it)."""
    dealt = sorted(f for f in features if Path(f).name != Path(ENVIRONMENT_FEATURE).name)
    return [f for i, f in enumerate(dealt) if i % shard.count == shard.index - 1]


def all_features(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in (root / "features").glob("*.feature"))


# -- merging ----------------------------------------------------------------------------------------
@dataclass
class MergeReport:
    sources: list[Path] = field(default_factory=list)
    results: int = 0        # scenario results kept
    duplicates: int = 0     # results of a scenario already kept from another shard (the gate)
    facts: dict = field(default_factory=dict)


def results_dir_of(source: Path) -> Path:
    """A shard's results folder: ``source/allure-results`` when it is a reports directory."""
    inner = source / RESULTS_SUBDIR
    folder = inner if inner.is_dir() else source
    if not folder.is_dir() or not any(folder.glob("*-result.json")):
        raise SuiteError(f"no Allure results under {source}",
                         "name each shard's reports directory (the one holding allure-results/)")
    return folder


def _key(data: dict) -> str:
    return str(data.get("testCaseId") or data.get("historyId") or data.get("fullName") or data.get("name"))


def _rank(status: str | None) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else STATUS_ORDER.index("unknown")


def merge_results(sources: list[Path], into: Path) -> MergeReport:
    """Write the shards' results into ``into`` (emptied first); see the module docstring."""
    folders = [results_dir_of(Path(s)) for s in sources]
    if any(f.resolve() == into.resolve() for f in folders):
        raise SuiteError(f"{into} is both a shard and the merged results folder",
                         "copy the shards' reports elsewhere first (e.g. shards/1, shards/2)")
    report = MergeReport(sources=[Path(s) for s in sources])
    kept: dict[str, tuple[int, Path, dict]] = {}
    for folder in folders:
        for path in sorted(folder.glob("*-result.json")):
            data = json.loads(path.read_text())
            key, rank = _key(data), _rank(data.get("status"))
            if key in kept:
                report.duplicates += 1
                if rank >= kept[key][0]:
                    continue
            kept[key] = (rank, path, data)
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    for folder in folders:
        for path in folder.iterdir():
            if path.is_file() and not path.name.endswith("-result.json"):
                shutil.copy2(path, into / path.name)
    for _status_rank, path, _data in kept.values():
        shutil.copy2(path, into / path.name)
    report.results = len(kept)
    report.facts = merge_facts([_facts_of(Path(s)) for s in sources])
    return report


def _facts_of(source: Path) -> dict:
    return _json_beside(source, FACTS_FILE) or {}


def _json_beside(source: Path, name: str):
    """``name`` in a shard's reports directory (``source``, or the parent of its results folder)."""
    for candidate in (source / name, source.parent / name):
        try:
            return json.loads(candidate.read_text())
        except (OSError, json.JSONDecodeError):
            continue
    return None


def merged_selection(sources: list[Path], every_feature: list[str]) -> dict:
    """The merged run's selection from the shards' ``run-selection.json``: their tags when they all
    ran the same, and the union of their features (all of them: no feature list)."""
    selections = [_json_beside(Path(s), SELECTION_FILE) or {} for s in sources]
    tags = {tuple(sel.get("tags") or ()) for sel in selections}
    if len(tags) > 1:
        raise SuiteError("the shards ran different --tags: they are not one run",
                         "run every shard with the same --tags")
    features = set()
    for sel in selections:
        features |= set(sel.get("features") or every_feature)
    return {"tags": list(next(iter(tags), ())),
            "features": [] if features >= set(every_feature) else sorted(features)}


def merge_facts(facts: list[dict]) -> dict:
    """One run's facts from the shards': the first shard's, the earliest start, each shard listed."""
    known = [f for f in facts if f]
    if not known:
        return {"note": "no shard carried run facts (run-facts.json)"}
    merged = dict(known[0])
    starts = [f["started_at"] for f in known if f.get("started_at")]
    if starts:
        merged["started_at"] = min(starts)
    merged["shards"] = [{k: f.get(k) for k in ("started_at", "suite_commit", "mode", "shard", "duration_s")}
                        for f in facts]
    commits = {f.get("suite_commit") for f in known}
    if len(commits) > 1:
        raise SuiteError(f"the shards ran different suite commits ({', '.join(sorted(map(str, commits)))}): "
                         f"they are not one release's run", "run every shard on the same commit")
    return merged
