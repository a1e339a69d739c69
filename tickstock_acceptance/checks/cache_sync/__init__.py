"""Cache Synchronization: SYNC-1..5, DB-4, RED-3, SVC-4, PERF-4 (feature 30)."""
