"""Reference TickStockPL producer (the Phase 3 contract, runnable anywhere)."""
