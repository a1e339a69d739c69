-- 003_etf_functions.sql
-- ETF universe functions of the Phase 3 contract. Idempotent (CREATE OR REPLACE keeps
-- existing grants). All functions are SECURITY INVOKER: the caller's table privileges apply,
-- so the role boundary of 004_roles.sql is enforced by the database.
--
-- An ETF universe is one cache_entries row:
--   type = 'etf_universe', name = <theme>, key = 'etf_' || <theme>, environment = 'DEFAULT',
--   universe_category = 'ETF', value = {"symbols": [sorted unique upper-case symbols]},
--   universe_metadata = the metadata passed to update_etf_universe,
--   liquidity_filter  = universe_metadata->'liquidity_filter' (NULL when absent),
--   e.g. {"min_aum": 1e9, "min_avg_volume": 100000}.
-- Per-symbol facts used by the liquidity filter:
--   universe_metadata->'symbol_facts'->'<SYMBOL>' = {"aum": <number>, "avg_volume": <number>}.
--
-- Sorting uses COLLATE "C" (byte order) so results do not depend on the database locale
-- and match Python's sorted() for ASCII symbols.
-- Readers normalise what they read (strings only, trimmed, upper-cased, unique, sorted),
-- so rows written by other means cannot produce duplicate or miscounted members.

-- ---------------------------------------------------------------------------------------
-- update_etf_universe: create or replace a theme's symbol list; returns the diff.
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION update_etf_universe(
    p_theme    TEXT,
    p_symbols  JSONB,
    p_metadata JSONB DEFAULT '{}'::jsonb
)
RETURNS JSONB
LANGUAGE plpgsql
VOLATILE
AS $fn$
DECLARE
    v_key      TEXT;
    v_meta     JSONB := COALESCE(p_metadata, '{}'::jsonb);
    v_filter   JSONB;
    v_new      JSONB;
    v_old      JSONB := '[]'::jsonb;
    v_prev     JSONB;
    v_id       INTEGER;
    v_action   TEXT;
    v_added    JSONB;
    v_removed  JSONB;
    v_bad      INTEGER;
    v_now      TIMESTAMPTZ := now();
    v_attempt  INTEGER := 0;
