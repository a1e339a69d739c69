"""The message and database contract between TickStockPL and TickStockApp (from the spec)."""

from __future__ import annotations

import re

CHANNEL_NAMING_PATTERN = re.compile(r"^tickstock\.[a-z_]+\.[a-z_]+$")

CHANNELS = {
    "universe_updated": "tickstock.universe.updated",
    "cache_sync_complete": "tickstock.cache.sync_complete",
    "etf_correlation_update": "tickstock.etf.correlation_update",
    "ipo_assignment": "tickstock.cache.ipo_assignment",
    "delisting_cleanup": "tickstock.cache.delisting_cleanup",
}

REQUIRED_CHANNELS = (
    "tickstock.universe.updated",
    "tickstock.cache.sync_complete",
    "tickstock.etf.correlation_update",
)

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

# Redis logical databases and the roles the spec gives them.
REDIS_DB_RESILIENCE = 13
REDIS_DB_FLOWS = 14
REDIS_DB_INTEGRATION = 15
REDIS_TEST_DBS = (REDIS_DB_RESILIENCE, REDIS_DB_FLOWS, REDIS_DB_INTEGRATION)

CONSUMER_ROLE = "app_readwrite"
PRODUCER_ROLE = "tickstock_producer"


def invalid_channels(channels) -> list[str]:
    """Channels that do not match the naming convention."""
    return [c for c in channels if not CHANNEL_NAMING_PATTERN.match(c)]
