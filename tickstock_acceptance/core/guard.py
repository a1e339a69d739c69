"""The safety guard: destructive work only ever touches test targets.

A database is a test target when its name ends in ``_test`` or the run created it; Redis may
be flushed only in logical databases 13–15. Only the loudly named override lifts the guard.
"""

from __future__ import annotations

from tickstock_acceptance.core.errors import TargetRefused

# The one override that lifts the guard (environment variable, and its -D key).
UNSAFE_OVERRIDE_ENV = "TICKSTOCK_UNSAFE_ALLOW_NON_TEST_TARGET"
UNSAFE_OVERRIDE_KEY = "UNSAFE_allow_non_test_target"


def require_test_database(name: str, created_by_run: bool, override: bool = False) -> None:
    """Refuse before any write when ``name`` is not a test database."""
    if created_by_run or name.endswith("_test") or override:
        return
    raise TargetRefused(
        f"refusing to write to database {name!r}: it is not a test target "
        "(its name does not end in _test and this run did not create it); nothing was touched",
        f"point TEST_DB_NAME at a *_test database, or set {UNSAFE_OVERRIDE_ENV}=yes "
        f"(-D {UNSAFE_OVERRIDE_KEY}=yes) if you really mean it",
    )


def require_test_redis_db(db: int, test_dbs: tuple[int, ...], override: bool = False) -> None:
    """Refuse to flush any Redis logical database outside ``test_dbs`` (the contract's 13–15)."""
    if db in test_dbs or override:
        return
    raise TargetRefused(
        f"refusing to flush Redis database {db}: only databases "
        f"{', '.join(map(str, test_dbs))} belong to the tests; nothing was touched",
        f"use databases 13-15, or set {UNSAFE_OVERRIDE_ENV}=yes if you really mean it",
    )
