"""Sign-off decisions: who approved or rejected which run, with which waivers, bound to its results.

A decision is one JSON object on one line of ``reports/history/signoff-log.jsonl``. The log is
append-only: ``append`` adds a line and never rewrites one, and each line carries ``prev``, the
SHA-256 of the line before it (empty for the first), so a line changed or removed later breaks the
chain and ``load_log`` reports it.

A decision is bound to its run (``history.run_id`` of the run facts), the suite commit of the run,
its target (mode, host, database; the run facts hold no secret, and a password-shaped part of a
URL is masked anyway) and a digest of its results:

- ``results``: SHA-256 over every file under ``allure-results/`` (relative path and content);
- ``items``: SHA-256 over the judgement of each item in ``signoff.json`` (``DIGESTED_ITEM_FIELDS``:
  ID, status, reason, scenarios, key figure...). Baseline comparisons and warnings are left out:
  accepting a new baseline later changes them without changing the run's results;
- ``value``: SHA-256 of both, the one number a decision is checked by.

Rules (``check_decision``): ``approve`` needs every item that is not ``passed`` (failed, not run,
not covered) or has a figure past its regression line waived with a reason, and waives nothing
else; ``reject`` needs a note and waives nothing. Broken input (an unknown item ID, an empty
reason) raises ``SuiteError`` with one line.

This module reads plain data (the sign-off's items as ``signoff.json`` holds them), so the
sign-off can import it; ``signoff.record_decision`` and ``signoff.verify_decision`` tie it together.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.reporting import history

LOG_NAME = "signoff-log.jsonl"
SCHEMA = "tickstock-signoff-decision/1"
APPROVE, REJECT = "approve", "reject"
DECISIONS = (APPROVE, REJECT)
SHOWN = {APPROVE: "approved", REJECT: "rejected"}
# What of an item a decision judged (signoff.json's keys); see the module docstring.
DIGESTED_ITEM_FIELDS = ("id", "status", "reason", "not_yet_automated", "targets", "key_figure", "scenarios")
NEEDS_WAIVER_ORDER = ("failed", "past regression line", "not run", "not covered")
RECORD_HINT = ("python -m tickstock_acceptance signoff record --by NAME --role ROLE "
               "--decision approve|reject")


def log_path(history_dir: Path = history.HISTORY_DIR) -> Path:
    return history_dir / LOG_NAME


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def short(digest: str) -> str:
    return digest[:12] + "…" if digest else "?"


# ---------------------------------------------------------------------------------------------
# The decision and its log


@dataclass
class Decision:
    run_id: str
    suite_commit: str
    target: dict
    by: str
    role: str
    decision: str  # approve | reject
    note: str
    waivers: dict[str, str]  # item ID -> reason, in checklist order
    digest: dict  # value, results, result_files, items, item_count (see ``Digest``)
    item_statuses: dict[str, str]  # each item's status when the decision was taken
    recorded_at: str
    line: int = field(default=0, compare=False)  # its line in the log (1-based), not stored

    @property
    def approved(self) -> bool:
        return self.decision == APPROVE

    @property
    def shown(self) -> str:
        """``approved`` or ``rejected``."""
        return SHOWN.get(self.decision, self.decision)

    @property
    def target_text(self) -> str:
        return target_text(self.target)

    def who(self) -> str:
        return f"{self.by} ({self.role})"

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "recorded_at": self.recorded_at, "run_id": self.run_id,
                "suite_commit": self.suite_commit, "target": self.target, "decision": self.decision,
                "by": self.by, "role": self.role, "note": self.note,
                "waivers": [{"id": i, "reason": r} for i, r in self.waivers.items()],
                "digest": self.digest, "item_statuses": self.item_statuses}

    @classmethod
    def from_dict(cls, data: dict, line: int = 0) -> Decision:
        """A decision from its log line; ``ValueError`` (or ``KeyError``) when it is not one."""
        digest = data.get("digest") or {}
        if data.get("decision") not in DECISIONS or not isinstance(digest.get("value"), str):
            raise ValueError("not a decision")
        return cls(run_id=str(data["run_id"]), suite_commit=str(data.get("suite_commit", "?")),
                   target=dict(data.get("target") or {}), by=str(data["by"]), role=str(data["role"]),
                   decision=str(data["decision"]), note=str(data.get("note") or ""),
                   waivers={w["id"]: w["reason"] for w in data.get("waivers") or []},
                   digest=dict(data.get("digest") or {}), item_statuses=dict(data.get("item_statuses") or {}),
                   recorded_at=str(data.get("recorded_at", "?")), line=line)


@dataclass
class Log:
    """The decisions of the log, oldest first, and what is wrong with the log (empty if nothing)."""

    decisions: list[Decision]
    problems: list[str]

    def for_run(self, run_id: str) -> list[Decision]:
        return [d for d in self.decisions if d.run_id == run_id]

    def latest_for(self, run_id: str) -> Decision | None:
        mine = self.for_run(run_id)
        return mine[-1] if mine else None

    def on_commit(self, commit: str, but: Decision | None = None) -> list[Decision]:
        """Decisions on runs of ``commit``, newest first, except ``but``."""
        return [d for d in reversed(self.decisions) if d.suite_commit == commit and d is not but]

    def run_ids(self) -> list[str]:
        return list(dict.fromkeys(d.run_id for d in self.decisions))


def load_log(history_dir: Path = history.HISTORY_DIR) -> Log:
    """Every decision in the log; a line that is not a decision or breaks the chain is a problem."""
    path = log_path(history_dir)
    if not path.exists():
        return Log([], [])
    decisions, problems, prev, before = [], [], "", 0
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            decision = Decision.from_dict(data, number)
        except (ValueError, KeyError, TypeError, AttributeError):
            problems.append(f"{path.name} line {number} is not a decision")
        else:
            if data.get("prev", "") != prev:
                follows = f"line {before}" if before else "the start of the log"
                problems.append(f"{path.name} line {number} does not follow {follows} "
                                "(an earlier line was changed or removed)")
            decisions.append(decision)
        prev, before = sha256(raw), number
    return Log(decisions, problems)


def append(decision: Decision, history_dir: Path = history.HISTORY_DIR) -> int:
    """Add ``decision`` as the log's last line (chained to the line before); returns its line number."""
    path = log_path(history_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # two people recording at once still get a chain
        handle.seek(0)
        lines = handle.read().split(b"\n")
        if lines[-1]:  # the last line lacks its newline (an interrupted write): end it first
            handle.write(b"\n")
            lines.append(b"")
        kept = [raw for raw in lines if raw.strip()]
        entry = {**decision.to_dict(), "prev": sha256(kept[-1]) if kept else ""}
        handle.write(json.dumps(entry, ensure_ascii=False).encode() + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    decision.line = len(lines)
    return decision.line


# ---------------------------------------------------------------------------------------------
# What a decision is bound to


@dataclass
class Digest:
    value: str
    results: str
    result_files: int
    items: str
    item_count: int

    def to_dict(self) -> dict:
        return {"algorithm": "sha256", "value": self.value, "results": self.results,
                "result_files": self.result_files, "items": self.items, "item_count": self.item_count}


def results_digest(results_dir: Path) -> tuple[str, int]:
    """SHA-256 over every file under ``results_dir`` (relative path, content's SHA-256); and how many."""
    files = sorted(p for p in results_dir.rglob("*") if p.is_file()) if results_dir.is_dir() else []
    listing = "".join(f"{p.relative_to(results_dir).as_posix()}\0{sha256(p.read_bytes())}\n" for p in files)
    return sha256(listing), len(files)


def items_digest(items: Sequence[dict]) -> str:
    """SHA-256 over what each item's judgement consists of (``DIGESTED_ITEM_FIELDS``)."""
    judged = [{k: item.get(k) for k in DIGESTED_ITEM_FIELDS} for item in items]
    return sha256(json.dumps(judged, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def digest(results_dir: Path, items: Sequence[dict]) -> Digest:
    """The digest of a run's results: its result files and the items of its sign-off."""
    results, count = results_digest(results_dir)
    judged = items_digest(items)
    return Digest(sha256(f"results {results}\nitems {judged}\n"), results, count, judged, len(items))


def mismatch(decision: Decision, now: Digest, statuses: dict[str, str] | None = None) -> str:
    """Why ``now`` differs from the decision's digest, in words ("" when it matches)."""
    was = decision.digest
    if was.get("value") == now.value:
        return ""
    why = []
    if was.get("results") != now.results:
        files = (f" ({was.get('result_files')} files then, {now.result_files} now)"
                 if was.get("result_files") != now.result_files else "")
        why.append(f"the result files changed{files}")
    if was.get("items") != now.items:
        changed = [i for i, s in (statuses or {}).items() if decision.item_statuses.get(i) != s]
        detail = (": " + ", ".join(f"{i} {decision.item_statuses.get(i, 'absent')} → {statuses[i]}"
                                   for i in changed[:6])) if changed else ""
        why.append("the sign-off items changed" + detail)
    return "; ".join(why) or "the digest differs"


SECRET_IN_URL = re.compile(r"(//[^:/@\s]+):[^@\s]+@")
PG_TARGET = re.compile(r"PostgreSQL (?:[^@\s,]+@)?(?P<host>[^\s:/,]+)(?::\d+)?/(?P<database>[^\s,]+)")


def target_of(facts: dict) -> dict:
    """The run's target as a decision records it: mode, host, database (from the secret-free facts)."""
    described = SECRET_IN_URL.sub(r"\1:***@", str(facts.get("target") or ""))
    mode = str(facts.get("mode") or "?")
    found = PG_TARGET.search(described)
    if found:
        host, database = found["host"], found["database"]
    elif mode == "embedded":
        host, database = "localhost (throwaway servers)", "created by the run"
    else:
        host = database = None
    return {"mode": mode, "host": host, "database": database, "description": described or None}


def target_text(target: dict) -> str:
    return " · ".join(str(target.get(k) or "?") for k in ("mode", "host", "database"))


# ---------------------------------------------------------------------------------------------
# Rules


def parse_waivers(pairs: Sequence[str], known_ids: Sequence[str]) -> dict[str, str]:
    """``--waive ID=REASON`` values as {ID: reason}, in checklist order; one-line errors."""
    waivers: dict[str, str] = {}
    for pair in pairs:
        item_id, sep, reason = pair.partition("=")
        item_id, reason = item_id.strip().upper(), reason.strip()
        if not sep:
            raise SuiteError(f"--waive {pair!r} is not ID=REASON",
                             "write e.g. --waive RES-1='not automated yet'")
        if item_id not in known_ids:
            raise SuiteError(f"--waive names {item_id or '(nothing)'!r}, which is not a checklist item",
                             "use an ID from reports/signoff.md, e.g. ENV-1")
        if not reason:
            raise SuiteError(f"--waive {item_id}= has an empty reason",
                             f"say why the item is accepted: --waive {item_id}='...'")
        if item_id in waivers:
            raise SuiteError(f"{item_id} is waived twice", f"give one --waive {item_id}=REASON")
        waivers[item_id] = reason
    return {i: waivers[i] for i in known_ids if i in waivers}


def needing_waiver(items: Sequence[dict]) -> dict[str, str]:
    """Items an approval must waive, with why: not passed, or a figure past its regression line."""
    need = {}
    for item in items:
        if any(f.get("past_regression_line") for f in item.get("figures") or []):
            need[item["id"]] = "past regression line"
        elif item["status"] != "passed":
            need[item["id"]] = item["status"]
    return need


def compact(need: dict[str, str]) -> str:
    """E.g. ``failed: ETF-4; not covered (2): RES-1, RES-2`` (grouped by why, in checklist order)."""
    groups = {why: [i for i, w in need.items() if w == why] for why in NEEDS_WAIVER_ORDER}
    groups.update({w: [i for i, x in need.items() if x == w] for w in need.values() if w not in groups})
    return "; ".join(f"{why}{f' ({len(ids)})' if len(ids) > 1 else ''}: {', '.join(ids)}"
                     for why, ids in groups.items() if ids)


def check_decision(decision: str, note: str, waivers: dict[str, str], items: Sequence[dict],
                   run_id: str) -> None:
    """Refuse, with one line, a decision the rules do not allow (see the module docstring)."""
    if decision == REJECT:
        if not note.strip():
            raise SuiteError(f"a rejection of run {run_id} needs a note",
                             "add --note 'why the release is rejected'")
        if waivers:
            raise SuiteError("a rejection waives nothing", "drop --waive, or record --decision approve")
        return
    need = needing_waiver(items)
    extra = [i for i in waivers if i not in need]
    if extra:
        raise SuiteError(f"{', '.join(extra)} passed and need{'s' if len(extra) == 1 else ''} no waiver",
                         "drop " + " ".join(f"--waive {i}=..." for i in extra))
    missing = {i: why for i, why in need.items() if i not in waivers}
    if missing:
        of = f"{len(missing)} of {len(need)} items" if waivers else f"{len(missing)} items"
        raise SuiteError(f"approval of run {run_id} refused: {of} need a waiver [{compact(missing)}]",
                         "add --waive ID=REASON for each of them, or --decision reject --note WHY")


def require_text(value: str, option: str, example: str) -> str:
    if not value or not value.strip():
        raise SuiteError(f"{option} is empty", f"say who decides, e.g. {option} {example}")
    return value.strip()
