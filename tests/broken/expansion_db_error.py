"""Broken producer: its expansion writes with SQL the Phase 3 schema does not support.

Every theme's write fails with the database's own error (``column "symbols" does not exist``), the
producer reports each theme failed and exits 1. The Phase 3 functions themselves are intact, so
the function scenarios (which store their own universes) must still pass, and every scenario
that needs the producer's expansion must fail carrying that database error.
"""

import sys

import psycopg2

from tickstock_producer import cli, facade
from tickstock_producer.etf_universe import EtfUniverseManager, ThemeResult


class OutdatedWrites(EtfUniverseManager):
    def _write_theme(self, conn, theme):
        kept, excluded = self.select_members(theme)
        try:
            with conn, conn.cursor() as cur:  # a release written against an older schema
                cur.execute("UPDATE cache_entries SET symbols = %s WHERE name = %s",
                            ([e.symbol for e in kept], theme.name))
        except psycopg2.Error as exc:
            message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return ThemeResult(theme.name, "failed", 0, len(excluded), error=message)
        return ThemeResult(theme.name, "completed", len(kept), len(excluded), "updated")


class Producer(facade.Producer):
    def make_etf_manager(self, source):
        return OutdatedWrites(self.connect, self.publisher, source or facade.load_source())


def create_producer(config, source=None):
    return Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
