"""Command line: ``python -m tickstock_acceptance run|merge|signoff|baseline|coverage|migrate|summary``.

``run`` is what ``make acceptance`` calls: preflight (one-line errors), behave with the Allure
formatter, the Allure 3 HTML report, the checklist sign-off (reports/signoff.json/.md/.html) and a
one-screen summary; the exit code is non-zero when any scenario or checklist item failed (2 for
bad input, 3 when the guard refused a target). ``signoff`` rebuilds the sign-off from the results
on disk; ``signoff record`` records a release decision on the run on disk (approve, with a waiver
for each item that did not pass, or reject with a note) and ``signoff verify`` exits 0 only when
the latest decision on that run is an approval that still matches its results; ``baseline
accept`` makes the latest run's figures the accepted performance baseline (a run with failed
items or a partial selection only with ``--even-if-incomplete``), and ``coverage`` prints the
coverage gate (checklist items without scenarios). ``run --shard K/N`` runs one CI shard's share of
the features and ``merge`` combines the shards' reports into one run's results, report and sign-off
(``reporting.shards``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tickstock_acceptance.config.checklist import items
from tickstock_acceptance.config.paths import JUNIT_DIR, REPORT_DIR, REPORTS_DIR, RESULTS_DIR, ROOT, RUN_FACTS
from tickstock_acceptance.config.settings import load_settings
from tickstock_acceptance.core.errors import SuiteError, first_line
from tickstock_acceptance.reporting.results import load_results
from tickstock_acceptance.reporting.shards import (
    ENVIRONMENT_FEATURE,
    all_features,
    parse_shard,
    shard_features,
)
from tickstock_acceptance.reporting.summary import summary_text


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
    run.add_argument("--shard", metavar="K/N", help="run shard K of N: a stable share of the features "
                                                    "(one CI job each; combine them with `merge`)")
    run.add_argument("--workers", metavar="N", help="run the features in N worker processes, each with "
                                                    "servers of its own, then the @runs_alone scenarios "
                                                    "(one report and sign-off, as a serial run)")
    run.add_argument("features", nargs="*", help="feature files or directories (default: all)")
    mrg = sub.add_parser("merge", help="combine CI shards' reports into one run's results, report and "
                                       "sign-off (under reports/)")
    mrg.add_argument("shards", nargs="+", metavar="SHARD_REPORTS",
                     help="each shard's reports directory (holding allure-results/ and run-facts.json)")
    mrg.add_argument("--no-report", action="store_true", help="skip rendering the HTML report")
    mig = sub.add_parser("migrate", help="apply sql/ to the configured external *_test database")
    mig.add_argument("-D", dest="define", action="append", default=[], metavar="KEY=VALUE")
    sub.add_parser("summary", help="print the summary of the last run again (as `signoff` does)")
    sig = sub.add_parser("signoff", usage="%(prog)s [-h] [{record,verify} ...]",
                         help="rebuild reports/signoff.* from the results on disk; "
                         "record or verify a release decision",
                         description="With no sub-command: rebuild reports/signoff.* from the results of "
                         "the last run (the decision recorded for it stays filled in).")
    sig_sub = sig.add_subparsers(dest="signoff_command", metavar="{record,verify}")
    rec = sig_sub.add_parser(
        "record", help="record a decision on the run on disk in reports/history/signoff-log.jsonl",
        description="Record one decision on the run whose results are on disk: appended to "
        "reports/history/signoff-log.jsonl, bound to the run id, suite commit, target and a SHA-256 "
        "digest of the results; the sign-off files are rewritten with it. An approval needs a "
        "waiver for every item that did not pass (failed, not run, not covered, past its regression "
        "line); a rejection needs a note.")
    rec.add_argument("--by", required=True, metavar="NAME", help="who decides")
    rec.add_argument("--role", required=True, metavar="ROLE", help="in which role (e.g. 'QA lead')")
    rec.add_argument("--decision", required=True, choices=("approve", "reject"))
    rec.add_argument("--waive", action="append", default=[], metavar="ID=REASON",
                     help="accept an item that did not pass, and why (repeat per item)")
    rec.add_argument("--note", default="", metavar="TEXT", help="why (required to reject)")
    rec.add_argument("--run", metavar="RUN_ID", help="the run decided on (default: the latest, on disk)")
    ver = sig_sub.add_parser(
        "verify", help="exit 0 only if the run's latest decision is an approval matching the results",
        description="Recompute the digest of the run on disk (its result files and the items of "
        "signoff.json) and compare it with the latest decision recorded for the run. Exit 0 only "
        "when that decision is an approval and it matches; 1 when it does not match, is a "
        "rejection, or there is none; 2 for bad input (an unknown run).")
    ver.add_argument("--run", metavar="RUN_ID", help="the run to check (default: the latest, on disk)")
    sub.add_parser("coverage", help="check that every checklist item has a scenario (the gate)")
    base = sub.add_parser("baseline", help="show or accept the performance baseline")
    base_sub = base.add_subparsers(dest="baseline_command", required=True)
    accept = base_sub.add_parser("accept", help="make a stored run (default: the latest) the baseline")
    accept.add_argument("--run", help="run id under reports/history/runs/ (default: the latest)")
    accept.add_argument("--by", default=os.environ.get("USER", ""), help="who accepts it")
    accept.add_argument("--note", default="", help="why (e.g. 'new hardware', 'release 3.0')")
    accept.add_argument("--even-if-incomplete", action="store_true",
                        help="accept a run with failed items or a partial selection (--tags, features)")
    base_sub.add_parser("show", help="print the accepted baseline")
    return p


SELECTION_FILE = REPORTS_DIR / "run-selection.json"  # the last run's --tags and feature paths
LOCK_FILE = REPORTS_DIR / ".run.lock"


@contextlib.contextmanager
def reports_lock():
    """Serialize runs that share reports/ (two runs at once would mix their results)."""
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("note: another run is using reports/; waiting for it to finish", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def write_signoff(tags: list[str], features: list[str], extra_facts: dict | None = None,
                  store_history: bool = True):
    """Build and write the sign-off for the results on disk; returns (signoff, paths)."""
    from tickstock_acceptance.reporting.signoff import generate

    return generate(RESULTS_DIR, REPORTS_DIR, tags=tags, feature_paths=features,
                    extra_facts=extra_facts, store_history=store_history)


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


def with_environment_gate(tags: list[str], features: list[str]) -> tuple[list[str], list[str]]:
    """A subset run still validates the environment first: the gate is always selected."""
    if tags:
        tags = ["@environment or (" + " and ".join(f"({t})" for t in tags) + ")"]
    if features and not any(Path(f).resolve() == (ROOT / ENVIRONMENT_FEATURE).resolve()
                            for f in features):
        features = [ENVIRONMENT_FEATURE, *features]
    return tags, features


def validate_selection(tags: list[str], features: list[str]) -> None:
    """Bad feature paths, bad tag expressions and empty selections end in one line, before a run."""
    from tickstock_acceptance.reporting.coverage import scan, selected

    for feature in features:
        path = Path(feature.split(":", 1)[0])
        if not (path if path.is_absolute() else ROOT / path).exists():
            raise SuiteError(f"feature path {feature!r} does not exist", "name a file under features/")
    try:
        chosen = selected(scan(features), tags)
    except Exception as exc:  # behave's tag-expression parser raises several types
        raise SuiteError(f"bad --tags expression {' '.join(tags)!r}: {first_line(exc)}",
                         "see `behave --tags-help` (e.g. --tags '@checklist:ETF-4')") from None
    if not chosen:
        raise SuiteError(f"no scenario matches --tags {' '.join(tags) or '(none)'} "
                         f"{' '.join(features)}".rstrip(),
                         "check the tag spelling (tags look like @checklist:ETF-4)")


ENVIRONMENT_TAG = "environment"


def run(args) -> int:
    from tickstock_acceptance.cli.workers import parse_workers

    args.shard = parse_shard(args.shard) if args.shard else None  # bad input fails before the lock
    args.workers = parse_workers(args.workers)
    if args.shard and args.workers:
        raise SuiteError("--workers and --shard cannot be combined",
                         "a CI job runs one shard (--shard K/N); --workers is for one machine")
    with reports_lock():
        return _run_locked(args)


def _run_locked(args) -> int:
    from tickstock_acceptance.infra.system import preflight

    userdata = _userdata(args.define)
    shard = args.shard
    settings = load_settings(os.environ, userdata)
    print(f"Target: {settings.describe()}", flush=True)
    validate_selection(args.tags, args.features)  # the whole selection: a shard may hold none of it
    if shard is not None:
        # a shard with nothing dealt to it runs the gate alone (no feature list would mean all of them)
        args.features = shard_features(shard, args.features or all_features(ROOT)) or [ENVIRONMENT_FEATURE]
        print(f"Shard {shard}: {', '.join(Path(f).name for f in args.features)}", flush=True)
    preflight(settings)
    started = time.monotonic()
    if args.workers and args.workers > 1:
        from tickstock_acceptance.cli.workers import require_isolated_workers, run_workers

        require_isolated_workers(settings, args.workers)
        selection = with_environment_gate(args.tags, args.features)
        SELECTION_FILE.write_text(json.dumps({"tags": selection[0], "features": selection[1]}))
        return run_workers(args, settings, lambda extra: finish_run(*selection, args.no_report, extra))
    args.tags, args.features = with_environment_gate(args.tags, args.features)
    SELECTION_FILE.write_text(json.dumps({"tags": args.tags, "features": args.features}))
    shutil.rmtree(RESULTS_DIR, ignore_errors=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    # Formatters and the results directory come from behave.ini, so plain `behave` matches.
    # JUnit XML beside the Allure results, for CI systems (one file per feature).
    shutil.rmtree(JUNIT_DIR, ignore_errors=True)
    cmd = [sys.executable, "-m", "behave", "--junit", "--junit-directory", str(JUNIT_DIR)]
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
    duration = round(time.monotonic() - started, 1)
    record_run_facts({"duration_s": duration, "shard": str(shard) if shard else None})
    item_rc = finish_run(args.tags, args.features, args.no_report, {"duration_s": duration})
    return rc or item_rc


def finish_run(tags: list[str], features: list[str], no_report: bool, extra_facts: dict) -> int:
    """The report, the sign-off and the summary of the results on disk; 1 when an item failed."""
    report = None if no_report else render_report(RESULTS_DIR, REPORT_DIR)
    signoff, paths = write_signoff(tags, features, extra_facts)
    print(summary_text(RESULTS_DIR, report, signoff, paths))
    return 1 if signoff.counts["failed"] else 0  # e.g. a figure past its regression line


def record_run_facts(extra: dict) -> None:
    """Add what only the command knows (duration, shard) to the run's facts file, for ``merge``."""
    try:
        facts = json.loads(RUN_FACTS.read_text())
    except (OSError, json.JSONDecodeError):
        return
    facts.update({k: v for k, v in extra.items() if v is not None})
    RUN_FACTS.write_text(json.dumps(facts, indent=2))


