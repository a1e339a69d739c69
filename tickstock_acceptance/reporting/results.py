"""Reading Allure results back: per-scenario statuses, checklist IDs and evidence (``Measurement``)."""

from __future__ import annotations

import json
import re
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
    failed_in: str = ""  # the effective keyword (Given/When/Then) of the step that failed, if any

    @property
    def specificity(self) -> tuple[int, int]:
        """How much a failure says about the item itself: one in a Then step (an outcome judged)
        says more than one in setting up (Given/When); then, the longer explanation."""
        return {"Then": 2, "When": 1}.get(self.failed_in, 0), len(self.message)

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


# A failed check's class says nothing (its text does); an error's class does (ConnectionError: ...).
EXCEPTION_PREFIX = re.compile(r"^(?:[\w.]*\.)?(?:AssertionError|DeadlineExceeded|StepParseError):\s*")


def cause(message: str) -> str:
    """The first line of a failure message, without the class of a failed check (``AssertionError: ``)."""
    first = next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
    return EXCEPTION_PREFIX.sub("", first) or first


def failed_step(steps: list[dict]) -> str:
    """The effective keyword of the first failed or broken step (an ``And`` inherits its keyword)."""
    keyword = ""
    for step in steps:
        word = (step.get("name") or "").split(" ", 1)[0]
        if word in ("Given", "When", "Then"):
            keyword = word
        if step.get("status") in ("failed", "broken"):
            return keyword
    return ""


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
                                    cause(message), ev, tags, failed_step(data.get("steps", []))))
    return found
