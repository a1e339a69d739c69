Feature: Target compliance
  The spec's performance targets hold under concurrent load.

  Each client has its own connection and thread; they start together behind a barrier. "In flight
  at the same time" is counted from the queries' own start and end times.

  @database @performance @load
  @checklist:PERF-2 @scenario:perf-concurrent-queries
  Scenario: ETF universe queries stay within 2 s under the spec's 10+ concurrent operations
    Given the ETF universe manager has expanded all themes
    When 12 TickStockApp clients each run 25 ETF universe queries at the same time
    Then every query succeeded
    And at least 10 queries were in flight at the same time
    And every ETF universe query finished within the ETF universe query target of 2 s
