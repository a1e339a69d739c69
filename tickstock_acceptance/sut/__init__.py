"""Controllers for the system under test, reached only through its boundary: the producer's
commands and background processes, TickStockApp's side (subscriber, stream consumers, UI query
clients, the ETF universe store) and the universe flow that records what one expansion left where.

They drive and observe; judging is the job of ``checks``.
May import: ``infra``, ``reporting``, ``contract``, ``core``, ``config``.
"""
