"""Service Boundaries (SVC-1, SVC-2, the spec's loose coupling): what TickStockApp may and may not do,
judged by what the database, Redis and the operating system record, never by TickStockApp's word.
(SVC-3, scenario generation kept separate, is judged in ``checks.scenarios.separation``.)"""
