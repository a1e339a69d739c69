"""Broken deployment: ships a get_etf_universes_summary() that counts candidates, not members.

The reference producer is used as is; ``deploy`` (called by the suite once per run, on the
database the run owns) replaces the summary function with one whose ``symbol_count`` is the
number of ETFs considered (``symbol_facts``, before the liquidity filter) instead of the members.
"""

import sys

from tickstock_producer import cli, facade

WRONG_SUMMARY = """
CREATE OR REPLACE FUNCTION get_etf_universes_summary()
RETURNS TABLE (theme TEXT, symbol_count INTEGER, last_updated TIMESTAMP, focus TEXT, criteria TEXT,
               symbols_sample JSONB)
LANGUAGE sql STABLE AS $fn$
    SELECT ce.name::text,
           (SELECT count(*) FROM jsonb_object_keys(COALESCE(ce.universe_metadata -> 'symbol_facts',
                                                            '{}'::jsonb)))::integer,
           ce.last_universe_update,
           ce.universe_metadata ->> 'focus',
           ce.universe_metadata ->> 'criteria',
           (SELECT COALESCE(jsonb_agg(s ORDER BY s COLLATE "C"), '[]'::jsonb)
              FROM (SELECT s FROM jsonb_array_elements_text(ce.value -> 'symbols') AS s
                    ORDER BY s COLLATE "C" LIMIT 5) AS x)
      FROM cache_entries AS ce
     WHERE ce.type = 'etf_universe' AND ce.environment = 'DEFAULT' AND ce.key = 'etf_' || ce.name
     ORDER BY ce.name COLLATE "C";
$fn$;
"""

create_producer = facade.create_producer


def deploy(admin_conn) -> None:
    with admin_conn.cursor() as cur:
        cur.execute(WRONG_SUMMARY)


if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