BEGIN
    -- ---- validation ------------------------------------------------------------------
    IF p_theme IS NULL OR p_theme !~ '^[a-z][a-z_]*$' THEN
        RAISE EXCEPTION 'update_etf_universe: invalid theme %: must match ^[a-z][a-z_]*$',
            quote_nullable(p_theme)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF p_symbols IS NULL OR jsonb_typeof(p_symbols) <> 'array' THEN
        RAISE EXCEPTION 'update_etf_universe: symbols must be a JSON array of non-empty strings, got %',
            COALESCE(jsonb_typeof(p_symbols), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT count(*) INTO v_bad
      FROM jsonb_array_elements(p_symbols) AS e
     WHERE jsonb_typeof(e) <> 'string' OR btrim(e #>> '{}') = '';
    IF v_bad > 0 THEN
        RAISE EXCEPTION 'update_etf_universe: symbols must be a JSON array of non-empty strings; % invalid element(s) in %',
            v_bad, p_symbols
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF jsonb_typeof(v_meta) <> 'object' THEN
        RAISE EXCEPTION 'update_etf_universe: metadata must be a JSON object, got %', jsonb_typeof(v_meta)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_filter := NULLIF(v_meta -> 'liquidity_filter', 'null'::jsonb);
    IF v_filter IS NOT NULL THEN
        IF jsonb_typeof(v_filter) <> 'object' THEN
            RAISE EXCEPTION 'update_etf_universe: metadata.liquidity_filter must be a JSON object, got %',
                jsonb_typeof(v_filter)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF (v_filter ? 'min_aum' AND jsonb_typeof(v_filter -> 'min_aum') <> 'number')
           OR (v_filter ? 'min_avg_volume' AND jsonb_typeof(v_filter -> 'min_avg_volume') <> 'number') THEN
            RAISE EXCEPTION 'update_etf_universe: liquidity_filter thresholds min_aum / min_avg_volume must be JSON numbers, got %',
                v_filter
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;

    -- ---- normalise: trim, upper-case, dedupe, sort -----------------------------------
    v_key := 'etf_' || p_theme;
    SELECT COALESCE(jsonb_agg(s ORDER BY s COLLATE "C"), '[]'::jsonb) INTO v_new
      FROM (SELECT DISTINCT upper(btrim(e)) AS s
              FROM jsonb_array_elements_text(p_symbols) AS e) AS d;

    -- ---- lock-or-create (safe under concurrent calls for the same theme) -------------
    -- Lock the existing row; if there is none, INSERT ... ON CONFLICT DO NOTHING. If a
    -- concurrent caller inserted it first, ON CONFLICT waits for that transaction and
    -- inserts nothing; the loop then locks the committed row and diffs against it.
    LOOP
        v_attempt := v_attempt + 1;

        SELECT ce.id, ce.value INTO v_id, v_prev
          FROM cache_entries AS ce
         WHERE ce.type = 'etf_universe' AND ce.name = p_theme
           AND ce.key = v_key AND ce.environment = 'DEFAULT'
           FOR UPDATE;

        IF FOUND THEN
            SELECT COALESCE(jsonb_agg(s ORDER BY s COLLATE "C"), '[]'::jsonb) INTO v_old
              FROM (SELECT DISTINCT upper(btrim(e)) AS s
                      FROM jsonb_array_elements_text(
                               CASE WHEN jsonb_typeof(v_prev -> 'symbols') = 'array'
                                    THEN v_prev -> 'symbols' ELSE '[]'::jsonb END) AS e
                     WHERE btrim(e) <> '') AS d;

            UPDATE cache_entries
               SET value                = jsonb_build_object('symbols', v_new),
                   universe_category    = 'ETF',
                   liquidity_filter     = v_filter,
                   universe_metadata    = v_meta,
                   last_universe_update = v_now,
                   updated_at           = v_now
             WHERE id = v_id;
            v_action := 'updated';
            EXIT;
        END IF;

        INSERT INTO cache_entries (type, name, key, value, environment, universe_category,
                                   liquidity_filter, universe_metadata, last_universe_update,
                                   created_at, updated_at)
        VALUES ('etf_universe', p_theme, v_key, jsonb_build_object('symbols', v_new), 'DEFAULT', 'ETF',
                v_filter, v_meta, v_now, v_now, v_now)
        ON CONFLICT (type, name, key, environment) DO NOTHING
        RETURNING id INTO v_id;

        IF v_id IS NOT NULL THEN
            v_action := 'created';
            v_old := '[]'::jsonb;
            EXIT;
        END IF;

        IF v_attempt >= 5 THEN
            -- Only reachable when the conflicting row is invisible to this snapshot
            -- (REPEATABLE READ / SERIALIZABLE callers): ask the caller to retry.
            RAISE EXCEPTION 'update_etf_universe: could not lock or create universe % (concurrent update); retry', v_key
                USING ERRCODE = 'serialization_failure';
        END IF;
    END LOOP;

    -- ---- diff ------------------------------------------------------------------------
    SELECT COALESCE(jsonb_agg(s ORDER BY s COLLATE "C"), '[]'::jsonb) INTO v_added
      FROM (SELECT jsonb_array_elements_text(v_new) AS s
            EXCEPT
            SELECT jsonb_array_elements_text(v_old)) AS a;

    SELECT COALESCE(jsonb_agg(s ORDER BY s COLLATE "C"), '[]'::jsonb) INTO v_removed
      FROM (SELECT jsonb_array_elements_text(v_old) AS s
            EXCEPT
            SELECT jsonb_array_elements_text(v_new)) AS r;

    RETURN jsonb_build_object(
        'action',          v_action,
        'cache_key',       v_key,
        'symbols_count',   jsonb_array_length(v_new),
        'added_count',     jsonb_array_length(v_added),
        'removed_count',   jsonb_array_length(v_removed),
        'symbols_added',   v_added,
        'symbols_removed', v_removed,
        'timestamp',       to_jsonb(v_now)   -- ISO-8601 text, e.g. 2024-05-01T12:00:00.123456+00:00
    );
END;
$fn$;

COMMENT ON FUNCTION update_etf_universe(TEXT, JSONB, JSONB) IS
    'Create or replace an ETF universe (cache_entries etf_<theme>); returns {action, cache_key, symbols_count, added_count, removed_count, symbols_added, symbols_removed, timestamp}.';

-- ---------------------------------------------------------------------------------------
-- get_etf_universe: read one theme, optionally applying its stored liquidity filter.
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION get_etf_universe(
    p_theme                  TEXT,
    p_apply_liquidity_filter BOOLEAN DEFAULT false
)
RETURNS JSONB
LANGUAGE plpgsql
STABLE
AS $fn$
DECLARE
    r          RECORD;
    v_filter   JSONB;
    v_all      JSONB;
    v_symbols  JSONB;
    v_out      JSONB := '[]'::jsonb;
    v_filtered BOOLEAN := false;
BEGIN
    SELECT ce.key, ce.name, ce.value, ce.universe_metadata, ce.liquidity_filter,
           ce.last_universe_update
      INTO r
      FROM cache_entries AS ce
     WHERE ce.type = 'etf_universe' AND ce.name = p_theme
       AND ce.key = 'etf_' || p_theme AND ce.environment = 'DEFAULT';

    IF NOT FOUND THEN
        RETURN jsonb_build_object('error', format('Universe not found: %s', p_theme));
    END IF;

    SELECT COALESCE(jsonb_agg(s ORDER BY s COLLATE "C"), '[]'::jsonb) INTO v_all
      FROM (SELECT DISTINCT upper(btrim(e)) AS s
              FROM jsonb_array_elements_text(
                       CASE WHEN jsonb_typeof(r.value -> 'symbols') = 'array'
                            THEN r.value -> 'symbols' ELSE '[]'::jsonb END) AS e
             WHERE btrim(e) <> '') AS d;

    v_symbols := v_all;
    v_filter := NULLIF(r.liquidity_filter, 'null'::jsonb);

    IF COALESCE(p_apply_liquidity_filter, false) AND jsonb_typeof(v_filter) = 'object' THEN
        -- A symbol is kept only if its facts meet every threshold present in the filter.
        -- Missing facts, non-numeric facts or a non-numeric threshold fail the threshold
        -- (conservative). Keys other than min_aum / min_avg_volume are ignored.
        v_filtered := true;
        SELECT COALESCE(jsonb_agg(s ORDER BY s COLLATE "C") FILTER (WHERE passes), '[]'::jsonb),
               COALESCE(jsonb_agg(s ORDER BY s COLLATE "C") FILTER (WHERE NOT passes), '[]'::jsonb)
          INTO v_symbols, v_out
          FROM (
                SELECT f.s,
                       (CASE
                            WHEN NOT (v_filter ? 'min_aum') THEN true
                            WHEN jsonb_typeof(v_filter -> 'min_aum') = 'number'
                             AND jsonb_typeof(f.facts -> 'aum') = 'number'
                            THEN (f.facts ->> 'aum')::numeric >= (v_filter ->> 'min_aum')::numeric
                            ELSE false
                        END)
                       AND
                       (CASE
                            WHEN NOT (v_filter ? 'min_avg_volume') THEN true
                            WHEN jsonb_typeof(v_filter -> 'min_avg_volume') = 'number'
                             AND jsonb_typeof(f.facts -> 'avg_volume') = 'number'
                            THEN (f.facts ->> 'avg_volume')::numeric >= (v_filter ->> 'min_avg_volume')::numeric
                            ELSE false
                        END) AS passes
                  FROM (SELECT e AS s,
                               CASE WHEN jsonb_typeof(r.universe_metadata -> 'symbol_facts') = 'object'
                                    THEN r.universe_metadata -> 'symbol_facts' -> e END AS facts
                          FROM jsonb_array_elements_text(v_all) AS e) AS f
               ) AS x;
    END IF;

    RETURN jsonb_build_object(
        'cache_key',          r.key,
        'theme',              r.name,
        'symbols',            v_symbols,
        'symbol_count',       jsonb_array_length(v_symbols),
        'metadata',           r.universe_metadata,
        'liquidity_filter',   r.liquidity_filter,
        'last_updated',       to_jsonb(r.last_universe_update),
        'filtered',           v_filtered,
        'filtered_out',       v_out,
        'filtered_out_count', jsonb_array_length(v_out)
    );
END;
$fn$;

COMMENT ON FUNCTION get_etf_universe(TEXT, BOOLEAN) IS
    'Read ETF universe etf_<theme>; {"error": "Universe not found: <theme>"} when missing. With p_apply_liquidity_filter and a stored filter, keeps only symbols whose symbol_facts meet every threshold.';

-- ---------------------------------------------------------------------------------------
-- get_etf_universes_summary: one row per ETF universe, ordered by theme.
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION get_etf_universes_summary()
RETURNS TABLE (
    theme          TEXT,
    symbol_count   INTEGER,
    last_updated   TIMESTAMP,
    focus          TEXT,
    criteria       TEXT,
    symbols_sample JSONB
)
LANGUAGE sql
STABLE
AS $fn$
    SELECT ce.name::text,
           m.cnt::integer,
           ce.last_universe_update,
           ce.universe_metadata ->> 'focus',
           ce.universe_metadata ->> 'criteria',
           m.sample
      FROM cache_entries AS ce
     CROSS JOIN LATERAL (
            SELECT count(*) AS cnt,
                   COALESCE(jsonb_agg(n.s ORDER BY n.s COLLATE "C") FILTER (WHERE n.rn <= 5),
                            '[]'::jsonb) AS sample
              FROM (SELECT d.s, row_number() OVER (ORDER BY d.s COLLATE "C") AS rn
                      FROM (SELECT DISTINCT upper(btrim(e)) AS s
                              FROM jsonb_array_elements_text(
                                       CASE WHEN jsonb_typeof(ce.value -> 'symbols') = 'array'
                                            THEN ce.value -> 'symbols' ELSE '[]'::jsonb END) AS e
                             WHERE btrim(e) <> '') AS d) AS n
           ) AS m
     WHERE ce.type = 'etf_universe' AND ce.environment = 'DEFAULT'
       AND ce.key = 'etf_' || ce.name
     ORDER BY ce.name COLLATE "C";
$fn$;

COMMENT ON FUNCTION get_etf_universes_summary() IS
    'One row per ETF universe ordered by theme: true symbol_count, last_updated, focus, criteria, first 5 sorted symbols.';

-- ---------------------------------------------------------------------------------------
-- validate_etf_universe_symbols: one row per (universe, member symbol), LEFT JOIN symbols.
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION validate_etf_universe_symbols()
RETURNS TABLE (
    universe_key      TEXT,
    symbol            TEXT,
    exists_in_symbols BOOLEAN,
    symbol_type       TEXT,
    active_status     BOOLEAN
)
LANGUAGE sql
STABLE
AS $fn$
    SELECT ce.key::text,
           m.s,
           sy.symbol IS NOT NULL,
           sy.type::text,
           sy.active
      FROM cache_entries AS ce
     CROSS JOIN LATERAL (
            SELECT DISTINCT upper(btrim(e)) AS s
              FROM jsonb_array_elements_text(
                       CASE WHEN jsonb_typeof(ce.value -> 'symbols') = 'array'
                            THEN ce.value -> 'symbols' ELSE '[]'::jsonb END) AS e
             WHERE btrim(e) <> ''
           ) AS m
      LEFT JOIN symbols AS sy ON sy.symbol = m.s
     WHERE ce.type = 'etf_universe' AND ce.environment = 'DEFAULT'
       AND ce.key = 'etf_' || ce.name
     ORDER BY ce.key COLLATE "C", m.s COLLATE "C";
$fn$;

COMMENT ON FUNCTION validate_etf_universe_symbols() IS
    'One row per (ETF universe, member symbol) with whether it exists in symbols, its type and active flag (NULL when missing).';
