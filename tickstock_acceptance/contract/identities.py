"""What each identity the suite connects as must be able to do in the test database.

External mode has three identities (settings: consumer ``TEST_DB_USER``, producer
``TEST_DB_PRODUCER_USER``, admin ``TEST_DB_ADMIN_USER``). The consumer and the producer need what the
database contract's roles must have (``contract/database.toml``: the role that plays TickStockApp,
the role that plays TickStockPL); the admin needs to inspect and to remove test data. Before
anything runs, each one's rights are read through its own connection (``has_*_privilege`` for
``current_user``) and a missing one stops the run in one line: a producer identity that defaulted
to the consumer's otherwise fails nine checklist items exactly as broken SQL does. What the
consumer identity must *not* have is judged with the rest of the contract (``judged_as``).
"""

from __future__ import annotations

from tickstock_acceptance.contract.database import DATABASE_CONTRACT

PLAYS = {"consumer": "TickStockApp", "producer": "TickStockPL"}

ADMIN_NEEDS = (  # the suite inspects the catalog and removes test data afterwards
    ("table", "cache_entries", "SELECT"), ("table", "cache_entries", "DELETE"),
    ("table", "symbols", "DELETE"), ("table", "ohlcv_daily", "DELETE"),
)


def identity_needs(identity: str) -> list[tuple[str, str, str]]:
    """(kind, object, privilege) the ``consumer``, ``producer`` or ``admin`` identity must have."""
    if identity == "admin":
        return list(ADMIN_NEEDS)
    return DATABASE_CONTRACT.needs(PLAYS[identity])


def judged_as(consumer_user: str, producer_user: str) -> dict[str, str]:
    """The contract's roles mapped to the identities that play them in this deployment."""
    return {DATABASE_CONTRACT.role_playing(PLAYS["consumer"]): consumer_user,
            DATABASE_CONTRACT.role_playing(PLAYS["producer"]): producer_user}


WHAT_FOR = {"consumer": "TickStockApp (reads)", "producer": "TickStockPL (writes universes)",
            "admin": "schema checks and cleanup"}
