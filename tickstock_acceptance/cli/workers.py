"""``run --workers N``: the suite in N worker processes on this machine, then what must run alone.

**How.** Each worker is a ``run --shard K/N`` of its own (``reporting.shards`` deals the feature
files), so it owns everything a serial run owns: its embedded PostgreSQL and Redis, its producer
processes and its TickStockApp, and a reports directory of its own under ``reports/workers/``. A
worker therefore never hears another's messages nor touches another's rows. Scenarios tagged
``@runs_alone`` (percentiles judged against a target, resource limits and CPU measurements) do not
share the machine: they run after the parallel part, in one more run (``reports/workers/alone``).
The workers' and the alone run's results are then merged (``reporting.shards.merge_results``, as
``merge`` does for CI shards) into ``reports/``: one results folder, one Allure report, one
sign-off, with the same item statuses a serial run gives. Each worker's output reaches the
terminal line by line, prefixed with its name.

**External mode.** Against one deployment's PostgreSQL and Redis each worker K gets its own test
database, ``<name>_wK_test`` for ``TEST_DB_NAME=<name>_test`` (it must exist with the schema: the run
validates, never migrates, what it does not own; each is checked before any worker starts), and its own
channel namespace ``test_wK:`` (inside ``TEST_REDIS_NAMESPACE`` when one is set): its channels, streams
and keys, the producer's and TickStockApp's included, carry it, so workers neither hear each other's
messages (pub-sub ignores the logical database) nor delete each other's keys (cleanup deletes only its
namespace's keys). The contract gives the tests logical databases 13–15 with fixed roles, so there
is no spare logical database per worker: the namespace does that isolation. The alone part runs as a
serial run would, on ``TEST_DB_NAME``. A deployed TickStockApp (``TICKSTOCK_APP_URL``) reads one
database and one namespace, so it cannot serve N workers: refused.

**Why not behavex.** behavex 4.6.8 runs behave's ``before_all``/``after_all`` once per feature in
each worker, so the run's system (servers, migrations, the producer's deployment) would start per
feature unless kept in a per-process cache that nothing stops reliably at exit; its Allure output
needs ``behave.ini`` tricks, and its own report and merge would sit beside our sign-off. The shard
runs above keep behave's lifecycle as it is, deal features the same way CI shards do, and reuse the
merge that CI needs anyway; the pool of N subprocesses is all that is written here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tickstock_acceptance.config.paths import REPORTS_DIR, RESULTS_DIR, ROOT, RUN_FACTS
from tickstock_acceptance.config.settings import Settings
from tickstock_acceptance.core.errors import SuiteError

ALONE_TAG = "@runs_alone"
MAX_WORKERS = 8  # each worker runs PostgreSQL, Redis, the producer and TickStockApp of its own
WORKERS_DIR = REPORTS_DIR / "workers"
STOP_GRACE_S = 60  # after Ctrl-C, how long a worker may take to stop its servers


def parse_workers(text: str | int | None) -> int | None:
    """``--workers N``: 1 <= N <= MAX_WORKERS; a one-line SuiteError otherwise."""
    if text is None:
        return None
    try:
        count = int(text)
    except (TypeError, ValueError):
        raise SuiteError(f"--workers must be a whole number, got {text!r}", "e.g. --workers 2") from None
    if not 1 <= count <= MAX_WORKERS:
        raise SuiteError(f"--workers {count}: give 1 to {MAX_WORKERS}",
                         "each worker runs servers of its own; 2 suits a 2-core machine")
    return count


def worker_database(name: str, k: int) -> str:
    """Worker ``k``'s test database: ``tickstock_test`` → ``tickstock_w1_test`` (it stays a ``*_test``)."""
    return f"{name.removesuffix('_test')}_w{k}_test" if name.endswith("_test") else f"{name}_w{k}"


def worker_namespace(namespace: str, k: int) -> str:
    """Worker ``k``'s channel namespace: ``test_w1:``; within the run's (``test_ci:`` → ``test_ci_w1:``)."""
    return f"{namespace[:-1]}_w{k}{namespace[-1]}" if namespace else f"test_w{k}:"


def worker_defines(settings: Settings, k: int) -> list[str]:
    """The ``-D`` settings that isolate worker ``k`` (external mode; embedded workers own their servers)."""
    if not settings.external:
        return []
    return [f"db_name={worker_database(settings.db_name, k)}",
            f"redis_namespace={worker_namespace(settings.redis_namespace, k)}"]


def require_isolated_workers(settings: Settings, count: int) -> None:
    """Each worker of an external run has a database and a namespace of its own; check every worker's
    database as its own run would (reachable, a test target, the contract's schema) before any starts."""
    if not settings.external:
        return
    if settings.tickstock_app_url:
        raise SuiteError("--workers cannot share the deployed TickStockApp at TICKSTOCK_APP_URL: it reads "
                         "one database and one channel namespace",
                         "run without --workers, or let each worker start its own TickStockApp "
                         "(unset TICKSTOCK_APP_URL)")
    from dataclasses import replace

    from tickstock_acceptance.infra.system import preflight

    for k in range(1, count + 1):
        name = worker_database(settings.db_name, k)
        space = worker_namespace(settings.redis_namespace, k)
        try:
            preflight(replace(settings, db_name=name, redis_namespace=space))
        except SuiteError as error:
            base = settings.db_name
            raise SuiteError(f"worker {k}'s database {name}: {error.problem}",
                             f"each worker needs a test database of its own with the schema, e.g. CREATE "
                             f"DATABASE {name} TEMPLATE {base} (or migrate it as {base} was)") from None


