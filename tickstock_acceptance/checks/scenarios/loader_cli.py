"""The historical loader's command line in scenario mode (SCN-4), run as a subprocess.

What it lists, what ``--help`` says, that ``--scenario NAME --symbols A,B`` loads exactly the
contract's rows for exactly those symbols, and that each bad input ends in one line on stderr, a
non-zero exit and nothing written (row counts before and after).
"""

from __future__ import annotations

from tickstock_acceptance.contract.scenarios import ScenarioContract, ScenarioContractSet
from tickstock_acceptance.sut.producer import ProducerRun


def listing_problems(run: ProducerRun, contract: ScenarioContractSet) -> list[str]:
    """``--list-scenarios`` names exactly the contract's scenarios, with their symbols, lengths, plants."""
    if run.returncode != 0:
        return [run.describe()]
    listed = run.report.get("scenarios")
    if not isinstance(listed, list):
        return [f"no scenario list in the report: {run.stdout.strip()[-200:]!r}"]
    by_name = {s.get("name"): s for s in listed if isinstance(s, dict)}
    problems = []
    missing = sorted(set(contract.scenarios) - set(by_name))
    extra = sorted(set(by_name) - set(contract.scenarios))
    if missing:
        problems.append(f"not listed: {missing}")
    if extra:
        problems.append(f"listed but not in the contract: {extra}")
    if len(by_name) != len(listed):
        problems.append(f"{len(listed)} entries for {len(by_name)} names")
    for name, want in contract.scenarios.items():
        got = by_name.get(name)
        if got is None:
            continue
        if got.get("symbol") != want.symbol:
            problems.append(f"{name}: symbol {got.get('symbol')}, the contract says {want.symbol}")
        if got.get("days") != want.days:
            problems.append(f"{name}: {got.get('days')} days, the contract says {want.days}")
        plants = sorted((p.get("pattern"), p.get("date")) for p in got.get("planted") or [])
        if plants != sorted((p.pattern, p.date.isoformat()) for p in want.planted):
            problems.append(f"{name}: planted {plants}, the contract says "
                            f"{[p.as_dict() for p in want.planted]}")
    return problems


def help_problems(run: ProducerRun, options: list[str]) -> list[str]:
    """``--help`` exits 0 and names every option."""
    problems = [] if run.returncode == 0 else [f"exited {run.returncode}: {run.reported_error()}"]
    text = run.stdout + run.stderr
    problems += [f"the help does not mention {option}" for option in options if option not in text]
    return problems


def load_problems(run: ProducerRun, scenario: ScenarioContract, symbols: list[str], rows_each: int,
                  after: dict[str, tuple[int, str]], registered: dict[str, dict]) -> list[str]:
    """The command succeeded and each symbol holds exactly the scenario's rows, under that scenario."""
    if run.returncode != 0:
        return [run.describe()]
    problems = []
    if rows_each != scenario.days:
        problems.append(f"the feature expects {rows_each} rows per symbol, the contract's {scenario.name} "
                        f"has {scenario.days}")
    reported = run.report.get("rows")
    if reported != len(symbols) * scenario.days:
        problems.append(f"the loader reports {reported} rows, expected {len(symbols)} × {scenario.days}")
    for symbol in symbols:
        rows = after.get(symbol, (0, ""))[0]
        if rows != scenario.days:
            problems.append(f"{symbol}: {rows} rows stored, expected {scenario.days}")
        got = (registered.get(symbol) or {}).get("scenario")
        if got != scenario.name:
            problems.append(f"{symbol}: registered under scenario {got}, expected {scenario.name}")
    return problems


def others_changed_problems(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]],
                            targets: list[str]) -> list[str]:
    """No synthetic symbol other than ``targets`` gained, lost or changed rows."""
    problems = []
    for symbol in sorted((set(before) | set(after)) - set(targets)):
        was, now = before.get(symbol, (0, "")), after.get(symbol, (0, ""))
        if was[0] != now[0]:
            problems.append(f"{symbol}: {was[0]} rows before, {now[0]} after")
        elif was[1] != now[1]:
            problems.append(f"{symbol}: its {now[0]} rows changed")
    return problems


def refusal_problems(run: ProducerRun, named: str) -> list[str]:
    """A non-zero exit and exactly one line on stderr, naming ``named``."""
    problems = []
    if run.returncode == 0:
        problems.append("the loader exited 0")
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    if len(lines) != 1:
        shown = " / ".join(ln.strip() for ln in lines[:3]) or "nothing"
        problems.append(f"{len(lines)} lines on stderr, not one: {shown}")
    elif named.lower() not in lines[0].lower():
        problems.append(f"the line does not name {named!r}: {lines[0].strip()}")
    return problems


def count_change_problems(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """Every table holds as many rows as before."""
    return [f"{table}: {before.get(table)} rows before, {after.get(table)} after"
            for table in sorted(set(before) | set(after)) if before.get(table) != after.get(table)]
