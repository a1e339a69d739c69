"""Resilience Validation (RES-1..4): recovery from real server faults, concurrency, memory under
stress, error isolation between the producer and TickStockApp. May import sut, faults and below;
not the other checklist sections' checks."""
