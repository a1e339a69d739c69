"""Assertions whose failure message says what was expected, in domain words, on its first line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def no_problems(problems: Sequence[str] | Mapping, what: str) -> None:
    """Fail with ``what: problem; problem; ...`` when a problem finder found any."""
    if isinstance(problems, Mapping):
        problems = [f"{k}: {v}" for k, v in problems.items()]
    if problems:
        shown = "; ".join(str(p) for p in list(problems)[:8])
        more = f" (+{len(problems) - 8} more)" if len(problems) > 8 else ""
        raise AssertionError(f"{what}: {shown}{more}")
