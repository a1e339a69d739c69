-- 004_roles.sql
-- Roles and the service boundary, enforced by the database.
--
--   app_readwrite       TickStockApp, the consumer: reads everything, writes only its own
--                       app_user_preferences, may call only the three read functions.
--   tickstock_producer  TickStockPL, the producer: reads/writes symbols, cache_entries,
--                       ohlcv_daily (and their sequences), may call all four functions,
--                       has no privilege at all on app_user_preferences.
--
-- Roles are LOGIN roles created only if missing; no passwords here (set them out of band,
-- e.g. ALTER ROLE ... PASSWORD from the deployment, or use trust/peer/cert auth).
-- Idempotent: GRANT/REVOKE of an already granted/revoked privilege changes nothing.

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'app_readwrite') THEN
        BEGIN
            CREATE ROLE app_readwrite LOGIN;
        EXCEPTION WHEN duplicate_object THEN
            NULL;  -- created concurrently (roles are cluster-wide)
        END;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tickstock_producer') THEN
        BEGIN
            CREATE ROLE tickstock_producer LOGIN;
        EXCEPTION WHEN duplicate_object THEN
            NULL;
        END;
    END IF;

    EXECUTE format('GRANT CONNECT ON DATABASE %I TO app_readwrite', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO tickstock_producer', current_database());
END
$roles$;

GRANT USAGE ON SCHEMA public TO app_readwrite, tickstock_producer;

-- ---- consumer: app_readwrite ------------------------------------------------------------
GRANT SELECT ON ALL TABLES IN SCHEMA public TO app_readwrite;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER
    ON symbols, cache_entries, ohlcv_daily FROM app_readwrite;
REVOKE USAGE, UPDATE ON SEQUENCE cache_entries_id_seq FROM app_readwrite;
GRANT INSERT, UPDATE, DELETE ON app_user_preferences TO app_readwrite;

-- ---- producer: tickstock_producer -------------------------------------------------------
GRANT SELECT, INSERT, UPDATE, DELETE ON symbols, cache_entries, ohlcv_daily TO tickstock_producer;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO tickstock_producer;
REVOKE ALL ON app_user_preferences FROM tickstock_producer;

-- ---- functions --------------------------------------------------------------------------
-- PostgreSQL grants EXECUTE to PUBLIC on new functions: take it away first.
REVOKE EXECUTE ON FUNCTION
    update_etf_universe(TEXT, JSONB, JSONB),
    get_etf_universe(TEXT, BOOLEAN),
    get_etf_universes_summary(),
    validate_etf_universe_symbols()
FROM PUBLIC;

REVOKE EXECUTE ON FUNCTION update_etf_universe(TEXT, JSONB, JSONB) FROM app_readwrite;
GRANT EXECUTE ON FUNCTION
    get_etf_universe(TEXT, BOOLEAN),
    get_etf_universes_summary(),
    validate_etf_universe_symbols()
TO app_readwrite;

GRANT EXECUTE ON FUNCTION
    update_etf_universe(TEXT, JSONB, JSONB),
    get_etf_universe(TEXT, BOOLEAN),
    get_etf_universes_summary(),
    validate_etf_universe_symbols()
TO tickstock_producer;
