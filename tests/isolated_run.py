"""Run the suite into a results directory of one's own (for the project's own tests).

``python -m tickstock_acceptance run`` always writes ``reports/allure-results`` (behave.ini), which
a person's last run owns. The project's tests run behave from an empty working directory instead
(so behave.ini's outputs are not picked up) with the same formatter pointed at a private results
directory; behave still finds ``steps/`` and ``environment.py`` by walking up from the feature
files. Embedded servers are started and stopped by the run as usual.

Scenarios are named by their stable key (the ``@scenario:<key>`` tag), never by their title, so
renaming a scenario cannot silently change what a test expects. A result or a scenario without a
key, or two carrying the same key, is an error.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tickstock_acceptance.config.paths import ROOT
from tickstock_acceptance.infra.embedded import OWNER_FILE, RUN_DIR_PREFIX
from tickstock_acceptance.reporting.results import SCENARIO_TAG_PREFIX, ScenarioResult, load_results

FORMATTER = "tickstock_acceptance.reporting.allure_formatter:ChecklistAllureFormatter"
CHECKLIST_TAG_PREFIX = "checklist:"
CHECKLIST_ID = re.compile(r"[A-Z]+-\d+")
ISOLATED_ENV_PREFIXES = ("TEST_DB_", "TEST_REDIS_", "TICKSTOCK_", "MASSIVE_")


class ScenarioKeyError(AssertionError):
    """A scenario or a result without a usable ``@scenario:<key>`` tag."""


def results_by_key(results: Iterable[ScenarioResult]) -> dict[str, ScenarioResult]:
    """Results keyed by scenario key; loud when one has no key or a key is carried twice."""
    results = list(results)
    keyless = [r.name for r in results if not r.key]
    if keyless:
        raise ScenarioKeyError(f"{len(keyless)} result(s) carry no @{SCENARIO_TAG_PREFIX}<key> tag: "
                               + "; ".join(repr(n) for n in keyless))
    found: dict[str, ScenarioResult] = {}
    for r in results:
        if r.key in found:
            raise ScenarioKeyError(f"scenario key {r.key!r} is carried by two results: "
                                   f"{found[r.key].name!r} and {r.name!r}")
        found[r.key] = r
    return found


def describe(results: Iterable[ScenarioResult]) -> str:
    """One line per result: key, status and (for a failure) its message."""
    return "\n".join(f"  {r.key or '<no key: ' + r.name + '>'}: {r.status}"
                     + (f" — {r.message}" if r.message and r.status != "passed" else "")
                     for r in sorted(results, key=lambda r: r.key or ""))


@dataclass
class IsolatedRun:
    returncode: int
    results: list[ScenarioResult]
    output: str
    leftovers: list[str]  # run directories of this run still present after it ended (should be [])

    def by_key(self) -> dict[str, ScenarioResult]:
        return results_by_key(self.results)

    def statuses(self) -> dict[str, str]:
        """Scenario key -> Allure status."""
        return {key: r.status for key, r in self.by_key().items()}

    def failed(self) -> set[str]:
        return {key for key, r in self.by_key().items() if r.status in ("failed", "broken")}

    def passed(self) -> set[str]:
        return {key for key, r in self.by_key().items() if r.status == "passed"}

    def describe(self) -> str:
        return describe(self.results)


OPTIONAL_TAG = "optional"  # a scenario that may be skipped with a reason (e.g. no API key)
# Every feature file of the suite, as paths relative to the repository root.
ALL_FEATURES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "features").glob("*.feature"))


def scenario_index(features: list[str], tags: str | None = None) -> dict[str, frozenset[str]]:
    """Scenario key -> its tags (without '@'), read from the feature files themselves (not from a
    run), so a test knows which scenarios a run must report; with ``tags`` (a behave tag
    expression, as ``run_isolated`` passes it) only the scenarios it selects. Loud on a scenario
    without a key or a key used twice."""
    from behave.parser import parse_file
    from cucumber_tag_expressions import parse as parse_tags

    selects = parse_tags(tags).evaluate if tags else (lambda _tags: True)
    index: dict[str, frozenset[str]] = {}
    keyless = []
    for feature_path in features:
        feature = parse_file(str((ROOT / feature_path).resolve()))
        for scenario in feature.walk_scenarios():
            tags_of = frozenset(scenario.effective_tags)
            if not selects(["@" + t for t in tags_of]):
                continue
            keys = sorted(t[len(SCENARIO_TAG_PREFIX):] for t in tags_of if t.startswith(SCENARIO_TAG_PREFIX))
            if len(keys) != 1:
                keyless.append(f"{feature_path}: {scenario.name!r} has {len(keys)} scenario keys")
                continue
            if keys[0] in index:
                raise ScenarioKeyError(f"scenario key {keys[0]!r} is used twice ({feature_path})")
            index[keys[0]] = tags_of
    if keyless:
        raise ScenarioKeyError("every scenario needs exactly one @scenario:<key> tag: " + "; ".join(keyless))
    return index


CLUSTER_ONLY_TAG = "use.with_redis=cluster"


def optional_keys(index: dict[str, frozenset[str]]) -> set[str]:
    """Scenarios that may be skipped (with a reason), never silently pass: those tagged @optional, and
    those written for a Redis Cluster (these runs use one Redis server; test_redis_cluster runs them)."""
    return {key for key, tags in index.items() if OPTIONAL_TAG in tags or CLUSTER_ONLY_TAG in tags}


def resolve(expected: Iterable[str], index: dict[str, frozenset[str]]) -> set[str]:
    """Scenario keys meant by ``expected``: scenario keys as they are, and a checklist ID (``ETF-3``)
    for every scenario of that item. Unknown keys and IDs without a scenario are errors."""
    keys: set[str] = set()
    for name in expected:
        if CHECKLIST_ID.fullmatch(name):
            of_item = {k for k, tags in index.items() if CHECKLIST_TAG_PREFIX + name in tags}
            if not of_item:
                raise ScenarioKeyError(f"no scenario carries @checklist:{name}")
            keys |= of_item
        elif name in index:
            keys.add(name)
        else:
            raise ScenarioKeyError(f"no scenario has the key {name!r} (known: {', '.join(sorted(index))})")
    return keys


def run_isolated(features: list[str], results_dir: Path, userdata: dict[str, str] | None = None,
                 timeout_s: float = 300, tags: str | None = None) -> IsolatedRun:
    """One behave run of ``features`` (with ``tags``: the scenarios that tag expression selects)
    writing Allure results to ``results_dir``; its working directory is a fresh, empty sibling of
    ``results_dir`` (give a directory under ``tmp_path``)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    cwd = results_dir.parent / f"{results_dir.name}-cwd"
    cwd.mkdir()
    text_out = results_dir / "behave-output.txt"
    cmd = [sys.executable, "-m", "behave", "--no-color", "-f", "plain", "-o", str(text_out),
           "-f", FORMATTER, "-o", str(results_dir)]
    for key, value in (userdata or {}).items():
        cmd += ["-D", f"{key}={value}"]
    if tags:
        cmd += ["--tags", tags]
    cmd += [str((ROOT / f).resolve()) for f in features]
    # No person's TEST_* target, TICKSTOCK_* setting (e.g. a timeout multiplier) or market-data
    # API key (MASSIVE_*: no test calls a real external API) leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(ISOLATED_ENV_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    timed_out = ""
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = f"\nTIMEOUT: the run did not finish within {timeout_s} s and was terminated\n"
        proc.terminate()  # the run stops its own servers on SIGTERM
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    output = out + err + (text_out.read_text() if text_out.exists() else "") + timed_out
    return IsolatedRun(proc.returncode, load_results(results_dir), output, owned_run_dirs(proc.pid))


def owned_run_dirs(pid: int) -> list[str]:
    """Run directories (servers' homes) whose owner is ``pid``; a finished run leaves none."""
    found = []
    for owner in glob.glob(os.path.join(tempfile.gettempdir(), RUN_DIR_PREFIX + "*", OWNER_FILE)):
        try:
            if int(Path(owner).read_text().strip()) == pid:
                found.append(str(Path(owner).parent))
        except (OSError, ValueError):
            continue
    return found
