Feature: Target compliance
  The spec's performance targets hold under concurrent load.

  @checklist:PERF-2 @scenario:perf-concurrent-queries
  Scenario: ETF universe queries stay within the ETF universe query target under the spec's concurrent load
    Given the ETF universe manager has expanded all themes
    When 12 TickStockApp clients each run 25 ETF universe queries at the same time
    Then every query succeeded
    And at least the spec's concurrent operations count of queries were in flight at the same time
    And every ETF universe query finished within the ETF universe query target
