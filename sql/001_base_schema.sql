-- 001_base_schema.sql
-- Pre-Phase-3 tables of the TickStock database contract.
--
-- Idempotent: every statement is IF NOT EXISTS, so running the file twice is a no-op.
-- Executed whole by the migration runner (one cursor.execute, one transaction);
-- no psql meta-commands. The runner owns schema_version; this file does not touch it.

-- Instruments known to the system (stocks, ETFs, test fixtures, ...).
CREATE TABLE IF NOT EXISTS symbols (
    symbol      VARCHAR(20) PRIMARY KEY,
    name        TEXT,
    type        VARCHAR(10) NOT NULL DEFAULT 'CS',
    active      BOOLEAN     NOT NULL DEFAULT true,
    market_cap  NUMERIC,
    sector      TEXT,
    industry    TEXT,
    exchange    TEXT,
    list_date   DATE,
    created_at  TIMESTAMPTZ DEFAULT now(),
    updated_at  TIMESTAMPTZ DEFAULT now(),
    CONSTRAINT symbols_type_check
        CHECK (type IN ('CS', 'ETF', 'TEST', 'ADR', 'PFD', 'WARRANT'))
);

-- Generic key/value cache, as it was BEFORE Phase 3 (002 adds the Phase 3 columns).
-- Legacy readers select by (type, name, key).
CREATE TABLE IF NOT EXISTS cache_entries (
    id           SERIAL PRIMARY KEY,
    type         VARCHAR(50)  NOT NULL,
    name         VARCHAR(100) NOT NULL,
    key          VARCHAR(100) NOT NULL,
    value        JSONB        NOT NULL DEFAULT '{}'::jsonb,
    environment  VARCHAR(20)  NOT NULL DEFAULT 'DEFAULT',
    created_at   TIMESTAMPTZ  DEFAULT now(),
    updated_at   TIMESTAMPTZ  DEFAULT now(),
    CONSTRAINT cache_entries_type_name_key_environment_key
        UNIQUE (type, name, key, environment)
);

-- Daily bars. Valid OHLC is enforced by the database.
CREATE TABLE IF NOT EXISTS ohlcv_daily (
    symbol  VARCHAR(20)   NOT NULL REFERENCES symbols (symbol) ON DELETE CASCADE,
    date    DATE          NOT NULL,
    open    NUMERIC(14,4) NOT NULL,
    high    NUMERIC(14,4) NOT NULL,
    low     NUMERIC(14,4) NOT NULL,
    close   NUMERIC(14,4) NOT NULL,
    volume  BIGINT        NOT NULL,
    PRIMARY KEY (symbol, date),
    CONSTRAINT ohlcv_daily_valid_ohlc
        CHECK (high >= greatest(open, close, low) AND low <= least(open, close))
);

-- A table the consumer application (TickStockApp) owns; the producer must not write it.
CREATE TABLE IF NOT EXISTS app_user_preferences (
    user_id     TEXT  NOT NULL,
    key         TEXT  NOT NULL,
    value       JSONB,
    updated_at  TIMESTAMPTZ DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
