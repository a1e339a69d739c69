"""The checklist as data (``checklist.toml``): items, sections and the tags that point at them."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CHECKLIST_FILE = Path(__file__).with_name("checklist.toml")
TAG_PREFIX = "checklist:"
ID_PATTERN = re.compile(r"^[A-Z]+-\d+$")


@dataclass(frozen=True)
class Item:
    id: str
    section: str
    text: str
    targets: tuple[str, ...]
    not_yet_automated: bool

    @property
    def title(self) -> str:
        return f"{self.id} · {self.text}"


@cache
def items() -> tuple[Item, ...]:
    data = tomllib.loads(CHECKLIST_FILE.read_text())
    return tuple(Item(d["id"], d["section"], d["text"], tuple(d.get("targets", ())),
                      bool(d.get("not_yet_automated", False))) for d in data["item"])


def by_id() -> dict[str, Item]:
    return {i.id: i for i in items()}


def sections() -> list[str]:
    """Section names in checklist order."""
    seen: list[str] = []
    for item in items():
        if item.section not in seen:
            seen.append(item.section)
    return seen


def ids_from_tags(tags) -> list[str]:
    """The checklist IDs named by ``@checklist:<ID>`` tags, in tag order."""
    return [t[len(TAG_PREFIX):] for t in tags if t.startswith(TAG_PREFIX)]
