"""Measured numbers attached to the Allure result as evidence, and the record type they travel in.

A ``Measurement`` is one figure: name, value, unit, the target it was judged against (if any),
its regression line and, for latencies, its distribution (p50/p95/p99/max). The same record is
what a step attaches (one JSON attachment named ``evidence: <name>``, ``Measurement.to_dict``),
what the sign-off reads back from ``allure-results`` (``Measurement.from_dict``) and what the
performance history stores per run.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import allure

from tickstock_acceptance.config.targets import Target
from tickstock_acceptance.core.statistics import Distribution

ATTACHMENT_PREFIX = "evidence: "
# The note ``record_distribution`` writes, e.g. "p99 of 20 samples": which figure was judged.
JUDGED_BY_NOTE = re.compile(r"^(?P<stat>p\d+|max|mean)\s+of\s+(?P<count>\d+)\s+samples?\b")


@dataclass
class Measurement:
    """One measured figure with the target it was judged against (if any) and its distribution."""

    name: str
    value: float
    unit: str
    target: float | None = None
    target_name: str | None = None
    regression_line: float | None = None
    minimum: bool = False  # an "at least" target: the figure must stay at or above it
    higher_is_better: bool = False  # a rise is an improvement (throughput); baseline comparison reads it
    passed: bool | None = None  # met its target (None: judged against none)
    distribution: dict | None = None
    note: str = ""

    def __post_init__(self) -> None:
        self.higher_is_better = bool(self.higher_is_better or self.minimum)  # "at least" implies it

    @classmethod
    def judged(cls, name: str, value: float, unit: str, target: Target | None = None,
               distribution: Distribution | None = None, note: str = "",
               higher_is_better: bool = False) -> Measurement:
        """A figure, judged against ``target`` when there is one (whose unit it must share)."""
        m = cls(name=name, value=round(value, 6), unit=unit, note=note,
                distribution=distribution.to_dict() if distribution else None,
                higher_is_better=higher_is_better)
        if target is not None:
            if target.unit != unit:
                raise ValueError(f"{name}: unit {unit} does not match target unit {target.unit}")
            m.target, m.target_name = target.limit, target.name
            m.regression_line, m.minimum = target.regression_line, target.minimum
            m.higher_is_better = higher_is_better or target.minimum
            m.passed = target.met_by(value)
        return m

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping, name: str | None = None) -> Measurement:
        """Read an attachment or a stored history figure; missing keys take their defaults.

        ``name`` stands in for a record that does not carry one (history files of older runs,
        whose figures are named by their key only); unknown keys (e.g. their ``scenario``) are ignored.
        """
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["name"] = values.get("name") or name or "?"
        values["value"] = float(values.get("value", 0.0))
        values["unit"] = values.get("unit", "")
        for flag in ("minimum", "higher_is_better"):
            values[flag] = bool(values.get(flag, False))
        return cls(**values)

    # -- reading it against its target --------------------------------------------------------

    @property
    def has_target(self) -> bool:
        return self.target is not None

    @property
    def meets_target(self) -> bool | None:
        """Whether the figure met its target (None without one); the recorded judgement wins."""
        if self.target is None:
            return None
        if self.passed is not None:
            return self.passed
        return self.value >= self.target if self.minimum else self.value <= self.target

    @property
    def past_regression_line(self) -> bool:
        if self.regression_line is None:
            return False
        return self.value < self.regression_line if self.minimum else self.value > self.regression_line

    @property
    def target_ratio(self) -> float | None:
        """How far toward (< 1) or past (> 1) its target the figure is; None without a target.

        value / target for "at most" targets, target / value for "at least" ones, so the figure
        with the highest ratio is the one closest to, or furthest past, its line.
        """
        if self.target is None:
            return None
        if self.minimum:
            return self.target / self.value if self.value > 0 else math.inf
        if self.target <= 0:
            return math.inf if self.value > self.target else 0.0
        return self.value / self.target

    @property
    def judged_by(self) -> str | None:
        """The statistic of a distribution that was judged (``p99``, ``max``...), from its note.

        None for a figure measured once or without a distribution note: it has no percentile.
        """
        found = JUDGED_BY_NOTE.match(self.note or "")
        if not found or int(found["count"]) < 2:
            return None
        return found["stat"]

    def verdict(self) -> str:
        """Figure vs target vs regression line, in words."""
        if self.target is None:
            return "recorded (no target)"
        if self.past_regression_line:
            return "REGRESSION: past the regression line"
        return "meets target" if self.meets_target else "misses target, within the 25 % tolerance"

    def describe(self) -> str:
        sign = "≥" if self.minimum else "≤"
        text = f"{self.name} {self.value:g} {self.unit}"
        if self.target is not None:
            text += f" (target {sign} {self.target:g} {self.unit}, regression line {self.regression_line:g} "
            text += f"{self.unit})"
        return text

    def against_target(self) -> str:
        """The figure next to its target in a few words, e.g. ``message delivery p99 4.6 ms ≤ 100 ms``.

        The relation is the true one: ``>`` (or ``<`` for "at least" targets) when it misses.
        """
        stat = f" {self.judged_by}" if self.judged_by else ""
        text = f"{self.name}{stat} {short_number(self.value)} {self.unit}"
        if self.target is None:
            return text
        if self.minimum:
            relation = "≥" if self.meets_target else "<"
        else:
            relation = "≤" if self.meets_target else ">"
        return f"{text} {relation} {self.target:g} {self.unit}"


def short_number(value: float) -> str:
    """Three significant digits, without an exponent for large values (1234 stays 1234)."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def record(name: str, value: float, unit: str, target: Target | None = None,
           distribution: Distribution | None = None, note: str = "",
           higher_is_better: bool = False) -> Measurement:
    """Attach one figure (and its target, if any) to the running Allure test.

    ``higher_is_better`` marks figures whose rise is an improvement (e.g. queries per second), so
    the baseline comparison does not call it "worse"; a target with ``minimum`` implies it.
    """
    m = Measurement.judged(name, value, unit, target, distribution, note, higher_is_better)
    allure.attach(json.dumps(m.to_dict(), indent=2), name=ATTACHMENT_PREFIX + name,
                  attachment_type=allure.attachment_type.JSON)
    return m


def record_distribution(name: str, samples, unit: str, target: Target | None = None,
                        judged_by: str = "p95", higher_is_better: bool = False) -> Measurement:
    """Attach a distribution; the figure judged against the target is ``judged_by``."""
    dist = Distribution.of(samples)
    return record(name, getattr(dist, judged_by), unit, target, distribution=dist,
                  note=f"{judged_by} of {dist.count} samples", higher_is_better=higher_is_better)


def assert_within(name: str, samples, unit: str, target: Target, judged_by: str = "p95") -> Measurement:
    """Attach the distribution, then fail the step when its ``judged_by`` figure misses the target.

    The evidence is attached first, so a failed result still shows the numbers that failed it.
    """
    samples = list(samples)
    if not samples:
        raise AssertionError(f"{name}: no samples were measured")
    m = record_distribution(name, samples, unit, target, judged_by=judged_by)
    if not m.passed:
        raise AssertionError(f"{name}: {judged_by} {m.value:.4g} {unit} misses {target.describe()} "
                             f"({m.distribution['count']} samples)")
    return m
