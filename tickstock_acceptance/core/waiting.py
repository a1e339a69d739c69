"""Waiting with deadlines, never fixed sleeps (tenacity does the polling)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential

from tickstock_acceptance.core.errors import SuiteError

T = TypeVar("T")


class DeadlineExceeded(AssertionError):
    """A condition did not become true before its deadline (a test failure, not an error)."""


def wait_until(condition: Callable[[], T], deadline_s: float, what: str,
               poll_max_s: float = 0.2) -> T:
    """Poll ``condition`` until it returns something truthy or ``deadline_s`` passes."""
    retrying = Retrying(stop=stop_after_delay(deadline_s),
                        wait=wait_exponential(multiplier=0.005, max=poll_max_s),
                        retry=retry_if_result(lambda r: not r))
    try:
        return retrying(condition)
    except RetryError:
        raise DeadlineExceeded(f"{what}: not true within {deadline_s:g} s") from None


__all__ = ["DeadlineExceeded", "SuiteError", "wait_until"]
