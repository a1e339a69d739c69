-- 006_cache_sync.sql
-- The cache synchronizer's log: one row per sync run, one row per change a run made.
--
--   cache_sync_runs     one run per (scope, trading_date): the UNIQUE key is how a duplicate
--                       end-of-day signal is recognised (INSERT ... ON CONFLICT DO NOTHING
--                       inserts nothing). scope is the synchronizer's universe prefix ('' in
--                       production); signal_* name the eod_complete message that started it.
--   cache_sync_changes  one row per member added/removed, per universe row created and per ETF
--                       correlation row written (change_type added | removed | created |
--                       correlation_updated; symbol NULL for universe-level changes).
--
-- Privileges (as 004): TickStockPL (tickstock_producer) reads and writes both tables and draws
-- their ids; TickStockApp (app_readwrite) only reads them.
--
-- Idempotent: every statement is IF NOT EXISTS or a GRANT/REVOKE, so running the file twice is
-- a no-op. Executed whole by the migration runner (one cursor.execute, one transaction);
-- no psql meta-commands. The runner owns schema_version; this file does not touch it.

CREATE TABLE IF NOT EXISTS cache_sync_runs (
    run_id            SERIAL PRIMARY KEY,
    scope             TEXT        NOT NULL,
    trading_date      DATE        NOT NULL,
    signal_id         TEXT,
    signal_stream_id  TEXT,
    signal_sent_at    TIMESTAMPTZ,
    started_at        TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    finished_at       TIMESTAMPTZ,
    status            TEXT        NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running', 'completed', 'failed')),
    task_summary      JSONB,
    total_changes     INTEGER,
    UNIQUE (scope, trading_date)
);

CREATE TABLE IF NOT EXISTS cache_sync_changes (
    change_id    BIGSERIAL   PRIMARY KEY,
    run_id       INTEGER     NOT NULL REFERENCES cache_sync_runs (run_id) ON DELETE CASCADE,
    task         TEXT        NOT NULL,
    change_type  TEXT        NOT NULL,
    universe     TEXT        NOT NULL,
    symbol       TEXT,
    detail       JSONB,
    changed_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX IF NOT EXISTS idx_cache_sync_changes_run ON cache_sync_changes (run_id);

-- ---- privileges -------------------------------------------------------------------------
-- consumer: app_readwrite reads the log, writes nothing of it.
GRANT SELECT ON cache_sync_runs, cache_sync_changes TO app_readwrite;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER
    ON cache_sync_runs, cache_sync_changes FROM app_readwrite;
REVOKE USAGE, UPDATE ON SEQUENCE cache_sync_runs_run_id_seq, cache_sync_changes_change_id_seq
    FROM app_readwrite;

-- producer: tickstock_producer writes the log.
GRANT SELECT, INSERT, UPDATE, DELETE ON cache_sync_runs, cache_sync_changes TO tickstock_producer;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE cache_sync_runs_run_id_seq, cache_sync_changes_change_id_seq
    TO tickstock_producer;
