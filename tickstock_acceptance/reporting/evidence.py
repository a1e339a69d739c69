"""Measured numbers attached to the Allure result as evidence (name, value, unit, target).

Each figure is one JSON attachment named ``evidence: <name>``; the sign-off report reads them
back from ``allure-results``. Latencies are kept as distributions (p50/p95/p99/max).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import allure

from tickstock_acceptance.config.targets import Target

ATTACHMENT_PREFIX = "evidence: "


def percentile(samples, q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Distribution:
    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, samples) -> Distribution:
        samples = list(samples)
        return cls(len(samples), percentile(samples, 50), percentile(samples, 95),
                   percentile(samples, 99), max(samples), sum(samples) / len(samples))


@dataclass
class Evidence:
    name: str
    value: float
    unit: str
    target: float | None = None
    target_name: str | None = None
    regression_line: float | None = None
    minimum: bool = False
    higher_is_better: bool = False  # a rise is an improvement (throughput); baseline comparison reads it
    passed: bool | None = None
    distribution: dict | None = None
    note: str = ""


def record(name: str, value: float, unit: str, target: Target | None = None,
           distribution: Distribution | None = None, note: str = "",
           higher_is_better: bool = False) -> Evidence:
    """Attach one figure (and its target, if any) to the running Allure test.

    ``higher_is_better`` marks figures whose rise is an improvement (e.g. queries per second), so
    the baseline comparison does not call it "worse"; a target with ``minimum`` implies it.
    """
    ev = Evidence(name=name, value=round(value, 6), unit=unit, note=note,
                  distribution=asdict(distribution) if distribution else None,
                  higher_is_better=higher_is_better)
    if target is not None:
        if target.unit != unit:
            raise ValueError(f"{name}: unit {unit} does not match target unit {target.unit}")
        ev.target, ev.target_name = target.limit, target.name
        ev.regression_line, ev.minimum = target.regression_line, target.minimum
        ev.higher_is_better = higher_is_better or target.minimum
        ev.passed = target.met_by(value)
    allure.attach(json.dumps(asdict(ev), indent=2), name=ATTACHMENT_PREFIX + name,
                  attachment_type=allure.attachment_type.JSON)
    return ev


def record_distribution(name: str, samples, unit: str, target: Target | None = None,
                        judged_by: str = "p95", higher_is_better: bool = False) -> Evidence:
    """Attach a distribution; the figure judged against the target is ``judged_by``."""
    dist = Distribution.of(samples)
    return record(name, getattr(dist, judged_by), unit, target, distribution=dist,
                  note=f"{judged_by} of {dist.count} samples", higher_is_better=higher_is_better)


def assert_within(name: str, samples, unit: str, target: Target, judged_by: str = "p95") -> Evidence:
    """Attach the distribution, then fail the step when its ``judged_by`` figure misses the target.

    The evidence is attached first, so a failed result still shows the numbers that failed it.
    """
    samples = list(samples)
    if not samples:
        raise AssertionError(f"{name}: no samples were measured")
    ev = record_distribution(name, samples, unit, target, judged_by=judged_by)
    if not ev.passed:
        raise AssertionError(f"{name}: {judged_by} {ev.value:.4g} {unit} misses {target.describe()} "
                             f"({ev.distribution['count']} samples)")
    return ev
