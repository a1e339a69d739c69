"""The contract between TickStockPL and TickStockApp, as the suite states it.

Channels and their naming convention, the streams, the Redis logical databases and their roles
(``messaging``), the JSON Schemas of the events (``events``), the reference ETF facts the oracles
use (``reference``), the database objects and roles (``database``) and what each identity the run
connects as must be able to do (``identities``). They are loaded from the files in the
repository's ``contract/`` folder, which the suite owns: nothing here is
read from the system under test (a real TickStockPL is judged against these files; the reference
producer happens to read the same ones).

May import: ``config`` and ``core``.
"""
