"""ETF universe expansion (ETF-1..5): the stored universes and functions, the notifications, the
schema beside the legacy columns, and the impact of large expansions on TickStockApp."""
