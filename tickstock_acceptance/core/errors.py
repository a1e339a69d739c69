"""Errors a person can act on: one line naming the problem and the fix, never a traceback."""

from __future__ import annotations


class SuiteError(Exception):
    """A problem with the run's input or environment, reported as one line and exit code 2."""

    exit_code = 2

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = self.problem.strip().replace("\n", " ")
        if self.fix:
            text = f"{text} — fix: {self.fix.strip()}"
        return text


class TargetRefused(SuiteError):
    """The guard refused destructive work on something that is not a test target."""

    exit_code = 3


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (drivers often add detail lines)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__
