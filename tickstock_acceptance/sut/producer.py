"""Controller for the system under test's producer (TickStockPL), run as a separate process.

The producer is the module named by the ``producer`` setting (default ``tickstock_producer``;
the project's tests use broken variants in ``tests/broken/``). Each command runs as
``python -m <module> --json <command>`` in its own process with the producer's database role
and the run's Redis in ``TICKSTOCK_PL_*`` environment variables: the suite talks to the
producer only through its CLI, the database and Redis, as TickStockApp would. Delivery latency
is therefore measured across processes: consumer receive time minus the producer's timestamp.

``deploy`` (optional in a producer module) is called once per run, and only on a database the
run created, with an admin connection: it is where a variant installs what it ships.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config.paths import ROOT
from tickstock_acceptance.contract.messaging import STREAM_DB
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem

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

    def describe(self) -> str:
        """The command, its exit code and its reported error (JSON report first, else stderr's last line)."""
        reported = self.report.get("error") if isinstance(self.report, dict) else None
        tail = reported or (self.stderr.strip().splitlines() or [""])[-1]
        return f"`{' '.join(self.command)}` exited {self.returncode} {tail}".strip()


class ProducerController:
    """Starts producer commands as processes and returns what they reported."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.module_name = system.settings.producer
        try:
            self.module = importlib.import_module(self.module_name)
        except ImportError as exc:
            raise SuiteError(f"producer module {self.module_name!r} cannot be imported: {exc}",
                             "set -D producer=<importable module>") from None
        if not hasattr(self.module, "create_producer"):
            raise SuiteError(f"producer module {self.module_name!r} has no create_producer()",
                             "a producer module exposes create_producer(config)")
        self.deployed = False

    def deploy(self) -> None:
        """Let the producer module install what it ships (owned databases only; once)."""
        if self.deployed:
            return
        hook = getattr(self.module, "deploy", None)
        if hook is not None and self.system.database_created_by_run:
            with self.system.session("admin") as conn:
                hook(conn)
        self.deployed = True

    def environment(self) -> dict[str, str]:
        db = self.system.endpoint("producer")
        rd = self.system.redis_endpoint
        # Least privilege: the producer gets its own credentials, never the suite's other secrets.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith((ENV_PREFIX, "TEST_DB_", "TEST_REDIS_", "TICKSTOCK_UNSAFE"))}
        env.update({
            ENV_PREFIX + "DB_HOST": db.host, ENV_PREFIX + "DB_PORT": str(db.port),
            ENV_PREFIX + "DB_NAME": db.dbname, ENV_PREFIX + "DB_USER": db.user,
            ENV_PREFIX + "REDIS_HOST": rd.host, ENV_PREFIX + "REDIS_PORT": str(rd.port),
            ENV_PREFIX + "REDIS_DB": str(STREAM_DB),
        })
        if db.password:
            env[ENV_PREFIX + "DB_PASSWORD"] = db.password
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", self.module_name, "--json", *args]

    def start(self, *args: str) -> tuple[subprocess.Popen, float]:
        self.deploy()
        started = time.time()
        proc = subprocess.Popen(self.command(*args), cwd=ROOT, env=self.environment(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return proc, started

    def finish(self, proc: subprocess.Popen, started: float, args, timeout_s: float) -> ProducerRun:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"producer command {' '.join(args)} did not finish within "
                                 f"{timeout_s:g} s") from None
        finished = time.time()
        report = {}
        lines = [ln for ln in out.strip().splitlines() if ln.strip()]
        if lines:
            try:
                report = json.loads(lines[-1])
            except json.JSONDecodeError:
                report = {}
        return ProducerRun(["python", "-m", self.module_name, *args], proc.returncode, report, out,
                           err, started, finished)

    def run(self, *args: str, timeout_s: float | None = None) -> ProducerRun:
        proc, started = self.start(*args)
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

    def stop(self) -> ProducerRun | None:
        """SIGTERM (if still running) and the producer's report; safe to call twice."""
        if self.run is None and self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            self.run = self.producer.finish(self.proc, self.started_at, self.args,
                                            M.deadline(M.PRODUCER_STOP_DEADLINE_S))
        return self.run


def producer_for(system: AcceptanceSystem) -> ProducerController:
    """The run's producer controller (one per run; deployed on first use)."""
    ctl = getattr(system, "_producer_controller", None)
    if ctl is None:
        ctl = ProducerController(system)
        system._producer_controller = ctl
    ctl.deploy()
    return ctl
