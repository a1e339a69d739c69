Feature: Service boundaries
  TickStockPL (producer) and TickStockApp (consumer) meet only through Redis pub-sub and the shared
  PostgreSQL database, and each keeps to its side. Scenario generation is a test facility of
  TickStockPL: it must stay out of production data flows entirely.

  "Separate" is judged by what the servers themselves record, not by the producer's word: the
  database's own write statistics (rows inserted, updated and deleted per table, from
  pg_stat_user_tables) before and after generating and loading every scenario, and an observer on
  every channel whose name starts with "tickstock". No table outside the synthetic schema may show a
  write, and no message may appear; the synthetic tables must show the load's rows, so a statistics
  view that never moves cannot pass.

  @scenarios @isolation @redis @database
  @checklist:SVC-3 @scenario:scenario-generation-separate
  Scenario: Generating and loading every scenario publishes nothing and writes only to the synthetic schema
    Given an observer subscribed to every tickstock channel of the test Redis
    And the database's write statistics of every table
    When the scenario generator generates and loads every scenario
    Then the database's statistics show no row inserted, updated or deleted in any table outside the synthetic schema
    And the database's statistics show the loaded rows written to the synthetic daily bars
    And the observer saw no message on any tickstock channel

  # TickStockApp, the consumer, is judged as a running service the run starts (the reference one in
  # tickstock_app/, or -D tickstock_app=...): what it does is read from what the database, Redis and
  # the operating system record while the producer works, never from its own word. The database
  # server's log (the consumer role's writes, and every refused statement, with user and application
  # name), Redis's MONITOR and TickStockApp's process are only the run's to read when it owns the
  # servers: those scenarios are not run in external mode.

  @service_boundaries @database
  @checklist:SVC-1 @scenario:app-role-boundary
  Scenario: The database lets TickStockApp's role read and refuses its writes to what the producer owns
    Given the database as the producer version under test deployed it
    And the database role TickStockApp connects as
    Then TickStockApp's role reads symbols, cache_entries, ohlcv_daily, cache_sync_runs and cache_sync_changes and calls the contract's read functions
    And TickStockApp's role is refused every write to symbols, cache_entries, ohlcv_daily, cache_sync_runs and cache_sync_changes with SQLSTATE 42501
    And TickStockApp's role is refused a call of update_etf_universe with SQLSTATE 42501

  @service_boundaries @database @use.with_mode=embedded
  @checklist:SVC-1 @scenario:app-attempts-no-write
  Scenario: TickStockApp attempts no write while it follows an expansion, by the database server's own log
    Given TickStockApp running against the test database and Redis
    And the suite's probe writing as TickStockApp's role where the role may and where it may not
    When the ETF universe manager expands all themes
    And TickStockApp has updated its view from the expansion
    Then the database server's log records the probe's writes as TickStockApp's role
    And the database server's log shows no write and no refused write by TickStockApp during the run

  @service_boundaries @etf_universe @redis @workflow @use.with_mode=embedded
  @checklist:SVC-2 @scenario:app-no-analysis-on-expansion
  Scenario: An ETF universe expansion updates TickStockApp's view and triggers no analysis in it
    Given TickStockApp running against the test database and Redis
    And an observer subscribed to every tickstock channel of the test Redis
    And TickStockApp's processes, sockets and the Redis commands under watch
    When the ETF universe manager expands all themes
    Then TickStockApp's view shows every expanded theme with the symbol count the producer stored
    And every message published on any channel during the expansion was the producer's
    And TickStockApp sent no publishing command to Redis
    And TickStockApp started no process
    And the database server's log shows no write and no refused write by TickStockApp during the run

  @service_boundaries @redis @database @use.with_mode=embedded
  @checklist:SVC-2 @scenario:app-loose-coupling
  Scenario: TickStockApp and the producer meet only through PostgreSQL and Redis
    Given TickStockApp running against the test database and Redis
    And TickStockApp's processes, sockets and the Redis commands under watch
    When the ETF universe manager expands all themes
    And TickStockApp has updated its view from the expansion
    Then TickStockApp's sockets went only to the database's port, Redis's port and its own port
    And no process but the suite connected to TickStockApp's port
