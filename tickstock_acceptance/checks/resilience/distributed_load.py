"""RES-2's simultaneous operations as distributed load: Locust's users, judged as the in-process set is.

``DistributedLoad`` runs ``sut.locust_load`` (a Locust master and its workers, each a process of its
own) against the run's TickStockApp, database and producer, then judges what Locust counted and what
its workers logged: every request succeeded (Locust's failure table names each error), every kind
ran, Locust's counts agree with the workers' request logs, all workers took part, and the requests
in flight at one instant (swept from each request's start and duration) reach the spec's 10+.
"""

from __future__ import annotations

from collections import Counter

from tickstock_acceptance.checks.resilience.concurrency import in_flight_problems, latencies_by_kind
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.etf_universes import EtfUniverseStore
from tickstock_acceptance.sut.locust_load import KINDS, TEST_PREFIX, LocustLoad, LocustReport
from tickstock_acceptance.sut.tickstock_app import TickStockAppController


def error_problems(report: LocustReport, workers: int) -> list[str]:
    """Locust ran to the end with every worker, and counted no failure."""
    problems = []
    if report.master_exit != 0:
        last = report.output_tail.splitlines()[-1:] or ["no output"]
        problems.append(f"Locust's master exited {report.master_exit}: {last[0]}")
    if not report.stats:
        problems.append("Locust recorded no statistics (no request was made)")
    problems += [f"Locust counted a failure: {f}" for f in report.failures]
    failed = sum(s.failures for s in report.stats.values())
    if failed and not report.failures:
        problems.append(f"Locust counted {failed} failed requests")
    if report.workers_seen < workers:
        problems.append(f"requests came from {report.workers_seen} of Locust's {workers} workers")
    return problems


def count_problems(report: LocustReport) -> list[str]:
    """Locust's statistics and the workers' request logs are the same requests."""
    logged = Counter(r.kind for r in report.requests)
    return [f"{name}: Locust counted {s.requests} requests, its workers logged {logged.get(name, 0)}"
            for name, s in report.stats.items() if s.requests != logged.get(name, 0)]


def mix_problems(report: LocustReport) -> list[str]:
    made = {name for name, s in report.stats.items() if s.requests}
    return [f"Locust made no {kind}" for kind in KINDS if kind not in made]


class DistributedLoad:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.store = EtfUniverseStore(system)
        self.load: LocustLoad | None = None
        self.report: LocustReport | None = None
        self.workers = 0

    def run(self, app: TickStockAppController, users: int, seconds: int, workers: int) -> LocustReport:
        themes = sorted(self.store.members())
        if not themes:
            raise AssertionError("no ETF universe in the database: expand the themes first")
        self.workers = workers
        self.load = LocustLoad(self.system, app, themes)
        self.report = self.load.run(users, seconds, workers)
        return self.report

    def error_problems(self) -> list[str]:
        assert self.report is not None, "Locust has not run"
        report = self.report
        return error_problems(report, self.workers) + mix_problems(report) + count_problems(report)

    def in_flight_problems(self, minimum: int) -> list[str]:
        assert self.report is not None, "Locust has not run"
        return in_flight_problems(self.report.requests, minimum)

    def latencies(self) -> dict[str, list[float]]:
        return latencies_by_kind(self.report.requests if self.report else [])

    def close(self) -> None:
        if self.load is not None:
            self.load.close()
        self.store.delete_test_universes(TEST_PREFIX)
