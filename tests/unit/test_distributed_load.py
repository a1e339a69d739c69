"""Reading and judging a Locust run (sut.locust_load, checks.resilience.distributed_load) from files
shaped as Locust 2.47 writes them; Locust itself is not imported (it would patch this process)."""

from __future__ import annotations

from pathlib import Path

from tickstock_acceptance.checks.resilience.concurrency import peak_in_flight
from tickstock_acceptance.checks.resilience.distributed_load import (
    count_problems,
    error_problems,
    mix_problems,
)
from tickstock_acceptance.sut.locust_load import KINDS, LOCUSTFILE, read_report

HEADER = ("Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
          "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,"
          "90%,95%,98%,99%,99.9%,99.99%,100%")


def _write(folder: Path, failures: int = 0, workers: int = 2) -> None:
    rows = [HEADER]
    for kind in KINDS:
        rows.append(f'op,"{kind}",2,{failures},1,1,1,3,0,1,0,1,1,1,1,2,2,3,3,3,3,3')
    rows.append("op,Aggregated,8,0,1,1,1,3,0,1,0,1,1,1,1,2,2,3,3,3,3,3")
    (folder / "load_stats.csv").write_text("\n".join(rows) + "\n")
    fails = ["Method,Name,Error,Occurrences"]
    if failures:
        fails.append('GET,TickStockApp HTTP query,"503 from /api/universes/x: query budget exhausted",2')
    (folder / "load_failures.csv").write_text("\n".join(fails) + "\n")
    for w in range(workers):
        lines = [f"{kind}\t{100.0 + i * 0.0001:.6f}\t5.000\t"
                 for i, kind in enumerate(KINDS * 2) if i % workers == w]
        (folder / f"requests-{w}.tsv").write_text("\n".join(lines) + "\n")


def test_a_clean_run_has_no_problems_and_its_requests_overlap(tmp_path):
    _write(tmp_path)
    report = read_report(tmp_path, users=8)
    report.master_exit, report.workers_seen = 0, 2
    assert set(report.stats) == set(KINDS)
    assert error_problems(report, 2) == mix_problems(report) == count_problems(report) == []
    assert peak_in_flight(report.requests) == 8


def test_failures_name_what_the_app_said_and_missing_workers_and_counts_show(tmp_path):
    _write(tmp_path, failures=2, workers=1)
    report = read_report(tmp_path, users=8)
    report.master_exit, report.workers_seen = 1, 1
    problems = " | ".join(error_problems(report, 2))
    assert "query budget exhausted (2 times)" in problems
    assert "Locust's master exited 1" in problems
    assert "from 1 of Locust's 2 workers" in problems
    (tmp_path / "requests-0.tsv").write_text("")
    assert count_problems(read_report(tmp_path, users=8))


def test_the_locustfile_reports_exactly_the_kinds_the_suite_judges():
    text = LOCUSTFILE.read_text()
    assert all(kind in text or kind.replace("'", "\\'") in text for kind in KINDS), KINDS
