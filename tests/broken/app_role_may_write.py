"""Broken deployment: the producer's release grants TickStockApp's role a write on the producer's table.

Its ``deploy`` hook (run once per run, as the admin, on a database the run created, when the
producer is first used) adds ``GRANT INSERT ON cache_entries TO app_readwrite``: the database no
longer keeps TickStockApp to its side, so SVC-1's role-boundary scenario must turn red (the INSERT
as TickStockApp's role is accepted). Nothing else changes: the producer works as the reference, and
TickStockApp itself still writes nothing. ENV-1 (the catalog against the contract) runs before the
producer's first use, so it judges the database before this grant.
"""

import sys

from psycopg2 import sql

from tickstock_producer import cli, facade

CONSUMER_ROLE = "app_readwrite"


def deploy(admin_conn) -> None:
    facade.deploy(admin_conn)
    with admin_conn.cursor() as cur:
        cur.execute(sql.SQL("GRANT INSERT ON cache_entries TO {}").format(sql.Identifier(CONSUMER_ROLE)))


create_producer = facade.create_producer

if __name__ == "__main__":
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
