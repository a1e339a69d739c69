"""What the Phase 3 database must offer TickStockApp and TickStockPL (tables, columns, indexes,
functions, roles), as the spec and design notes state it."""

from __future__ import annotations

REQUIRED_TABLES = ("symbols", "cache_entries", "ohlcv_daily")

REQUIRED_SCHEMA_COLUMNS = (
    "universe_category",
    "liquidity_filter",
    "universe_metadata",
    "last_universe_update",
)

REQUIRED_INDEXES = ("idx_cache_entries_category", "idx_cache_entries_updated")

REQUIRED_DATABASE_FUNCTIONS = (
    "get_etf_universe",
    "update_etf_universe",
    "get_etf_universes_summary",
    "validate_etf_universe_symbols",
)

SUMMARY_SAMPLE_SIZE = 5  # get_etf_universes_summary's symbols_sample: the first members, sorted

# The columns cache_entries had before Phase 3 (legacy readers and writers name only these).
LEGACY_CACHE_COLUMNS = ("id", "type", "name", "key", "value", "environment", "created_at", "updated_at")

CONSUMER_ROLE = "app_readwrite"       # TickStockApp
PRODUCER_ROLE = "tickstock_producer"  # TickStockPL
