Feature: Target compliance
  The spec's performance targets hold under concurrent load.

  @checklist:PERF-2
  Scenario: ETF universe queries stay under 2 s with 12 concurrent TickStockApp clients
    Given the ETF universe manager has expanded all themes
    When 12 TickStockApp clients each run 25 ETF universe queries at the same time
    Then every query succeeded
    And at least as many clients took part as the spec's concurrent operations count
    And the ETF universe query p95 is within the ETF universe query target
