"""Reading Allure results back: per-scenario statuses, checklist IDs and evidence (``Measurement``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tickstock_acceptance.reporting.evidence import ATTACHMENT_PREFIX, Measurement

SCENARIO_TAG_PREFIX = "scenario:"


@dataclass
class ScenarioResult:
    name: str
    status: str
    checklist: list[str]
    message: str = ""
    evidence: list[Measurement] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # the scenario's tags as allure-behave labelled them

    @property
    def key(self) -> str | None:
        """The scenario's stable key (its ``@scenario:<key>`` tag), which survives renaming it."""
        for tag in self.tags:
            if tag.startswith(SCENARIO_TAG_PREFIX):
                return tag[len(SCENARIO_TAG_PREFIX):]
        return None


def _attachments(node: dict):
    yield from node.get("attachments", [])
    for step in node.get("steps", []):
        yield from _attachments(step)


def load_results(results_dir: Path) -> list[ScenarioResult]:
    found = []
    for path in sorted(results_dir.glob("*-result.json")):
        data = json.loads(path.read_text())
        ids = [lb["value"] for lb in data.get("labels", []) if lb["name"] == "checklist"]
        message = (data.get("statusDetails") or {}).get("message", "") or ""
        ev = []
        for att in _attachments(data):
            if att.get("name", "").startswith(ATTACHMENT_PREFIX):
                src = results_dir / att["source"]
                if src.exists():
                    ev.append(Measurement.from_dict(json.loads(src.read_text()),
                                                    att["name"][len(ATTACHMENT_PREFIX):]))
        tags = [lb["value"] for lb in data.get("labels", []) if lb["name"] == "tag"]
        found.append(ScenarioResult(data.get("name", "?"), data.get("status", "unknown"), ids,
                                    message.strip().splitlines()[0] if message.strip() else "", ev, tags))
    return found
