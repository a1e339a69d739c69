"""The Cache Synchronization problem finders: each takes what the suite observed and returns the
problems in domain words ([] when the behaviour holds). Pure functions; the flow collects the inputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from tickstock_acceptance.contract.cache_sync import AUTOMATION_CHANNEL, TASKS, SymbolRow
from tickstock_acceptance.sut.cache_sync import ChangeRow, StoredUniverse, SyncRunRow
from tickstock_acceptance.sut.subscriber import Received

SYNC_EVENTS = (
    "daily_sync_complete",
    "universe_synchronized",
    "ipo_assignment",
    "delisting_cleanup",
    "etf_correlation_update",
)
SHOWN = 5  # differences listed in a message before "... and N more"


def _listed(items: list[str]) -> str:
    more = f" ... and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def data(r: Received) -> dict:
    return (r.message or {}).get("data") or {}


def of_run(received: list[Received], run_id: int, event_type: str | None = None) -> list[Received]:
    """The synchronizer's messages that carry ``run_id`` (optionally of one event type), as published on
    their own channels (the automation channel's copy of daily_sync_complete is RED-3's to judge)."""
    return [
        r
        for r in received
        if r.event_type in SYNC_EVENTS
        and data(r).get("run_id") == run_id
        and str(r.channel) != AUTOMATION_CHANNEL
        and (event_type is None or r.event_type == event_type)
    ]


# -- SYNC-1: waiting for the signal --------------------------------------------------------------
def quiet_problems(
    runs_before: int, runs_after: int, changes_before: int, changes_after: int, messages: list[Received]
) -> list[str]:
    problems = []
    if runs_after != runs_before:
        problems.append(f"{runs_after - runs_before} sync run(s) started without an end-of-day signal")
    if changes_after != changes_before:
        problems.append(f"{changes_after - changes_before} change-log rows were written without a signal")
    sent = [r for r in messages if r.event_type in SYNC_EVENTS]
    if sent:
        problems.append(
            f"{len(sent)} synchronizer messages were published without a signal "
            f"({_listed(sorted({r.event_type or '?' for r in sent}))})"
        )
    return problems


def single_run_problems(runs: list[SyncRunRow], day) -> list[str]:
    if len(runs) != 1:
        return [f"{len(runs)} sync runs for trading day {day}, expected exactly one"]
    return []


def stopped_problems(runs: list[SyncRunRow], day) -> list[str]:
    return [f"a sync of {day} started while the synchronizer was stopped"] if runs else []


def duplicate_problems(runs: list[SyncRunRow], day, new_changes: int, received: list[Received]) -> list[str]:
    """A second signal for a day already synced: still one run, no change-log rows, one completion."""
    problems = single_run_problems(runs, day)
    if new_changes:
        problems.append(f"{new_changes} change-log rows were written for the second signal")
    completes = [
        r
        for r in received
        if r.event_type == "daily_sync_complete"
        and str(r.channel) != AUTOMATION_CHANNEL
        and data(r).get("trading_date") == day.isoformat()
    ]
    if len(completes) != 1:
        problems.append(f"{len(completes)} daily_sync_complete for {day}, expected one")
    return problems


def overlap_problems(
    who: str, load_window: tuple[float, float], sync_window: tuple[float, float], operations: int
) -> list[str]:
    """The readers or writers ran from before the sync started until after it ended, and worked during it."""
    problems = []
    if not (load_window[0] <= sync_window[0] and sync_window[1] <= load_window[1]):
        problems.append(f"the {who} did not span the whole sync")
    if not operations:
        problems.append(f"none of the {who}' operations overlapped the sync")
    return problems


def window_problems(run: SyncRunRow, limit_s: float, target: str) -> list[str]:
    if run.duration_s is None:
        return [f"{run.trading_date}: the sync did not finish"]
    if run.duration_s > limit_s:
        return [f"{run.trading_date}: the sync took {run.duration_s:.1f} s, over {target}"]
    return []


# -- task results and totals (SYNC-4) -------------------------------------------------------------
def task_problems(
    run: SyncRunRow, complete: Received | None, expect_failed: tuple[str, ...] = ()
) -> list[str]:
    """Each task's status, as the run row and the completion message report it, against what is
    expected (every task completed, or the named ones failed with their error)."""
    problems = []
    if complete is None:
        return [f"no daily_sync_complete for run {run.run_id} (trading day {run.trading_date})"]
    summary = data(complete).get("task_summary") or {}
    for task in TASKS:
        entry = summary.get(task)
        status = entry.get("status") if isinstance(entry, dict) else entry
        want = "failed" if task in expect_failed else "completed"
        if status != want:
            error = entry.get("error") if isinstance(entry, dict) else None
            problems.append(
                f"task {task} says {status!r}, expected {want!r}" + (f" ({error})" if error else "")
            )
        elif want == "failed" and not (isinstance(entry, dict) and entry.get("error")):
            problems.append(f"task {task} says failed without its error")
    stored = run.task_summary or {}
    for task in TASKS:
        a = stored.get(task, {}).get("status") if isinstance(stored.get(task), dict) else stored.get(task)
        b = summary.get(task, {}).get("status") if isinstance(summary.get(task), dict) else summary.get(task)
        if a != b:
            problems.append(f"task {task}: the run row says {a!r}, the message says {b!r}")
    want_run = "failed" if expect_failed else "completed"
    if run.status != want_run:
        problems.append(f"the run's status is {run.status!r}, expected {want_run!r}")
    return problems


def totals_problems(complete: Received, changes: list[ChangeRow]) -> list[str]:
    """daily_sync_complete's totals against the run's change log in the database."""
    d = data(complete)
    problems = []
    if d.get("total_changes") != len(changes):
        problems.append(
            f"total_changes says {d.get('total_changes')}, the change log has {len(changes)} rows"
        )
    by_type = dict(Counter(c.change_type for c in changes))
    said = {k: v for k, v in (d.get("changes_by_type") or {}).items() if v}
    if said != by_type:
        problems.append(f"changes_by_type says {said}, the change log has {by_type}")
    by_task = Counter(c.task for c in changes)
    for task, entry in (d.get("task_summary") or {}).items():
        if isinstance(entry, dict) and entry.get("changes", 0) != by_task.get(task, 0):
            problems.append(
                f"task {task} says {entry.get('changes')} changes, the change log has {by_task.get(task, 0)}"
            )
    return problems


def synchronized_problems(
    received: list[Received], run_id: int, changes: list[ChangeRow], stored: Mapping[str, StoredUniverse]
) -> list[str]:
    """One universe_synchronized per changed universe, after daily_sync_complete, with counts that
    agree with the change log and the stored universe."""
    messages = of_run(received, run_id)
    problems = []
    kinds = [
        r.event_type for r in messages if r.event_type in ("daily_sync_complete", "universe_synchronized")
    ]
    if kinds.count("daily_sync_complete") != 1:
        problems.append(f"{kinds.count('daily_sync_complete')} daily_sync_complete messages, expected one")
    elif "universe_synchronized" in kinds[: kinds.index("daily_sync_complete")]:
        problems.append("universe_synchronized arrived before daily_sync_complete")
    per_universe = Counter(c.universe for c in changes)
    announced: dict[str, dict] = {}
    for r in of_run(received, run_id, "universe_synchronized"):
        name = data(r).get("universe")
        if name in announced:
            problems.append(f"universe_synchronized for {name} arrived twice")
        announced[name] = data(r)
    missing = sorted(set(per_universe) - set(announced))
    extra = sorted(set(announced) - set(per_universe))
    if missing:
        problems.append(f"no universe_synchronized for changed universes {_listed(missing)}")
    if extra:
        problems.append(f"universe_synchronized for universes without a change {_listed(extra)}")
    for name, d in sorted(announced.items()):
        if name not in per_universe:
            continue
        rows = [c for c in changes if c.universe == name]
        if d.get("change_count") != len(rows):
            problems.append(f"{name}: change_count {d.get('change_count')}, the change log has {len(rows)}")
        actions = {k: v for k, v in (d.get("actions") or {}).items() if v}
        if actions != dict(Counter(c.change_type for c in rows)):
            problems.append(
                f"{name}: actions {actions}, the change log has {dict(Counter(c.change_type for c in rows))}"
            )
        universe = stored.get(name)
        if universe is not None and universe.symbols and d.get("symbol_count") != len(universe.symbols):
            problems.append(f"{name}: symbol_count {d.get('symbol_count')}, stored {len(universe.symbols)}")
    return problems


# -- the universes follow the contract's rules ----------------------------------------------------
def universe_problems(stored: Mapping[str, StoredUniverse], expected: Mapping[str, list[str]]) -> list[str]:
    problems = []
    for name, members in sorted(expected.items()):
        have = stored.get(name)
        if have is None:
            problems.append(f"{name} is not stored (expected {len(members)} members)")
            continue
        lacking, surplus = sorted(set(members) - set(have.symbols)), sorted(set(have.symbols) - set(members))
        if lacking or surplus:
            problems.append(
                f"{name}: {len(have.symbols)} members, expected {len(members)}"
                + (f"; lacks {_listed(lacking)}" if lacking else "")
                + (f"; should not hold {_listed(surplus)}" if surplus else "")
            )
    return problems


def inactive_member_problems(stored: Mapping[str, StoredUniverse], rows: list[SymbolRow]) -> list[str]:
    """No universe of the synchronizer holds an inactive symbol or one missing from ``symbols``."""
    active = {r.symbol for r in rows if r.active}
    known = {r.symbol for r in rows}
    problems = []
    for name, u in sorted(stored.items()):
        if u.type == "etf_correlation":
            continue
        gone = sorted(s for s in u.symbols if s not in active)
        if gone:
            problems.append(
                f"{name} still holds {len(gone)} inactive or missing symbols: "
                f"{_listed([s + ('' if s in known else ' (missing)') for s in gone])}"
            )
    return problems


def unchanged_problems(
    before: Mapping[str, StoredUniverse], after: Mapping[str, StoredUniverse]
) -> list[str]:
    problems = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a is None or b is None:
            problems.append(f"{name} was {'removed' if b is None else 'created'}")
        elif sorted(a.symbols) != sorted(b.symbols):
            problems.append(f"{name} went from {len(a.symbols)} to {len(b.symbols)} members")
    return problems


# -- SYNC-3: IPO assignment -------------------------------------------------------------------------
def ipo_problems(
    symbol: str,
    universe: str,
    stored: Mapping[str, StoredUniverse],
    received: list[Received],
    run_id: int,
    announcement_id: str | None,
    changes: list[ChangeRow],
) -> list[str]:
    problems = []
    holding = sorted(n for n, u in stored.items() if symbol in u.symbols)
    if holding != [universe]:
        problems.append(f"{symbol} is in {holding or 'no universe'}, expected exactly {universe}")
    said = [data(r) for r in of_run(received, run_id, "ipo_assignment") if data(r).get("symbol") == symbol]
    if not said:
        problems.append(f"no ipo_assignment message names {symbol}")
    for d in said:
        if d.get("universe") != universe:
            problems.append(f"ipo_assignment puts {symbol} in {d.get('universe')}, expected {universe}")
        if announcement_id and d.get("announcement_id") != announcement_id:
            problems.append(
                f"ipo_assignment answers announcement {d.get('announcement_id')}, "
                f"the IPO monitor's was {announcement_id}"
            )
    if not any(c.symbol == symbol and c.universe == universe and c.change_type == "added" for c in changes):
        problems.append(f"the change log has no 'added' row for {symbol} in {universe}")
    return problems


# -- ETF correlations ---------------------------------------------------------------------------------
def correlation_problems(
    stored: Mapping[str, StoredUniverse],
    expected: Mapping[str, dict | None],
    names: Mapping[str, str],
    tolerance: float,
) -> list[str]:
    """Each theme's stored correlations against the suite's computation (``names``: theme → row name)."""
    problems = []
    for theme, want in sorted(expected.items()):
        row = stored.get(names[theme])
        if want is None:
            if row is not None:
                problems.append(f"{theme}: correlations stored, but too few members have bars for the rule")
            continue
        if row is None:
            problems.append(f"{theme}: no correlations stored ({len(want['pairs'])} pairs expected)")
            continue
        got = {(a, b): r for a, b, r in row.value.get("pairs") or []}
        exp = {(a, b): r for a, b, r in want["pairs"]}
        if set(got) != set(exp):
            problems.append(
                f"{theme}: pairs for {sorted(row.value.get('symbols') or [])[:SHOWN]}..., "
                f"expected members {want['symbols'][:SHOWN]}... ({len(got)} vs {len(exp)} pairs)"
            )
            continue
        off = sorted((abs(got[k] - exp[k]), k) for k in exp if abs(got[k] - exp[k]) > tolerance)
        if off:
            (delta, (a, b)) = off[-1]
            problems.append(
                f"{theme}: {len(off)} correlations differ from the bars' (worst {a}/{b}: "
                f"{got[(a, b)]} vs {exp[(a, b)]})"
            )
    return problems


def correlation_message_problems(
    received: list[Received], run_id: int, stored: Mapping[str, StoredUniverse], names: Mapping[str, str]
) -> list[str]:
    """One etf_correlation_update per theme whose correlations were (re)computed, equal to the row."""
    problems = []
    messages = {data(r).get("theme"): data(r) for r in of_run(received, run_id, "etf_correlation_update")}
    for theme, name in sorted(names.items()):
        row = stored.get(name)
        if row is None:
            continue
        d = messages.get(theme)
        if d is None:
            problems.append(f"no etf_correlation_update for {theme}")
        elif d.get("pairs") != row.value.get("pairs"):
            problems.append(f"the etf_correlation_update for {theme} differs from the stored correlations")
    return problems


# -- SYNC-2 / DB-4: neighbours ------------------------------------------------------------------------
def lost_update_problems(last_written: Mapping[str, int], final: Mapping[str, int]) -> list[str]:
    lost = sorted(s for s, cap in last_written.items() if final.get(s) != cap)
    if not lost:
        return []
    s = lost[0]
    return [
        f"{len(lost)} of {len(last_written)} written market caps are not what was last committed "
        f"(e.g. {s}: wrote {last_written[s]}, found {final.get(s)})"
    ]


def database_error_problems(read_errors: list[str], write_errors: list[str], deadlocks: int) -> list[str]:
    problems = []
    if deadlocks:
        problems.append(f"PostgreSQL counted {deadlocks} deadlock(s) during the sync")
    for who, errors in (("readers", read_errors), ("writers", write_errors)):
        if errors:
            top = Counter(errors).most_common(1)[0][0]
            problems.append(f"the {who} hit {len(errors)} database errors (e.g. {top})")
    return problems


# -- RED-3: the automation stream -------------------------------------------------------------------
def automation_problems(entries: list[Received], day, live: Received | None, pending: int) -> list[str]:
    mine = [
        r
        for r in entries
        if r.event_type == "daily_sync_complete" and data(r).get("trading_date") == day.isoformat()
    ]
    problems = []
    if len(mine) != 1:
        problems.append(
            f"the automation consumer group received {len(mine)} daily_sync_complete for "
            f"{day}, expected exactly one"
        )
    for r in mine:
        problems.extend(f"automation stream: {p}" for p in r.problems())
        if live is not None and r.message_id != live.message_id:
            problems.append(
                "the automation stream's daily_sync_complete is not the message published on "
                "tickstock.cache.sync_complete (message ids differ)"
            )
    if live is None:
        problems.append(f"no daily_sync_complete for {day} on tickstock.cache.sync_complete")
    if pending:
        problems.append(f"{pending} entries left pending for the automation consumer group")
    return problems
