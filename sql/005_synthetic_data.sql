-- 005_synthetic_data.sql
-- Where synthetic (test-scenario) market data lives: the separate schema `synthetic`.
--
-- Production readers never see it: TickStockApp (app_readwrite) and PUBLIC have no privilege at
-- all on the schema or its tables, and production tables (public.symbols, public.ohlcv_daily)
-- never receive a synthetic row. Only the producer (tickstock_producer) reads and writes here:
-- the historical loader's scenario mode and the pattern detector for TEST_ symbols.
--
-- Tables mirror the production ones' columns. Symbols are TEST_ symbols of type TEST.
--
-- Idempotent: every statement is IF NOT EXISTS or a GRANT/REVOKE, so running the file twice is
-- a no-op. Executed whole by the migration runner (one cursor.execute, one transaction);
-- no psql meta-commands. The runner owns schema_version; this file does not touch it.

CREATE SCHEMA IF NOT EXISTS synthetic;

-- TEST_ symbols, one per (scenario, symbol) loaded; type is always TEST.
CREATE TABLE IF NOT EXISTS synthetic.symbols (
    symbol      VARCHAR(20) PRIMARY KEY,
    name        TEXT,
    type        VARCHAR(10) NOT NULL DEFAULT 'TEST',
    scenario    TEXT        NOT NULL,
    created_at  TIMESTAMPTZ DEFAULT now(),
    CONSTRAINT synthetic_symbols_test_symbol_check CHECK (symbol LIKE 'TEST\_%'),
    CONSTRAINT synthetic_symbols_type_check CHECK (type = 'TEST')
);

-- Daily bars of the synthetic symbols.
-- DELIBERATELY no OHLC CHECK (unlike public.ohlcv_daily): this staging area accepts whatever the
-- generator emits, so that the acceptance suite (SCN-3), not the database, judges whether the
-- generator's rows are valid OHLC. A generator emitting an invalid row must be caught by the
-- suite's check of the data, not hidden by a failed insert.
CREATE TABLE IF NOT EXISTS synthetic.ohlcv_daily (
    symbol  VARCHAR(20)   NOT NULL REFERENCES synthetic.symbols (symbol) ON DELETE CASCADE,
    date    DATE          NOT NULL,
    open    NUMERIC(14,4) NOT NULL,
    high    NUMERIC(14,4) NOT NULL,
    low     NUMERIC(14,4) NOT NULL,
    close   NUMERIC(14,4) NOT NULL,
    volume  BIGINT        NOT NULL,
    PRIMARY KEY (symbol, date)
);

-- What each loaded scenario states about its data (days, dates, total return, maximum drawdown,
-- planted patterns), computed by the generator from the rows it wrote.
CREATE TABLE IF NOT EXISTS synthetic.scenario_outcomes (
    scenario      TEXT        NOT NULL,
    symbol        VARCHAR(20) NOT NULL,
    stated        JSONB       NOT NULL,
    generated_at  TIMESTAMPTZ DEFAULT now(),
    PRIMARY KEY (scenario, symbol)
);

-- ---- privileges -------------------------------------------------------------------------
-- Production readers: nothing at all (not even USAGE on the schema).
REVOKE ALL ON SCHEMA synthetic FROM PUBLIC, app_readwrite;
REVOKE ALL ON synthetic.symbols, synthetic.ohlcv_daily, synthetic.scenario_outcomes
    FROM PUBLIC, app_readwrite;

-- The producer: reads and writes the synthetic tables, nothing else in this schema.
GRANT USAGE ON SCHEMA synthetic TO tickstock_producer;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON synthetic.symbols, synthetic.ohlcv_daily, synthetic.scenario_outcomes
    TO tickstock_producer;
