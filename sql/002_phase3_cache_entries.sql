-- 002_phase3_cache_entries.sql
-- Exactly the Phase 3 enhancement of cache_entries from the spec
-- (phase3-integration-testing.md, "Test Database Schema"). Nothing else: the new
-- columns are nullable / defaulted and appended at the end, so legacy INSERTs and
-- legacy SELECTs by (type, name, key) keep working unchanged. Idempotent.

ALTER TABLE cache_entries
ADD COLUMN IF NOT EXISTS universe_category VARCHAR(50),
ADD COLUMN IF NOT EXISTS liquidity_filter JSONB,
ADD COLUMN IF NOT EXISTS universe_metadata JSONB,
ADD COLUMN IF NOT EXISTS last_universe_update TIMESTAMP DEFAULT CURRENT_TIMESTAMP;

CREATE INDEX IF NOT EXISTS idx_cache_entries_category ON cache_entries (universe_category);
CREATE INDEX IF NOT EXISTS idx_cache_entries_updated ON cache_entries (last_universe_update DESC);
