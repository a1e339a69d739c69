Feature: Database integration
  The Phase 3 schema must not break what was there before, and the new ETF universe reads must
  live alongside TickStockPL's stock universe maintenance.

  Backward compatibility is shown on a scratch database the run owns: migrated to the pre-Phase-3
  schema, filled the way pre-Phase-3 code wrote, then migrated to Phase 3. The stock universe
  maintenance is the producer's own process rewriting market-cap tier universes round after
  round; "held up" is judged on the 99th percentile of the queries (the maximum is evidence).

  @database @schema_compatibility
  @checklist:DB-1 @scenario:db-legacy-compatibility @use.with_mode=embedded
  Scenario: Rows and queries from before Phase 3 read identically after the Phase 3 migration
    Given a scratch database the run owns, migrated only to the pre-Phase-3 schema
    And legacy rows written the way pre-Phase-3 code wrote them
    And the answers of the legacy queries
    When the Phase 3 migration is applied to that database
    Then the Phase 3 columns were added after the legacy columns
    And every legacy query answers exactly as before
    And a legacy insert still works and leaves the Phase 3 columns empty or defaulted

  @database @performance @load
  @checklist:DB-2 @scenario:db-stock-universes-coexist
  Scenario: Stock universe maintenance and ETF universe queries run side by side without errors or blocking
    Given the ETF universe manager has expanded all themes
    And TickStockPL maintains the stock universes continuously
    When 4 TickStockApp clients each run 100 ETF universe queries at the same time
    Then every query succeeded
    And the stock universe maintenance overlapped the queries and none of its rewrites failed
    And the ETF universe queries were not held up beyond the UI query target of 50 ms
    And the stock universes agree with the market caps in the symbols table
    And the ETF universes are unchanged by the stock universe maintenance

  @database @scenarios @isolation
  @checklist:DB-3 @scenario:synthetic-data-isolated
  Scenario: Synthetic scenario data lives in its own schema, which TickStockApp cannot read and production tables never hold
    Given the producer has generated and loaded every scenario
    Then TickStockPL's identity reads the rows of every scenario in the synthetic schema
    And TickStockApp sees none of the synthetic symbols in symbols or ohlcv_daily
    And the database refuses TickStockApp every table of the synthetic schema for lack of privilege
