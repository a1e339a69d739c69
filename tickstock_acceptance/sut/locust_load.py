"""RES-2's mixed load from Locust (2.47): a master and worker processes of their own.

``LocustLoad.run`` starts ``locust --master --headless`` and ``workers`` × ``locust --worker`` on this
machine, all with ``sut/locust_users.py`` (the users: TickStockApp HTTP queries, ETF universe
queries and universe updates on the database, producer expansions that publish). Locust is never
imported here: importing it monkey-patches a process with gevent, so it lives in processes of its
own. The master spawns the users on its workers, runs them for the given seconds and writes its
statistics (``load_stats.csv``, ``load_failures.csv``, ``load.json``); each worker logs every request
(``requests-<pid>.tsv``). ``LocustReport`` reads both: Locust's counts and failure messages per kind,
and one ``OperationResult`` per request for the judging the in-process load already uses (errors,
requests in flight, latency distributions).

The identities reach Locust in ``TICKSTOCK_LOCUST_*`` environment variables (DSNs with passwords
are never on a command line); the producer command gets the producer's ``TICKSTOCK_PL_*``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import port_for
from psycopg2.extensions import make_dsn

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config.paths import ROOT
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.process_env import process_environment
from tickstock_acceptance.sut.producer import ENV_PREFIX as PRODUCER_ENV_PREFIX
from tickstock_acceptance.sut.producer import producer_for
from tickstock_acceptance.sut.stress import OperationResult
from tickstock_acceptance.sut.tickstock_app import TickStockAppController

LOCUSTFILE = Path(__file__).with_name("locust_users.py")
ENV = "TICKSTOCK_LOCUST_"
TEST_PREFIX = "test_loc_"  # the universes the update users write (deleted afterwards)
# The request names the users in locust_users.py report (not imported: it would patch this process).
KINDS = ("TickStockApp HTTP query", "ETF universe query (TickStockApp's role)",
         "universe update (producer's role)", "producer expansion (publishes)")


@dataclass
class KindStats:
    """Locust's own statistics of one kind of request (a row of its stats CSV)."""

    name: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class LocustReport:
    users: int
    workers_seen: int
    stats: dict[str, KindStats] = field(default_factory=dict)      # by kind, without the aggregate row
    failures: list[str] = field(default_factory=list)                # "kind: error (n times)"
    requests: list[OperationResult] = field(default_factory=list)    # one per request, from the workers
    master_exit: int | None = None
    output_tail: str = ""


def _dsn(system: AcceptanceSystem, role: str) -> str:
    db = system.endpoint(role)
    return make_dsn(host=db.host, port=db.port, dbname=db.dbname, user=db.user, password=db.password or None,
                    connect_timeout=5)


class LocustLoad:
    """Runs one Locust load against the run's TickStockApp, database and producer."""

    def __init__(self, system: AcceptanceSystem, app: TickStockAppController, themes: list[str]) -> None:
        self.system = system
        self.app = app
        self.themes = themes
        self.dir = Path(tempfile.mkdtemp(prefix="tickstock-locust-"))

    def environment(self) -> dict[str, str]:
        producer = producer_for(self.system)
        producer.deploy()
        env = process_environment(self.system, "producer", PRODUCER_ENV_PREFIX)  # for its expand processes
        env.update({
            ENV + "APP_URL": self.app.url,
            ENV + "CONSUMER_DSN": _dsn(self.system, "consumer"),
            ENV + "PRODUCER_DSN": _dsn(self.system, "producer"),
            ENV + "PRODUCER_ARGV": json.dumps(producer.base_command),
            ENV + "THEMES": json.dumps(self.themes),
            ENV + "LOG_DIR": str(self.dir),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
        })
        return env

    def run(self, users: int, seconds: int, workers: int) -> LocustReport:
        env = self.environment()
        port = port_for.select_random()
        base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
        master_log = open(self.dir / "master.log", "w+")  # noqa: SIM115 (closed below)
        wait_workers = str(int(M.deadline(M.LOCUST_START_S)))
        master_argv = [*base, "--master", "--headless", "--master-bind-host", "127.0.0.1",
                       "--master-bind-port", str(port), "--expect-workers", str(workers),
                       "--expect-workers-max-wait", wait_workers, "-u", str(users), "-r", str(users),
                       "-t", f"{seconds}s", "--stop-timeout", "10", "--csv", str(self.dir / "load"),
                       "--json-file", str(self.dir / "load"), "--only-summary"]
        master = subprocess.Popen(master_argv, cwd=ROOT, env=env, stdout=master_log, stderr=subprocess.STDOUT)
        worker_argv = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
        procs = [subprocess.Popen(worker_argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(workers)]
        try:
            rc = master.wait(timeout=M.deadline(M.LOCUST_START_S + seconds + M.LOCUST_STOP_S))
        except subprocess.TimeoutExpired:
            master.kill()
            rc = master.wait()
        finally:
            for proc in procs:
                try:
                    proc.wait(timeout=M.deadline(M.LOCUST_STOP_S))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            master_log.seek(0)
            tail = "\n".join(master_log.read().strip().splitlines()[-8:])
            master_log.close()
        report = read_report(self.dir, users)
        report.master_exit, report.output_tail = rc, tail
        report.workers_seen = len({p.name for p in self.dir.glob("requests-*.tsv")})
        return report

    def close(self) -> None:
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)


def read_report(folder: Path, users: int) -> LocustReport:
    """Locust's statistics (``load_stats.csv``, ``load_failures.csv``) and the workers' request logs."""
    report = LocustReport(users=users, workers_seen=0)
    stats = folder / "load_stats.csv"
    if stats.exists():
        with stats.open() as f:
            for row in csv.DictReader(f):
                if row["Name"] == "Aggregated":
                    continue
                report.stats[row["Name"]] = KindStats(
                    row["Name"], int(row["Request Count"]), int(row["Failure Count"]),
                    float(row["50%"] or 0), float(row["95%"] or 0), float(row["99%"] or 0),
                    float(row["Max Response Time"] or 0))
    failures = folder / "load_failures.csv"
    if failures.exists():
        with failures.open() as f:
            report.failures = [f"{row['Name']}: {row['Error']} ({row['Occurrences']} times)"
                               for row in csv.DictReader(f)]
    for log in sorted(folder.glob("requests-*.tsv")):
        for line in log.read_text().splitlines():
            kind, started, ms, *error = line.split("\t")
            start = float(started)
            message = error[0] if error else ""
            report.requests.append(OperationResult(kind, kind, start, start + float(ms) / 1000,
                                                   ok=not message, error=message))
    return report
