"""Command line: ``python -m tickstock_acceptance run|migrate|summary``.

``run`` is what ``make acceptance`` calls: preflight (one-line errors), behave with the Allure
formatter, the Allure 3 HTML report, and a one-screen summary; the exit code is non-zero when any
scenario failed (2 for bad input, 3 when the guard refused a target).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from .checklist import items
from .errors import SuiteError
from .paths import REPORT_DIR, RESULTS_DIR, ROOT
from .results import load_results
from .settings import load_settings


def _userdata(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SuiteError(f"-D {pair!r} is not key=value", "write -D key=value")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tickstock-acceptance", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the acceptance suite and write the report")
    run.add_argument("--tags", action="append", default=[], help="behave tag expression")
    run.add_argument("-D", dest="define", action="append", default=[], metavar="KEY=VALUE",
                     help="setting override (as behave -D)")
    run.add_argument("--no-report", action="store_true", help="skip rendering the HTML report")
    run.add_argument("features", nargs="*", help="feature files or directories (default: all)")
    mig = sub.add_parser("migrate", help="apply sql/ to the configured external *_test database")
    mig.add_argument("-D", dest="define", action="append", default=[], metavar="KEY=VALUE")
    sub.add_parser("summary", help="print the summary of the last run")
    return p


def render_report(results_dir: Path, report_dir: Path) -> Path | None:
    """Render Allure 3 HTML from the results; None (with a one-line note) if Allure is missing."""
    allure = ROOT / "node_modules" / ".bin" / "allure"
    if not allure.exists():
        print("note: Allure 3 is not installed (run `npm ci`); HTML report skipped", file=sys.stderr)
        return None
    shutil.rmtree(report_dir, ignore_errors=True)
    proc = subprocess.run([str(allure), "generate", str(results_dir), "-o", str(report_dir)],
                          cwd=ROOT, capture_output=True, text=True)
    index = report_dir / "index.html"
    if proc.returncode != 0 or not index.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        print(f"note: Allure report rendering failed: {tail[0]}", file=sys.stderr)
        return None
    return index


def summary_text(results_dir: Path, report: Path | None) -> str:
    results = load_results(results_dir)
    counts = Counter(r.status for r in results)
    by_item: dict[str, list[str]] = {}
    for r in results:
        for item_id in r.checklist:
            by_item.setdefault(item_id, []).append(r.status)
    lines = ["", "=" * 72, "TickStock Phase 3 acceptance — summary", "-" * 72,
             "Scenarios: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
             if counts else "Scenarios: none ran"]
    row = []
    for item in items():
        statuses = by_item.get(item.id)
        if statuses:
            mark = "FAIL" if any(s in ("failed", "broken") for s in statuses) else (
                "pass" if all(s == "passed" for s in statuses) else "skip")
        else:
            mark = "----"
        row.append(f"{item.id:<7}{mark}")
    for i in range(0, len(row), 6):
        lines.append("  ".join(row[i:i + 6]))
    for r in results:
        if r.status in ("failed", "broken"):
            lines.append(f"FAILED {','.join(r.checklist)}: {r.name}: {r.message[:100]}")
    lines.append(f"Results: {results_dir}")
    lines.append(f"Report:  {report}" if report else "Report:  (not rendered)")
    lines.append("=" * 72)
    return "\n".join(lines)


def run(args) -> int:
    from .system import preflight

    userdata = _userdata(args.define)
    settings = load_settings(os.environ, userdata)
    print(f"Target: {settings.describe()}", flush=True)
    preflight(settings)
    results_dir = RESULTS_DIR
    shutil.rmtree(results_dir, ignore_errors=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    # Formatters and the results directory come from behave.ini, so plain `behave` matches.
    cmd = [sys.executable, "-m", "behave"]
    for tag in args.tags:
        cmd += ["--tags", tag]
    for key, value in userdata.items():
        cmd += ["-D", f"{key}={value}"]
    cmd += args.features
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        rc = proc.wait()
    except KeyboardInterrupt:
        # behave got the same Ctrl-C; let it run its cleanup (stopping owned servers) first.
        try:
            proc.wait(timeout=60)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        print("interrupted: servers owned by the run were stopped", file=sys.stderr)
        return 130
    report = None if args.no_report else render_report(results_dir, REPORT_DIR)
    print(summary_text(results_dir, report))
    return rc


def migrate(args) -> int:
    from . import guard
    from .db import DbEndpoint, session
    from .schema import apply_migrations

    s = load_settings(os.environ, _userdata(args.define))
    if not s.external:
        raise SuiteError("migrate applies sql/ to an external database",
                         "set TEST_DB_HOST/TEST_DB_NAME (embedded runs migrate by themselves)")
    guard.require_test_database(s.db_name, False, s.UNSAFE_allow_non_test_target)
    endpoint = DbEndpoint(s.db_host, s.db_port, s.db_name, s.db_user, s.db_password)
    with session(endpoint, autocommit=False) as conn:
        applied = apply_migrations(conn)
    print(f"applied migrations {applied or 'none (already up to date)'} to {endpoint.where()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return run(args)
        if args.command == "migrate":
            return migrate(args)
        index = REPORT_DIR / "index.html"
        print(summary_text(RESULTS_DIR, index if index.exists() else None))
        return 0
    except SuiteError as error:
        print(f"ERROR: {error.one_line()}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
