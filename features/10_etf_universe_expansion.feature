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

  @checklist:ETF-2 @scenario:etf-historical-loader
  Scenario: Expanded ETF universes go through the historical loader and validate as existing, active ETFs
    Given the ETF universe manager has expanded all themes
    When the historical loader loads 30 trading days of daily bars for the ETF universe members
    Then the ETF universes hold at least 200 distinct ETF symbols across at least 7 themes
    And every member has at least 30 daily bars
    And validate_etf_universe_symbols reports every member as an existing, active ETF
    And the producer's validate command agrees that every member is valid

  @checklist:ETF-2 @scenario:etf-liquidity-filter
  Scenario: Only ETFs that pass their theme's liquidity filter make it into a universe
    Given the ETF universe manager has expanded all themes
    Then every universe stores the liquidity filter it was built with
    And every member meets its universe's liquidity filter
    And no ETF of the reference data that misses its theme's filter is in its universe

  @checklist:ETF-3 @scenario:etf-notifications
  Scenario: TickStockApp receives the expansion notifications with the right content within the delivery target
    Given TickStockApp is subscribed to the universe notifications
    When the ETF universe manager expands all themes
    Then TickStockApp receives one universe_expansion_complete followed by one theme_updated per expanded theme
    And each theme_updated names its theme, the cache key etf_<theme>, its action and the symbol count stored in the database
    And the universe_expansion_complete totals match the stored universes
    And the notifications carry distinct message ids and consecutive sequence numbers from one producer
    And every notification arrived within the message delivery target of 100 ms

  @checklist:ETF-3 @scenario:etf-offline-catch-up
  Scenario: A TickStockApp instance that was offline during the expansion catches up from the stream
    Given a TickStockApp instance that registered on the universe stream and then went offline
    And TickStockApp is subscribed to the universe notifications
    When the ETF universe manager expands all themes
    And the offline TickStockApp instance comes back and catches up
    Then TickStockApp receives one universe_expansion_complete followed by one theme_updated per expanded theme
    And the returning instance got the same notifications in the same order as the online one
    And nothing is left unacknowledged for the returning instance

  @checklist:ETF-3 @scenario:etf-failed-theme
  Scenario: A theme that cannot be written is reported as failed and gets no theme_updated
    Given TickStockApp is subscribed to the universe notifications
    When the ETF universe manager expands a source in which theme "test_unwritable" has a blank symbol
    Then the producer exits with a failure status
    And universe_expansion_complete reports theme "test_unwritable" as failed with its error
    And TickStockApp receives a theme_updated for every other theme and none for "test_unwritable"

  @checklist:ETF-4 @scenario:etf-get-universe
  Scenario: get_etf_universe returns a theme's members, applies its liquidity filter on request and reports unknown themes
    Given the ETF universe manager has expanded all themes
    And TickStockPL has written theme "test_etf_filtered" whose stored facts put some members below its liquidity filter and leave one member without facts
    When TickStockApp reads every ETF universe with and without its liquidity filter
    Then each read returns the theme's cache key, its members and its stored liquidity filter
    And reading "test_etf_filtered" with its liquidity filter drops exactly the members that miss it or have no facts
    And reading "test_etf_filtered" without its liquidity filter keeps every member
    And asking for theme "no_such_theme" returns the error "Universe not found: no_such_theme"
    And every read finished within the ETF universe query target of 2 s

  @checklist:ETF-4 @scenario:etf-update-universe
  Scenario: update_etf_universe creates a universe and reports what each update added and removed
    Given no ETF universe named "test_etf_diff" exists
    When TickStockPL writes theme "test_etf_diff" with symbols SPY, QQQ and IWM
    Then the write reports action "created" with 3 symbols, added SPY, QQQ and IWM and removed none
    When TickStockPL writes theme "test_etf_diff" with symbols QQQ, IWM, DIA and VTI
    Then the write reports action "updated" with 4 symbols, added DIA and VTI and removed SPY
    And every write finished within the ETF universe query target of 2 s

  @checklist:ETF-4 @scenario:etf-universes-summary
  Scenario: get_etf_universes_summary lists every universe once with its true symbol count
    Given the ETF universe manager has expanded all themes
    When TickStockApp reads the ETF universes summary
    Then the summary lists every ETF universe once, ordered by theme
    And each summary row's symbol count and sample match the members get_etf_universe returns
    And the summary finished within the ETF universe query target of 2 s

  @checklist:ETF-4 @scenario:etf-validate-symbols
  Scenario: validate_etf_universe_symbols reports every member with its status in the symbols table
    Given the ETF universe manager has expanded all themes
    And the historical loader has loaded 5 trading days of daily bars for the ETF universe members
    And TickStockPL has written theme "test_etf_unknown" with symbols SPY and TEST_NOSUCH
    When TickStockApp validates the ETF universe symbols
    Then the validation lists one row per member of every universe
    And symbol "TEST_NOSUCH" of "etf_test_etf_unknown" is reported as not existing
    And symbol "SPY" of "etf_test_etf_unknown" is reported as an existing, active ETF
    And the validation finished within the ETF validation target of 2 s

  @checklist:ETF-5 @scenario:etf-expansion-impact
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
