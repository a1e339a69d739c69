"""What each identity the suite connects as must be able to do in the test database.

External mode has three identities (settings: consumer ``TEST_DB_USER``, producer
``TEST_DB_PRODUCER_USER``, admin ``TEST_DB_ADMIN_USER``). Before anything runs, each one's rights are
read through its own connection (``has_table_privilege`` / ``has_function_privilege`` for
``current_user``) and a missing one stops the run in one line: a producer identity that defaulted to
the consumer's otherwise fails nine checklist items exactly as broken SQL does.
"""

from __future__ import annotations

# (kind, object, privilege); functions are named with their argument types, as PostgreSQL does.
IDENTITY_NEEDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "consumer": (  # TickStockApp reads universes and calls the read functions
        ("table", "cache_entries", "SELECT"), ("table", "symbols", "SELECT"),
        ("table", "ohlcv_daily", "SELECT"),
        ("function", "get_etf_universe(text, boolean)", "EXECUTE"),
        ("function", "get_etf_universes_summary()", "EXECUTE"),
        ("function", "validate_etf_universe_symbols()", "EXECUTE"),
    ),
    "producer": (  # TickStockPL writes universes, symbols and daily bars
        ("table", "cache_entries", "SELECT"), ("table", "cache_entries", "INSERT"),
        ("table", "cache_entries", "UPDATE"), ("table", "cache_entries", "DELETE"),
        ("table", "symbols", "INSERT"), ("table", "symbols", "UPDATE"),
        ("table", "ohlcv_daily", "INSERT"),
        ("function", "update_etf_universe(text, jsonb, jsonb)", "EXECUTE"),
    ),
    "admin": (  # the suite inspects the catalog and removes test data afterwards
        ("table", "cache_entries", "SELECT"), ("table", "cache_entries", "DELETE"),
        ("table", "symbols", "DELETE"), ("table", "ohlcv_daily", "DELETE"),
    ),
}

WHAT_FOR = {"consumer": "TickStockApp (reads)", "producer": "TickStockPL (writes universes)",
            "admin": "schema checks and cleanup"}
