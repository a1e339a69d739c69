"""Controller for the system under test's producer (TickStockPL), reached only through its command.

The producer is a configured command (``producer_command``, any executable; default
``python -m tickstock_producer``, or ``python -m <module>`` for ``-D producer=<module>``, which the
project's tests use for the deliberately broken variants in ``tests/broken/``). A team puts its
own TickStockPL behind a small adapter script that answers the same subcommands. Each command
runs as ``<command> --json <subcommand>`` in its own process with the producer's database role and
the run's Redis in ``TICKSTOCK_PL_*`` environment variables; its last stdout line is its JSON
report. The suite imports no module of the producer: it talks to it through this command, the
database and Redis, as TickStockApp would. Delivery latency is therefore measured across
processes: consumer receive time minus the producer's timestamp.

``deploy`` is called once per run, and only on a database the run created, with the admin
identity: it is where a producer version installs what it ships (the reference needs nothing).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from behave import fixture

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config.paths import ROOT
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.process_env import process_environment

ENV_PREFIX = "TICKSTOCK_PL_"


@dataclass
class ProducerRun:
    """One producer command: exit code, its JSON report, and wall-clock bounds of the process."""

    command: list[str]
    returncode: int
    report: dict
    stdout: str
    stderr: str
    started_at: float
    finished_at: float
    extra: dict = field(default_factory=dict)

    @property
    def wall_s(self) -> float:
        return self.finished_at - self.started_at

    def reported_error(self) -> str:
        """What the producer said went wrong: its JSON report's error or failed themes, else the last
        meaningful line of its stderr (one line)."""
        report = self.report if isinstance(self.report, dict) else {}
        if report.get("error"):
            return str(report["error"])
        failed = [t for t in report.get("themes", []) if isinstance(t, dict) and t.get("status") == "failed"]
        if failed:
            first = failed[0]
            more = f" (+{len(failed) - 1} more themes failed)" if len(failed) > 1 else ""
            return f"theme {first.get('theme')}: {first.get('error') or 'failed'}{more}"
        errors = report.get("errors") or []
        if errors:
            return f"{errors[0]}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")
        for text in (self.stderr, self.stdout if not report else ""):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Traceback")]
            if lines:
                return lines[-1]
        return ""

    def describe(self) -> str:
        """The command, its exit code and its reported error, in one line."""
        error = self.reported_error()
        return f"`{' '.join(self.command)}` exited {self.returncode}" + (f": {error}" if error else "")


class ProducerController:
    """Starts producer commands as processes and returns what they reported."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.base_command = system.settings.producer_argv()
        self.shown = " ".join(["python" if a == sys.executable else a for a in self.base_command])
        self.deployed = False

    def deploy(self) -> None:
        """Let the producer install what it ships (owned databases only; once per run)."""
        if self.deployed:
            return
        self.deployed = True
        if self.system.database_created_by_run:
            run = self.run("deploy", role="admin")
            if run.returncode != 0:
                raise AssertionError(f"the producer's deploy failed: {run.describe()}")

    def _redact(self, text: str) -> str:
        secrets = [self.system.endpoint(role).password for role in ("admin", "consumer", "producer")]
        secrets.append(getattr(self.system.settings, "market_data_key", None))
        for secret in filter(None, secrets):
            text = text.replace(secret, "***")
        return text

    def environment(self, role: str = "producer") -> dict[str, str]:
        return process_environment(self.system, role, ENV_PREFIX)

    def command(self, *args: str) -> list[str]:
        return [*self.base_command, "--json", *args]

    def start(self, *args: str, role: str = "producer") -> tuple[subprocess.Popen, float]:
        if args[:1] != ("deploy",):
            self.deploy()
        started = time.time()
        try:
            proc = subprocess.Popen(self.command(*args), cwd=ROOT, env=self.environment(role),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as exc:
            raise AssertionError(f"the producer command `{self.shown}` cannot be started: {exc}") from None
        return proc, started

    def finish(self, proc: subprocess.Popen, started: float, args, timeout_s: float) -> ProducerRun:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"producer command `{self.shown} {' '.join(args)}` did not finish within "
                                 f"{timeout_s:g} s") from None
        finished = time.time()
        out, err = self._redact(out), self._redact(err)
        report = {}
        lines = [ln for ln in out.strip().splitlines() if ln.strip()]
        if lines:
            try:
                report = json.loads(lines[-1])
            except json.JSONDecodeError:
                report = {}
        return ProducerRun([self.shown, *args], proc.returncode, report if isinstance(report, dict) else {},
                           out, err, started, finished)

    def run(self, *args: str, timeout_s: float | None = None, role: str = "producer") -> ProducerRun:
        proc, started = self.start(*args, role=role)
        return self.finish(proc, started, args, timeout_s or M.deadline(M.PRODUCER_COMMAND_DEADLINE_S))

    # -- the commands -----------------------------------------------------------------------
    def expand(self, themes: list[str] | None = None, source: str | None = None) -> ProducerRun:
        args = ["expand"]
        if themes:
            args += ["--themes", ",".join(themes)]
        if source:
            args += ["--source", source]
        return self.run(*args)

    def load_history(self, days: int) -> ProducerRun:
        return self.run("load-history", "--days", str(days))

    def validate(self) -> ProducerRun:
        return self.run("validate")

    def channels(self) -> dict[str, str]:
        """The channels the producer under test is configured with (its ``channels`` command)."""
        run = self.run("channels")
        if run.returncode != 0:
            raise AssertionError(f"producer channels command failed: {run.describe()}")
        return dict(run.report.get("channels", {}))

    def summary(self) -> ProducerRun:
        return self.run("summary")

    # -- test scenarios (synthetic data) and pattern detection --------------------------------
    def load_scenario(self, name: str, symbols: list[str] | None = None) -> ProducerRun:
        """``load-history --scenario NAME [--symbols A,B]``: generate one scenario (or ``all``) and load
        it into the synthetic storage. Arguments go as given (the error paths pass bad ones)."""
        args = ["load-history", "--scenario", name]
        if symbols is not None:
            args += ["--symbols", ",".join(symbols)]
        return self.run(*args)

    def list_scenarios(self) -> ProducerRun:
        """``load-history --list-scenarios``: the scenarios the generator knows (no database needed)."""
        return self.run("load-history", "--list-scenarios")

    def detect_patterns(self, symbols: list[str]) -> ProducerRun:
        """``detect-patterns --symbols A,B``: run the pattern detection over the symbols' daily bars,
        which publishes one pattern event per hit."""
        return self.run("detect-patterns", "--symbols", ",".join(symbols))

    def help(self, *subcommand: str) -> ProducerRun:
        """``[SUBCOMMAND] --help``: the command's usage text (exit 0 expected)."""
        return self.run(*subcommand, "--help")


