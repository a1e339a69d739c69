"""Run the suite into a results directory of one's own (for the project's own tests).

``python -m tickstock_acceptance run`` always writes ``reports/allure-results`` (behave.ini), which
a person's last run owns. The project's tests run behave from an empty working directory instead
(so behave.ini's outputs are not picked up) with the same formatter pointed at a private results
directory; behave still finds ``steps/`` and ``environment.py`` by walking up from the feature
files. Embedded servers are started and stopped by the run as usual.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tickstock_acceptance.config.paths import ROOT
from tickstock_acceptance.infra.embedded import OWNER_FILE, RUN_DIR_PREFIX
from tickstock_acceptance.reporting.results import ScenarioResult, load_results

FORMATTER = "tickstock_acceptance.reporting.allure_formatter:ChecklistAllureFormatter"


@dataclass
class IsolatedRun:
    returncode: int
    results: list[ScenarioResult]
    output: str
    leftovers: list[str]  # run directories of this run still present after it ended (should be [])

    def statuses(self) -> dict[str, str]:
        return {r.name: r.status for r in self.results}

    def failed(self) -> set[str]:
        return {r.name for r in self.results if r.status in ("failed", "broken")}

    def passed(self) -> set[str]:
        return {r.name for r in self.results if r.status == "passed"}


def run_isolated(features: list[str], results_dir: Path, userdata: dict[str, str] | None = None,
                 timeout_s: float = 300) -> IsolatedRun:
    results_dir.mkdir(parents=True, exist_ok=True)
    text_out = results_dir / "behave-output.txt"
    cmd = [sys.executable, "-m", "behave", "--no-color", "-f", "plain", "-o", str(text_out),
           "-f", FORMATTER, "-o", str(results_dir)]
    for key, value in (userdata or {}).items():
        cmd += ["-D", f"{key}={value}"]
    cmd += [str((ROOT / f).resolve()) for f in features]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_DB_", "TEST_REDIS_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory(prefix="tickstock-isolated-cwd-") as cwd:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.terminate()  # the run stops its own servers on SIGTERM
            out, err = proc.communicate(timeout=60)
    output = out + err + (text_out.read_text() if text_out.exists() else "")
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
