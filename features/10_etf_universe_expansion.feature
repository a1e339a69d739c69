Feature: ETF universe expansion
  TickStockPL's ETF universe manager builds themed ETF universes from 200+ real US-listed ETFs,
  keeps only the ETFs that pass each theme's liquidity filter, stores them through the Phase 3
  database functions and announces them on tickstock.universe.updated. TickStockApp reads the
  universes and receives the announcements. The producer runs as its own process; the suite only
  drives it and observes what reaches the database and the consumer.

  Delivery latency is the consumer's receive time minus the producer's timestamp, measured across
  processes. Function timings are taken around each call as TickStockApp makes it (query and
  fetch), repeated 20 times; a target is judged by the slowest call. The expected themes, filters
  and exclusions come from the contract's reference ETF data, never from the producer's report.
  The function scenarios stand alone: they store the universes they read with plain SQL as
  TickStockPL's role (test_ themes), so a broken expansion never hides a function's own result.

  The market-data scenario is optional: it asks Massive's (formerly Polygon.io) reference-tickers
  API whether each member is an existing, active ETF, and runs only when MASSIVE_API_KEY is set.
  Without a key it is skipped with that reason, and ETF-2 is judged by its other scenarios.

  @etf_universe @database @schema_compatibility
  @checklist:ETF-1 @scenario:etf-schema-compatibility
  Scenario: The Phase 3 columns and indexes sit beside the legacy columns and legacy readers still work
    Given the ETF universe manager has expanded all themes
    Then cache_entries has these Phase 3 columns
      | column               | type                        | default           |
      | universe_category    | character varying(50)       |                   |
      | liquidity_filter     | jsonb                       |                   |
      | universe_metadata    | jsonb                       |                   |
      | last_universe_update | timestamp without time zone | CURRENT_TIMESTAMP |
    And cache_entries has these Phase 3 indexes
      | index                      | definition                  |
      | idx_cache_entries_category | (universe_category)         |
      | idx_cache_entries_updated  | (last_universe_update DESC) |
    And a legacy reader selecting by type, name and key sees the same members as get_etf_universe for every theme
    And a legacy writer naming only the pre-Phase-3 columns can still add a cache entry

  @etf_universe @database @workflow @e2e
  @checklist:ETF-2 @scenario:etf-historical-loader
  Scenario: Expanded ETF universes go through the historical loader and validate as existing, active ETFs
    Given the ETF universe manager has expanded all themes
    When the historical loader loads 30 trading days of daily bars for the ETF universe members
    Then the ETF universes hold at least 200 distinct ETF symbols across at least 7 themes
    And every member has at least 30 daily bars
    And validate_etf_universe_symbols reports every member as an existing, active ETF
    And the producer's validate command agrees that every member is valid

  @etf_universe
  @checklist:ETF-2 @scenario:etf-market-data @optional @use.with_market_data=available
  Scenario: Every expanded universe member is an existing, active ETF in Massive's reference data
    Given the ETF universe manager has expanded all themes
    Then Massive's reference data lists every universe member as an existing, active ETF

  @etf_universe @database
  @checklist:ETF-2 @scenario:etf-liquidity-filter
  Scenario: Only ETFs that pass their theme's liquidity filter make it into a universe
    Given the ETF universe manager has expanded every theme with ETFs added exactly at its thresholds, below its assets threshold only and below its volume threshold only
    Then every universe stores the liquidity filter it was built with
    And every member meets its universe's liquidity filter
    And each universe holds exactly the ETFs at or above both of its theme's thresholds

  @etf_universe @redis @redis_flow @latency @workflow @e2e
  @checklist:ETF-3 @scenario:etf-notifications @runs_alone
  Scenario: TickStockApp receives the expansion notifications with the right content within the delivery target
    Given TickStockApp is subscribed to the universe notifications
    When the ETF universe manager expands all themes
    Then TickStockApp receives one universe_expansion_complete followed by one theme_updated per expanded theme
    And each theme_updated names its theme, the cache key etf_<theme>, its action and the symbol count stored in the database
    And the universe_expansion_complete totals match the stored universes
    And the notifications carry distinct message ids and consecutive sequence numbers from one producer
    And every notification arrived within the message delivery target of 100 ms

  @etf_universe @redis @redis_flow @resilience
  @checklist:ETF-3 @scenario:etf-offline-catch-up
  Scenario: A TickStockApp instance that was offline during the expansion catches up from the stream
    Given a TickStockApp instance that registered on the universe stream and then went offline
    And TickStockApp is subscribed to the universe notifications
    When the ETF universe manager expands all themes
    And the offline TickStockApp instance comes back and catches up
    Then TickStockApp receives one universe_expansion_complete followed by one theme_updated per expanded theme
    And the returning instance got the same notifications in the same order as the online one
    And nothing is left unacknowledged for the returning instance

  @etf_universe @redis @redis_flow @resilience
  @checklist:ETF-3 @scenario:etf-failed-theme
  Scenario: A theme that cannot be written is reported as failed and gets no theme_updated
    Given TickStockApp is subscribed to the universe notifications
    When the ETF universe manager expands a source in which theme "test_unwritable" has a blank symbol
    Then the producer exits with a failure status
    And universe_expansion_complete reports theme "test_unwritable" as failed with its error
    And TickStockApp receives a theme_updated for every other theme and none for "test_unwritable"

  @etf_universe @database @performance
  @checklist:ETF-4 @scenario:etf-get-universe
  Scenario: get_etf_universe returns a stored universe whole, applies its liquidity filter on request and reports unknown themes
    Given the reference ETF universes stored directly as TickStockPL's role
    And a universe "test_etf_filtered" stored directly whose facts put members exactly at its thresholds, below its assets threshold only, below its volume threshold only, and one without facts
    When TickStockApp reads every stored universe with and without its liquidity filter
    Then each read returns the stored universe whole: cache key, theme, members, count, metadata, liquidity filter and last update
    And reading "test_etf_filtered" with its liquidity filter drops exactly the members that miss it or have no facts
    And reading "test_etf_filtered" without its liquidity filter keeps every member
    And asking for theme "no_such_theme" returns the error "Universe not found: no_such_theme"
    And every read finished within the ETF universe query target of 2 s

  @etf_universe @database @performance
  @checklist:ETF-4 @scenario:etf-update-universe
  Scenario: update_etf_universe creates a universe, replaces its members, filter and metadata, and reports what each update added and removed
    Given no ETF universe named "test_etf_diff" exists
    When TickStockPL writes theme "test_etf_diff" with symbols SPY, QQQ and IWM and a liquidity filter of min_aum 1000000000
    Then the write reports action "created" with 3 symbols, added SPY, QQQ and IWM and removed none
    And the universe "test_etf_diff" holds exactly the members, metadata and liquidity filter of that write
    When TickStockPL writes theme "test_etf_diff" with symbols QQQ, IWM, DIA and VTI and a liquidity filter of min_avg_volume 500000
    Then the write reports action "updated" with 4 symbols, added DIA and VTI and removed SPY
    And the universe "test_etf_diff" holds exactly the members, metadata and liquidity filter of that write
    And every write finished within the ETF universe query target of 2 s

  @etf_universe @database @performance
  @checklist:ETF-4 @scenario:etf-universes-summary
  Scenario: get_etf_universes_summary lists every universe once with its true symbol count
    Given the reference ETF universes stored directly as TickStockPL's role
    When TickStockApp reads the ETF universes summary
    Then the summary lists every ETF universe in the database once, ordered by theme
    And each stored universe's summary row holds its theme, symbol count, last update, focus, criteria and first members
    And the summary finished within the ETF universe query target of 2 s

  @etf_universe @database @performance
  @checklist:ETF-4 @scenario:etf-validate-symbols
  Scenario: validate_etf_universe_symbols reports every member with its status in the symbols table
    Given these symbols stored directly as TickStockPL's role
      | symbol       | type | active |
      | TEST_VAL_ETF | ETF  | yes    |
      | TEST_VAL_OLD | ETF  | no     |
      | TEST_VAL_STK | CS   | yes    |
    And a universe "test_etf_validate" stored directly with symbols TEST_VAL_ETF, TEST_VAL_OLD, TEST_VAL_STK and TEST_VAL_NOSUCH
    When TickStockApp validates the ETF universe symbols
    Then the validation lists one row per member of every universe in the database
    And the validation reports the members of "etf_test_etf_validate" as
      | symbol          | exists | type | active |
      | TEST_VAL_ETF    | yes    | ETF  | yes    |
      | TEST_VAL_NOSUCH | no     |      |        |
      | TEST_VAL_OLD    | yes    | ETF  | no     |
      | TEST_VAL_STK    | yes    | CS   | yes    |
    And the validation finished within the ETF validation target of 2 s

  @etf_universe @database @performance @redis @latency @load
  @checklist:ETF-5 @scenario:etf-expansion-impact @runs_alone
  Scenario: Expanding 200 or more ETF symbols keeps UI queries and message delivery within their targets
    Given the ETF universe manager has expanded all themes
    And TickStockApp is subscribed to the universe notifications
    And a TickStockApp UI client queries ETF universes continuously
    When UI query and delivery latencies are measured while no large expansion runs
    And the ETF universe manager expands all themes repeatedly while they are measured again
    Then the expansions covered at least 200 ETF symbols each
    And the UI query p95 during the expansions is within the UI query target of 50 ms
    And the delivery p95 during the expansions is within the message delivery target of 100 ms
    And each expansion finished within the ETF expansion time target of 2 s