class BackgroundCommand:
    """A long-running producer command (e.g. ``expand --repeat-until-stopped``) in its own process.

    ``start`` returns once ``started()`` says the command's first effect is visible (seen in the
    database or on Redis, as TickStockApp), or fails if the process ended first; ``stop`` sends
    SIGTERM, and the producer finishes its round and prints its report (``run``).
    """

    def __init__(self, producer: ProducerController, *args: str) -> None:
        self.producer = producer
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.run: ProducerRun | None = None
        self._terminated = False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, started: Callable[[], bool], what: str) -> BackgroundCommand:
        self.proc, self.started_at = self.producer.start(*self.args)
        wait_until(lambda: not self.running or started(), M.deadline(M.BACKGROUND_START_DEADLINE_S), what)
        if not self.running:
            self.stop()
            raise AssertionError(f"{what}: the producer ended before that: {self.run.describe()}")
        return self

    def terminate(self) -> None:
        """Send SIGTERM once (the producer finishes its round and reports); ``stop`` collects it. A
        second SIGTERM could land while Python shuts down, after its handlers are gone (exit -15)."""
        if self.proc is not None and not self._terminated and self.proc.poll() is None:
            self.proc.terminate()
            self._terminated = True

    def stop(self) -> ProducerRun | None:
        """SIGTERM (once, if still running) and the producer's report; safe to call twice."""
        if self.run is None and self.proc is not None:
            self.terminate()
            self.run = self.producer.finish(self.proc, self.started_at, self.args,
                                            M.deadline(M.PRODUCER_STOP_DEADLINE_S))
        return self.run


def producer_for(system: AcceptanceSystem) -> ProducerController:
    """The run's producer controller (one per run; deployed at the start of the run by
    ``producer_deployed``, else on first use)."""
    ctl = getattr(system, "_producer_controller", None)
    if ctl is None:
        ctl = ProducerController(system)
        system._producer_controller = ctl
    ctl.deploy()
    return ctl


@fixture
def producer_deployed(context, system: AcceptanceSystem):
    """Before any scenario, the producer version under test installs what it ships into a database
    the run owns (``deploy``), so every scenario — the environment validation first — judges the
    system as deployed, and no scenario's fault (a stopped database) can meet a first deploy. A
    deploy that fails ends the run in one line."""
    try:
        producer_for(system)
    except AssertionError as exc:
        raise SuiteError(str(exc), "fix the producer version's deploy (run it alone: "
                                   "<producer command> --json deploy with an admin identity)") from None
    yield