def combined(tags: list[str], extra: str) -> list[str]:
    """The user's ``--tags`` (each one must hold) and ``extra``, as one behave tag expression."""
    return [" and ".join(f"({t})" for t in [*tags, extra])]


@dataclass
class Part:
    """One run of the worker pool: a shard of the parallel part, or the alone part."""

    name: str
    argv: list[str]
    reports: Path
    proc: subprocess.Popen | None = None
    seconds: float = 0.0

    def start(self, env: dict) -> None:
        shutil.rmtree(self.reports, ignore_errors=True)
        self.reports.mkdir(parents=True)
        self.started = time.monotonic()
        env = {**env, "TICKSTOCK_REPORTS_DIR": str(self.reports)}
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.echo = threading.Thread(target=self._echo, daemon=True)
        self.echo.start()

    def _echo(self) -> None:
        for line in self.proc.stdout:
            sys.stdout.write(f"[{self.name}] {line}")
            sys.stdout.flush()

    def wait(self) -> int:
        rc = self.proc.wait()
        self.echo.join(timeout=5)
        self.seconds = round(time.monotonic() - self.started, 1)
        return rc

    def stop(self) -> None:
        """After Ctrl-C (which the worker got too): let it stop its servers, then SIGTERM."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def results(self, rc: int) -> Path:
        if not any((self.reports / "allure-results").glob("*-result.json")):
            raise SuiteError(f"{self.name} ended (exit {rc}) without results",
                             f"see its lines above, prefixed [{self.name}]")
        return self.reports


def plan(count: int, tags: list[str], features: list[str], defines: list[str],
         settings: Settings | None = None) -> tuple[list[Part], Part | None]:
    """The worker shards (empty when nothing of the selection may run in parallel) and the alone part
    (None when nothing selected is tagged @runs_alone)."""
    from tickstock_acceptance.reporting.coverage import scan, selected

    scenarios = scan(features)
    base = [sys.executable, "-m", "tickstock_acceptance", "run", "--no-report"]
    for pair in defines:
        base += ["-D", pair]
    parallel_tags = combined(tags, f"not {ALONE_TAG}")
    alone_tags = combined(tags, ALONE_TAG)
    workers = []
    if selected(scenarios, parallel_tags):
        def own(k: int) -> list[str]:
            return [a for pair in (worker_defines(settings, k) if settings else []) for a in ("-D", pair)]
        workers = [Part(f"worker {k}",
                        [*base, *own(k), "--shard", f"{k}/{count}", "--tags", parallel_tags[0], *features],
                        WORKERS_DIR / f"worker-{k}") for k in range(1, count + 1)]
    alone = None
    if selected(scenarios, alone_tags):
        alone = Part("alone", [*base, "--tags", alone_tags[0], *features], WORKERS_DIR / "alone")
    return workers, alone


def run_workers(args, settings: Settings, finish) -> int:
    """Run the plan, merge what it wrote into reports/, then ``finish(extra_facts)`` renders the report
    and the sign-off as a serial run does; returns the exit code."""
    from tickstock_acceptance.reporting.shards import merge_results

    workers, alone = plan(args.workers, args.tags, args.features, args.define, settings)
    env = dict(os.environ)
    started = time.monotonic()
    codes: list[int] = []
    shutil.rmtree(WORKERS_DIR, ignore_errors=True)
    running: list[Part] = []
    try:
        if workers:
            print(f"Workers: {len(workers)} in parallel (scenarios not tagged {ALONE_TAG})", flush=True)
            running = list(workers)
            for part in workers:
                part.start(env)
            codes += [part.wait() for part in workers]
        if alone:
            print(f"Alone: the scenarios tagged {ALONE_TAG}, after the parallel part", flush=True)
            running = [alone]
            alone.start(env)
            codes.append(alone.wait())
    except KeyboardInterrupt:
        for part in running:
            part.stop()
        print("interrupted: the workers stopped the servers they started", file=sys.stderr)
        return 130
    parts = [*workers, *([alone] if alone else [])]
    sources = [part.results(rc) for part, rc in zip(parts, codes, strict=True)]
    merged = merge_results(sources, RESULTS_DIR)
    duration = round(time.monotonic() - started, 1)
    facts = {**merged.facts, "duration_s": duration, "workers": args.workers,
             "parts": [{"name": p.name, "seconds": p.seconds} for p in parts]}
    RUN_FACTS.write_text(json.dumps(facts, indent=2))
    for part in parts:
        print(f"{part.name}: {part.seconds:.0f} s", flush=True)
    rc = finish({"duration_s": duration, "workers": args.workers})
    return next((c for c in codes if c), rc)
