"""The coverage gate and the run's selection: which scenarios carry which checklist tags.

Feature files are read with behave's own parser (``behave.parser.parse_file``) and selections are
computed with behave's own tag expressions, so what this module calls "the scenarios of ENV-1" or
"selected by ``--tags``" is exactly what behave itself would run. The Allure listener writes no
result for a scenario that a tag expression filtered out, so the sign-off learns about unselected
scenarios from here, not from the results.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from behave.parser import parse_file
from behave.tag_expression import make_tag_expression

from tickstock_acceptance.config import checklist
from tickstock_acceptance.config.checklist import ID_PATTERN, TAG_PREFIX, Item
from tickstock_acceptance.config.paths import ROOT

FEATURES_DIR = ROOT / "features"


@dataclass(frozen=True)
class TaggedScenario:
    """One runnable scenario (outline rows count one each) and the checklist IDs its tags name."""

    feature_file: str
    line: int
    name: str
    tags: frozenset[str]
    checklist_ids: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.feature_file}:{self.line}"


@dataclass
class CoverageReport:
    """What the gate found: one readable line per error, and the scenarios behind each ID."""

    errors: list[str] = field(default_factory=list)
    scenarios_by_id: dict[str, list[TaggedScenario]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def feature_files(paths: Sequence[str | Path] = ()) -> list[Path]:
    """The ``*.feature`` files behave would read for these paths (default: ``features/``).

    A ``file.feature:LINE`` argument counts as its whole file (the sign-off then shows the
    scenarios that produced no result as ``not run``, which is what they are).
    """
    found: list[Path] = []
    for raw in paths or [FEATURES_DIR]:
        path = Path(re.sub(r":\d+(:\d+)*$", "", str(raw)))
        path = path if path.is_absolute() else ROOT / path
        found += sorted(path.rglob("*.feature")) if path.is_dir() else [path]
    return found


def scan(paths: Sequence[str | Path] = ()) -> list[TaggedScenario]:
    """Every scenario in the feature files, with its effective tags (feature + rule + own)."""
    scenarios = []
    for path in feature_files(paths):
        feature = parse_file(str(path))
        if feature is None:  # an empty file
            continue
        rel = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        for scenario in feature.walk_scenarios():
            tags = frozenset(str(t) for t in scenario.effective_tags)
            ids = tuple(checklist.ids_from_tags(sorted(tags)))
            scenarios.append(TaggedScenario(rel, scenario.line, scenario.name, tags, ids))
    return scenarios


def check_coverage(scenarios: Iterable[TaggedScenario], items: Sequence[Item] | None = None
                   ) -> CoverageReport:
    """Compare tagged scenarios with the checklist; every problem becomes one error line.

    Errors: an item with no scenario that is not marked ``not_yet_automated``; a scenario tagged
    for a marked item (the mark is stale: remove it from checklist.toml); a tag naming an ID that
    is not in the checklist (a typo, or an item that does not exist).
    """
    items = list(items if items is not None else checklist.items())
    known = {item.id: item for item in items}
    report = CoverageReport(scenarios_by_id={item.id: [] for item in items})
    for scenario in scenarios:
        for item_id in scenario.checklist_ids:
            if item_id not in known:
                shape = "" if ID_PATTERN.match(item_id) else " (IDs look like ETF-4)"
                report.errors.append(f"unknown checklist ID {item_id!r}{shape} in tag "
                                     f"@{TAG_PREFIX}{item_id} of {scenario.where} ({scenario.name})")
                continue
            report.scenarios_by_id[item_id].append(scenario)
    for item in items:
        tagged = report.scenarios_by_id[item.id]
        if item.not_yet_automated and tagged:
            where = ", ".join(s.where for s in tagged)
            report.errors.append(f"{item.id}: marked not_yet_automated in checklist.toml but scenarios "
                                 f"carry @{TAG_PREFIX}{item.id} ({where}); remove the stale mark")
        elif not item.not_yet_automated and not tagged:
            report.errors.append(f"{item.id}: no scenario carries @{TAG_PREFIX}{item.id} "
                                 f"({item.text}); tag its scenario or mark it not_yet_automated")
    return report


def tag_expression(tags: Sequence[str]):
    """behave's tag expression for ``--tags`` options (several options are ANDed, as in behave)."""
    return make_tag_expression(list(tags)) if tags else None


def selected(scenarios: Iterable[TaggedScenario], tags: Sequence[str]) -> list[TaggedScenario]:
    """The scenarios behave runs for these ``--tags`` options (all of them when there are none)."""
    expression = tag_expression(tags)
    return [s for s in scenarios if expression is None or expression.check(s.tags)]
