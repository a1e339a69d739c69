"""The coverage gate: every checklist item has a scenario unless marked not yet automated.

``test_every_checklist_item_has_a_scenario_or_is_marked`` runs against the real ``features/`` and
``checklist.toml``: it is the gate ``make test`` enforces, and it fails naming the items.
"""

from __future__ import annotations

import re
import shutil

from tickstock_acceptance.config import checklist
from tickstock_acceptance.config.checklist import Item
from tickstock_acceptance.reporting import coverage

FEATURE = """\
Feature: Sample
  @checklist:ENV-1
  Scenario: one
    Given a thing

  @checklist:ENV-1 @checklist:RED-1
  Scenario Outline: two <n>
    Given a thing
    Examples:
      | n |
      | 1 |
      | 2 |

  @checklist:BOGUS-9 @wip
  Scenario: three
    Given a thing
"""
ITEMS = [Item("ENV-1", "S", "a", (), False), Item("ENV-2", "S", "b", (), False),
         Item("RED-1", "S", "c", (), True), Item("RES-1", "S", "d", (), True)]


def test_every_checklist_item_has_a_scenario_or_is_marked():
    report = coverage.check_coverage(coverage.scan())
    assert report.ok, "coverage gate:\n" + "\n".join(report.errors)


def test_gate_names_missing_items_stale_marks_and_unknown_ids(tmp_path):
    (tmp_path / "a.feature").write_text(FEATURE)
    scenarios = coverage.scan([tmp_path])
    assert len(scenarios) == 4  # outline rows count one each
    errors = coverage.check_coverage(scenarios, ITEMS).errors
    assert any(e.startswith("ENV-2: no scenario carries @checklist:ENV-2") for e in errors)
    assert any(e.startswith("RED-1: marked not_yet_automated") and "stale" in e for e in errors)
    assert any("unknown checklist ID 'BOGUS-9'" in e for e in errors)
    assert not any(e.startswith(("ENV-1", "RES-1")) for e in errors)
    assert len(errors) == 3


def test_selection_follows_behave_tag_expressions(tmp_path):
    (tmp_path / "a.feature").write_text(FEATURE)
    scenarios = coverage.scan([tmp_path])
    assert len(coverage.selected(scenarios, ["@checklist:RED-1"])) == 2
    assert len(coverage.selected(scenarios, ["not @wip"])) == 3
    assert len(coverage.selected(scenarios, ["@checklist:ENV-1", "not @checklist:RED-1"])) == 1  # ANDed
    assert len(coverage.selected(scenarios, [])) == 4


def test_removing_the_only_tag_of_an_unmarked_item_fails_the_gate_naming_it(tmp_path):
    """The proof the gate bites: a temp copy of features/ with one item's only tag removed."""
    copy = tmp_path / "features"
    shutil.copytree(coverage.FEATURES_DIR, copy)
    report = coverage.check_coverage(coverage.scan([copy]))
    victim = next(i for i in checklist.items()
                  if not i.not_yet_automated and len(report.scenarios_by_id[i.id]) == 1)
    tag = f"@{checklist.TAG_PREFIX}{victim.id}"
    for path in copy.rglob("*.feature"):
        text = path.read_text()
        if tag in text:
            path.write_text(re.sub(re.escape(tag) + r"(?![\w-])", "", text))
    errors = coverage.check_coverage(coverage.scan([copy])).errors
    assert [e for e in errors if e.startswith(f"{victim.id}: no scenario carries {tag}")], errors
