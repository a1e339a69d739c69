@environment
Feature: Test environment validation
  Before any Phase 3 checklist item is judged, the suite checks the environment it runs
  against: the test database with its Phase 3 schema, the test Redis with the three logical
  databases the tests use, and the notification channels. If this fails, the run stops here.

  The database is read through its catalog as TickStockApp's role; each Redis database gets a
  fresh test_ key that must be readable there and nowhere else; the channels are asked of the
  producer under test (its channels command), not assumed.

  @database @schema_compatibility
  @checklist:ENV-1 @scenario:env-database-schema
  Scenario: The test database is reachable and carries the Phase 3 schema
    The catalog is compared with the database contract the suite owns (contract/database.toml):
    - tables symbols, cache_entries (with the four Phase 3 columns universe_category,
      liquidity_filter, universe_metadata, last_universe_update) and ohlcv_daily: column types,
      defaults, NOT NULL, primary and unique keys;
    - indexes idx_cache_entries_category (universe_category) and
      idx_cache_entries_updated (last_universe_update DESC): columns, order and direction;
    - functions get_etf_universe(text, boolean) → jsonb, update_etf_universe(text, jsonb, jsonb)
      → jsonb, get_etf_universes_summary() → TABLE(...), validate_etf_universe_symbols()
      → TABLE(...): argument and result types, and no other overload of those names;
    - roles app_readwrite (TickStockApp) and tickstock_producer (TickStockPL): the grants each
      must have, and the writes and the update_etf_universe call the consumer must not have.
    Every difference is named on its own line; an index the contract does not name is a note.

    Given the test database, connected as TickStockApp
    Then it answers queries within the general query target of 500 ms
    And the catalog matches the database contract

  @redis @redis_connection @use.with_redis=standalone
  @checklist:ENV-2 @scenario:env-redis-databases
  Scenario: The test Redis is reachable and its test databases are usable and isolated
    Given the test Redis
    Then logical databases 13, 14 and 15 each answer and keep a value written to them
    And a value written to one of logical databases 13, 14 and 15 is invisible in the others

  @redis @redis_connection @use.with_redis=cluster
  @checklist:ENV-2 @scenario:env-redis-cluster
  Scenario: The test Redis Cluster is reachable, serves every slot and keeps the run's keys on every primary
    A Redis Cluster has database 0 only, so the contract's logical databases 13, 14 and 15 cannot be
    used there: the run keeps every channel, stream and key in its namespace (test_acceptance: by
    default), the producer and TickStockApp included, and its cleanup deletes only the namespace's keys.

    Given the test Redis
    Then every primary of the cluster answers and all 16384 slots are served
    And each primary keeps a value written in the run's namespace and the cluster reads it back

  @redis @redis_connection
  @checklist:ENV-3 @scenario:env-channels
  Scenario: The required notification channels are configured and follow the naming convention
    Given the channels TickStockPL is configured to publish Phase 3 notifications on
    Then the configuration includes these channels
      | channel                          |
      | tickstock.universe.updated       |
      | tickstock.cache.sync_complete    |
      | tickstock.etf.correlation_update |
    And every configured channel follows the channel naming convention
