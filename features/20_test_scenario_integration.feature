Feature: Test scenario integration
  A test scenario is a synthetic market history that TickStockPL's scenario generator produces on
  demand: a crash, a growth year, volatile periods, trend changes, new highs and lows, and a series
  with candlestick patterns (hammer, bullish engulfing, doji, morning star) planted on known dates,
  beside a control series with none. Each scenario is deterministic (a seed and the fixed anchor
  date 2026-10-30 give the same rows on every machine) and belongs to one TEST_ symbol of type TEST.
  The historical loader's CLI loads it with `load-history --scenario NAME`.

  Synthetic data lives in its own database schema, `synthetic`, that production readers
  (TickStockApp, database role app_readwrite) have no privilege on; the production tables symbols
  and ohlcv_daily must never receive a synthetic row. What is judged: production stays untouched,
  the generated rows are valid and say what the scenario states about them, TA-Lib and the pattern
  detection find exactly the planted patterns, the loader's CLI loads exactly what it is asked and
  refuses bad input without writing anything, and generating and loading all scenarios stays within
  the spec's 2-minute targets. The expectations (scenarios, symbols, lengths, planted dates, storage)
  come from the suite's contract, contract/reference/scenarios.json, never from the producer.

  @scenarios @database @isolation
  @checklist:SCN-1 @scenario:scenario-production-untouched
  Scenario: Generating and loading every scenario leaves production rows unchanged and invisible to TickStockApp
    Given production symbols and daily bars that TickStockApp reads
    And a snapshot of the production rows of symbols and ohlcv_daily
    When the scenario generator generates and loads every scenario
    Then the production rows of symbols and ohlcv_daily are unchanged in row count and content checksum
    And TickStockApp sees none of the synthetic symbols in symbols or ohlcv_daily

  @scenarios @redis @redis_flow @workflow @e2e
  @checklist:SCN-2 @scenario:scenario-patterns-detected
  Scenario: The pattern detection publishes exactly the planted patterns of a generated scenario, and nothing for its control
    Given the producer has loaded the scenario candlestick_patterns
    And the producer has loaded the scenario pattern_control
    And TickStockApp observes the channel tickstock.patterns.detected
    When the pattern detection runs over TEST_PATTERNS and TEST_CONTROL
    Then TickStockApp received every pattern event the detection reports publishing
    And every pattern planted in candlestick_patterns was published for its symbol on its planted date, marked synthetic
    And nothing was published for the symbol of pattern_control
    And every pattern event matches the JSON Schema of pattern_detected

  @scenarios @database
  @checklist:SCN-3 @scenario:scenario-ohlcv-valid
  Scenario: Every generated scenario has its contract's weekday rows of valid OHLCV and states its outcome truthfully
    Given the producer has generated and loaded every scenario
    Then each scenario's symbol holds exactly its contract's number of rows, on consecutive weekdays ending at the anchor date 2026-10-30
    And each scenario's symbol is a TEST_ symbol of type TEST registered under its scenario
    And every synthetic row is valid OHLC with a positive volume
    And the outcome each scenario states, stored and reported by the loader, equals the outcome its rows give within 0.000001
    And each scenario's outcome meets the bounds its contract expects

  @scenarios
  @checklist:SCN-3 @scenario:scenario-talib-recognition
  Scenario: TA-Lib recognises every planted pattern on exactly its planted date, and nothing in the control series
    Given the producer has generated and loaded every scenario
    When the suite runs TA-Lib's CDLHAMMER, CDLENGULFING, CDLDOJI and CDLMORNINGSTAR over the daily bars of TEST_PATTERNS and TEST_CONTROL
    Then TA-Lib recognises each pattern planted in candlestick_patterns on its planted date, with a tolerance of 0 trading days
    And TA-Lib recognises none of the pattern kinds on any other date of candlestick_patterns
    And TA-Lib recognises none of the pattern kinds on any date of pattern_control

  @scenarios @workflow
  @checklist:SCN-4 @scenario:scenario-loader-cli
  Scenario: The historical loader's CLI lists the contract's scenarios and loads exactly the rows asked for
    When the historical loader lists its scenarios
    Then the list names exactly the contract's scenarios with their symbols, lengths and planted patterns
    When the historical loader is asked for its help
    Then the help exits 0 and names the options --scenario, --symbols and --list-scenarios
    Given a snapshot of the synthetic daily bars of every symbol and of the production rows of symbols and ohlcv_daily
    When the historical loader loads scenario high_low_events for TEST_CLI_A and TEST_CLI_B
    Then TEST_CLI_A and TEST_CLI_B each hold exactly the 63 rows of high_low_events
    And no other synthetic symbol's rows changed
    And the production rows of symbols and ohlcv_daily are unchanged in row count and content checksum

  @scenarios @workflow
  @checklist:SCN-4 @scenario:scenario-loader-cli-<key>
  Scenario Outline: The historical loader refuses <case> with one line on stderr, a non-zero exit and nothing written
    Given the row counts of the synthetic and production tables
    When the historical loader is asked to load scenario "<scenario>" for symbols "<symbols>"
    Then the loader exits non-zero with exactly one line on stderr, naming "<named>"
    And the synthetic and production tables hold as many rows as before

    Examples:
      | key             | case                               | scenario         | symbols       | named            |
      | unknown         | an unknown scenario                | no_such_scenario | TEST_CLI_A    | no_such_scenario |
      | bad-symbol      | a malformed symbol                 | high_low_events  | TEST_bad sym! | TEST_bad sym!    |
      | non-test-symbol | a symbol that is not a TEST_ symbol | high_low_events  | AAPL          | AAPL             |

  @scenarios @performance
  @checklist:SCN-5 @scenario:scenario-generation-time
  Scenario: Generating and loading every scenario stays within the 2-minute targets
    When the scenario generator generates and loads every scenario
    Then the loader's report covers every scenario of the contract with its rows
    And generating every scenario took at most the scenario generation target of 120 s
    And loading every scenario took at most the scenario loading target of 120 s