def merge(args) -> int:
    """``merge``: the shards' results become reports/allure-results, with one report and sign-off."""
    from tickstock_acceptance.reporting.shards import merge_results, merged_selection

    with reports_lock():
        sources = [Path(s) for s in args.shards]
        selection = merged_selection(sources, all_features(ROOT))
        merged = merge_results(sources, RESULTS_DIR)
        RUN_FACTS.write_text(json.dumps(merged.facts, indent=2))
        SELECTION_FILE.write_text(json.dumps(selection))
        print(f"Merged {len(sources)} shards: {merged.results} scenario results "
              f"({merged.duplicates} repeated in several shards, kept once with the worst status)")
        report = None if args.no_report else render_report(RESULTS_DIR, REPORT_DIR)
        signoff, paths = write_signoff(selection["tags"], selection["features"],
                                       {"merged_shards": len(sources)})
    print(summary_text(RESULTS_DIR, report, signoff, paths))
    scenario_failed = any(r.status in ("failed", "broken") for r in load_results(RESULTS_DIR))
    return 1 if scenario_failed or signoff.counts["failed"] else 0


def _last_selection() -> dict:
    try:
        return json.loads(SELECTION_FILE.read_text())
    except (OSError, json.JSONDecodeError):
        return {"tags": [], "features": []}


