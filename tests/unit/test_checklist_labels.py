import re
from pathlib import Path

from tickstock_acceptance.config.checklist import ids_from_tags, items
from tickstock_acceptance.reporting.allure_formatter import checklist_labels

SHARED_IDS = Path(__file__).resolve().parents[3] / "shared" / "checklist-ids.md"


def test_checklist_data_has_the_38_stable_ids():
    ids = [i.id for i in items()]
    assert len(ids) == 38 == len(set(ids))
    if SHARED_IDS.exists():
        shared = re.findall(r"^\| ([A-Z]+-\d+) \|", SHARED_IDS.read_text(), re.M)
        assert ids == shared


def test_tags_map_to_checklist_labels_and_section_grouping():
    labels = {(lb.name, lb.value) for lb in checklist_labels(["environment", "checklist:ENV-2"])}
    assert ("checklist", "ENV-2") in labels
    assert ("parentSuite", "Environment validation") in labels
    assert any(name == "suite" and value.startswith("ENV-2 ·") for name, value in labels)


def test_every_tag_of_a_multi_item_scenario_becomes_a_label():
    labels = checklist_labels(["checklist:ETF-4", "checklist:PERF-2"])
    assert [lb.value for lb in labels if lb.name == "checklist"] == ["ETF-4", "PERF-2"]
    assert ids_from_tags(["checklist:ETF-4", "slow"]) == ["ETF-4"]
