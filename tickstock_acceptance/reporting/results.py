"""Reading Allure results back: per-scenario statuses, checklist IDs and evidence."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tickstock_acceptance.reporting.evidence import ATTACHMENT_PREFIX


@dataclass
class ScenarioResult:
    name: str
    status: str
    checklist: list[str]
    message: str = ""
    evidence: list[dict] = field(default_factory=list)


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
                    ev.append(json.loads(src.read_text()))
        found.append(ScenarioResult(data.get("name", "?"), data.get("status", "unknown"), ids,
                                    message.strip().splitlines()[0] if message.strip() else "", ev))
    return found