def regenerate_signoff() -> int:
    """``signoff``: rebuild the sign-off from the results on disk (same selection, no new history)."""
    with reports_lock():
        selection = _last_selection()
        signoff, paths = write_signoff(selection.get("tags", []), selection.get("features", []),
                                       store_history=False)
    index = REPORT_DIR / "index.html"
    print(summary_text(RESULTS_DIR, index if index.exists() else None, signoff, paths))
    return 1 if signoff.counts["failed"] else 0


def signoff_command(args) -> int:
    """``signoff`` (rebuild), ``signoff record`` and ``signoff verify``."""
    from tickstock_acceptance.reporting.signoff import record_decision, verify_decision

    if args.signoff_command is None:
        return regenerate_signoff()
    if args.signoff_command == "verify":
        verdict = verify_decision(args.run)
        print(verdict.line)
        return 0 if verdict.ok else 1
    with reports_lock():
        selection = _last_selection()
        decision, paths = record_decision(args.by, args.role, args.decision, args.waive, args.note, args.run,
                                          tags=selection.get("tags", []),
                                          feature_paths=selection.get("features", []))
    from tickstock_acceptance.reporting.decisions import log_path, short

    waived = f", {len(decision.waivers)} waiver(s)" if decision.waivers else ""
    print(f"recorded: {decision.shown} run {decision.run_id} (commit {decision.suite_commit}) by "
          f"{decision.who()}{waived}; results sha256 {short(decision.digest['value'])} "
          f"({decision.digest['result_files']} result files, {decision.digest['item_count']} items)")
    print(f"Log:      {log_path()} (line {decision.line})")
    for path in paths:
        print(f"Sign-off: {path}")
    print("Check it: python -m tickstock_acceptance signoff verify")
    return 0


