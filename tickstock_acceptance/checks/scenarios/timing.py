"""How long generating and loading every scenario takes (SCN-5).

The producer reports its generation and loading times (seconds, summed over the scenarios); the
suite also has the process's wall time (start to exit, interpreter start-up included). Both
reported figures are judged against the spec's 2-minute targets; the wall time is evidence.
"""

from __future__ import annotations

from tickstock_acceptance.contract.scenarios import ScenarioContractSet
from tickstock_acceptance.sut.producer import ProducerRun


def reported_seconds(run: ProducerRun, field: str) -> float:
    """A time the loader reports (``generation_s``, ``loading_s``); fails when it is missing."""
    value = run.report.get(field)
    if not isinstance(value, (int, float)) or value < 0:
        raise AssertionError(f"the loader's report has no {field} (got {value!r}): {run.describe()}")
    return float(value)


def coverage_problems(run: ProducerRun, contract: ScenarioContractSet) -> list[str]:
    """The timed run generated and loaded every contract scenario, each with its rows."""
    if run.returncode != 0:
        return [run.describe()]
    done = {s.get("scenario"): s for s in run.report.get("scenarios") or [] if isinstance(s, dict)}
    problems = [f"{name}: not in the loader's report" for name in contract.scenarios if name not in done]
    for name, scenario in contract.scenarios.items():
        if name in done and done[name].get("rows") != scenario.days:
            problems.append(f"{name}: {done[name].get('rows')} rows reported, "
                            f"the contract says {scenario.days}")
    return problems