def coverage_gate() -> int:
    from tickstock_acceptance.reporting.coverage import check_coverage, scan

    report = check_coverage(scan())
    for error in report.errors:
        print(f"coverage: {error}", file=sys.stderr)
    covered = sum(1 for i in items() if report.scenarios_by_id.get(i.id))
    marked = sum(1 for i in items() if i.not_yet_automated)
    print(f"coverage gate: {covered} items with scenarios, {marked} marked not yet automated, "
          f"{len(report.errors)} errors")
    return 1 if report.errors else 0


def baseline(args) -> int:
    from tickstock_acceptance.reporting import history
    if args.baseline_command == "show":
        current = history.load_baseline()
        print(json.dumps(current, indent=2) if current else
              "no baseline accepted yet (python -m tickstock_acceptance baseline accept)")
        return 0
    try:
        accepted = history.accept_baseline(run=args.run, accepted_by=args.by, note=args.note,
                                           even_if_incomplete=args.even_if_incomplete)
    except LookupError as error:
        raise SuiteError(str(error), "run the suite, then accept one of its stored runs") from None
    print(f"accepted run {accepted['run_id']} as the baseline ({len(accepted['figures'])} figures) "
          f"-> {history.baseline_path()}")
    for reason in accepted.get("accepted_incomplete") or []:
        print(f"note: accepted although {reason} (--even-if-incomplete)")
    return 0


def migrate(args) -> int:
    from tickstock_acceptance.core import guard
    from tickstock_acceptance.infra.db import DbEndpoint, session
    from tickstock_acceptance.infra.migrations import apply_migrations

    s = load_settings(os.environ, _userdata(args.define))
    if not s.external:
        raise SuiteError("migrate applies sql/ to an external database",
                         "set TEST_DB_HOST/TEST_DB_NAME (embedded runs migrate by themselves)")
    guard.require_test_database(s.db_name, False, s.UNSAFE_allow_non_test_target)
    endpoint = DbEndpoint(s.db_host, s.db_port, s.db_name, *s.credentials("admin"))
    with session(endpoint, autocommit=False) as conn:
        applied = apply_migrations(conn)
    print(f"applied migrations {applied or 'none (already up to date)'} to {endpoint.where()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return run(args)
        if args.command == "merge":
            return merge(args)
        if args.command == "migrate":
            return migrate(args)
        if args.command == "signoff":
            return signoff_command(args)
        if args.command == "coverage":
            return coverage_gate()
        if args.command == "baseline":
            return baseline(args)
        # summary: the same screen the run printed, from the results and sign-off on disk
        if not any(RESULTS_DIR.glob("*-result.json")):
            raise SuiteError(f"no results under {RESULTS_DIR}", "run `make acceptance` first")
        return regenerate_signoff()
    except SuiteError as error:
        print(f"ERROR: {error.one_line()}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
