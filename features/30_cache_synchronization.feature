@cache_sync
Feature: Cache synchronization
  After the trading day, TickStockPL's end-of-day job signals that the day is complete, and its cache
  synchronizer brings the universes in cache_entries up to date: market-cap tiers and top-N
  universes, IPO assignment, delisting cleanup, theme rebalancing and ETF universe maintenance
  (correlations). The synchronizer is a long-running service. It waits for the end-of-day signal on
  the Redis stream stream:tickstock.eod.completion (consumer group cache_synchronizer), runs each
  trading day once, records every change in the change log (cache_sync_changes), announces the
  result with daily_sync_complete on tickstock.cache.sync_complete and on the automation stream, and
  with one universe_synchronized per changed universe on tickstock.universe.updated.

  The market is the producer's deterministic test market of 5,000 symbols (TEST_M symbols, market
  caps, sectors, listing dates, about 2 % inactive). The synchronizer started by the suite keeps the
  suite's universes only (names starting test_sync_). Each scenario syncs a trading day of its own.
  What the universes must hold is computed by the suite from the symbols table with the contract's
  rules (contract/reference/cache_sync.json), never taken from the synchronizer. TickStockApp's view
  of the notifications is a subscriber on every TickStock channel.

  Background:
    Given the producer's test market of 5000 symbols is loaded

  @redis @eod_signal
  @checklist:SYNC-1 @scenario:sync-waits-for-eod-signal
  Scenario: The synchronizer does nothing until the end-of-day signal, then starts within 1 s of it
    Given TickStockApp is subscribed to every TickStock channel
    And the synchronizer's runs, change log and messages as they are now
    When the cache synchronizer starts and no end-of-day signal comes for 3 seconds
    Then the synchronizer started no sync, wrote no change log and published nothing meanwhile
    When the end-of-day job signals that a new trading day is complete
    Then the synchronizer syncs that trading day, starting within 1 s of the signal
    And every task of the sync says completed

  @redis @eod_signal @resilience
  @checklist:SYNC-1 @scenario:sync-signal-while-stopped
  Scenario: A signal sent while the synchronizer was stopped is honoured when it starts, and a day runs only once
    Given the cache synchronizer is stopped
    And TickStockApp is subscribed to every TickStock channel
    When the end-of-day job signals that a new trading day is complete
    Then no sync of that trading day has started
    When the cache synchronizer starts
    Then the synchronizer syncs that trading day
    When the end-of-day job signals the same trading day again
    Then the synchronizer acknowledges the second signal without running the day again: one run, no new change log, one daily_sync_complete

  @database @load @latency
  @checklist:SYNC-2 @scenario:sync-beside-realtime-writes @runs_alone
  Scenario: The market-cap recalculation does not conflict with real-time writes to the same tables
    Given the cache synchronizer is running
    And TickStockApp is subscribed to every TickStock channel
    And the market moved: 1000 market caps changed since the last sync
    When 2 real-time writers update market caps while a new trading day is synced
    Then every task of the sync says completed
    And the writers were at work during the whole sync
    And the real-time writes during the sync stayed within the general query target of 500 ms at p95
    And no writer met a deadlock or any other database error
    And no real-time update was lost: every market cap a writer committed last is in the database

  @database @load @latency
  @checklist:DB-4 @scenario:sync-does-not-block-reads @runs_alone
  Scenario: The sync's database writes do not block TickStockApp's reads
    Given the cache synchronizer is running
    And TickStockApp is subscribed to every TickStock channel
    And the market moved: 1000 market caps changed since the last sync
    When 4 TickStockApp readers query the universes and symbols the sync writes while a new trading day is synced
    Then every task of the sync says completed
    And the readers were at work during the whole sync
    And TickStockApp's reads during the sync stayed within the UI query target of 50 ms at p95
    And no reader met a database error

  @redis @automation
  @checklist:SYNC-3 @scenario:sync-ipo-assignment
  Scenario: A new listing announced by the IPO monitor is assigned to its universe by tier and sector
    Given the cache synchronizer is running
    And TickStockApp is subscribed to every TickStock channel
    And a mid-cap Technology symbol listed 2 days before a new trading day, in no universe yet
    When the IPO monitor scans for new listings
    Then the IPO monitor announced the new listing on the automation stream
    When the end-of-day job signals that the trading day is complete
    Then the new listing is in the IPO universe of its tier and sector and in no other universe
    And an ipo_assignment message names the new listing, its universe and the IPO monitor's announcement

  @redis @redis_flow
  @checklist:SYNC-4 @scenario:sync-notifications
  Scenario: TickStockApp receives the sync's notifications, and their totals agree with the change log
    Given the cache synchronizer is running
    And TickStockApp is subscribed to every TickStock channel
    And the market moved: 1000 market caps changed since the last sync
    When the end-of-day job signals that a new trading day is complete
    Then the synchronizer syncs that trading day
    And TickStockApp receives one daily_sync_complete followed by one universe_synchronized per changed universe
    And every task of the sync says completed
    And the totals in daily_sync_complete agree with the change log in the database
    And every notification is valid against its schema and arrived within the Redis notification target of 5 s
    And the tier, top-N and theme universes hold exactly what the contract's rules give for the symbols table
    And no universe holds an inactive symbol

  @redis @database @etf_universe
  @checklist:SYNC-4 @scenario:sync-etf-correlations
  Scenario: ETF universe maintenance publishes correlations computed from the loaded daily bars
    Given the ETF universe manager has expanded all themes
    And the historical loader has loaded 30 trading days of daily bars for the ETF universe members
    And the cache synchronizer is running
    And no ETF correlations of the synchronizer are stored
    And TickStockApp is subscribed to every TickStock channel
    When the end-of-day job signals that a new trading day is complete
    Then the synchronizer syncs that trading day
    And the stored correlations of every ETF theme agree with the suite's own computation from the daily bars
    And TickStockApp receives one etf_correlation_update per ETF theme, equal to the stored correlations

  @database
  @checklist:SYNC-4 @scenario:sync-empty-symbols-fails-loudly
  Scenario: An empty symbols table fails the sync's tasks loudly instead of wiping the universes
    Given the cache synchronizer is running
    And TickStockApp is subscribed to every TickStock channel
    And the synchronizer has synced a new trading day
    And the synchronizer's universes as they are now
    When every symbol of the test market is removed from the symbols table
    And the end-of-day job signals that a new trading day is complete
    Then the synchronizer syncs that trading day
    And every universe of the synchronizer is exactly as it was before
    And daily_sync_complete reports market_cap_recalculation, delisted_cleanup and theme_rebalancing as failed, each with its error

  @database @performance
  @checklist:SYNC-5 @scenario:sync-window
  Scenario: The sync of the 5,000-symbol market completes within the 30-minute window
    Given the cache synchronizer is running
    And TickStockApp is subscribed to every TickStock channel
    And the market moved: 1000 market caps changed since the last sync
    When a new trading day is synced with nothing else running
    Then the sync of the 5000-symbol market completed every task within the cache sync window target of 1800 s

  @database @performance @load
  @checklist:PERF-4 @scenario:sync-window-under-load
  Scenario: The sync completes within 30 minutes regardless of load
    Given the cache synchronizer is running
    And TickStockApp is subscribed to every TickStock channel
    And the market moved: 1000 market caps changed since the last sync
    When a new trading day is synced with nothing else running
    And the market moved: 1000 market caps changed since the last sync
    And a new trading day is synced while 4 TickStockApp readers and 2 real-time writers work on the same tables
    Then both syncs of the 5000-symbol market completed every task within the cache sync window target of 1800 s
    And both sync durations are in the evidence, with and without load

  @redis @automation
  @checklist:RED-3 @scenario:sync-automation-stream
  Scenario: The sync's completion reaches an automation consumer group exactly once
    Given the cache synchronizer is running
    And TickStockApp is subscribed to every TickStock channel
    And an automation consumer group registered on the automation stream
    When the end-of-day job signals that a new trading day is complete
    Then the synchronizer syncs that trading day
    And the automation consumer group receives that day's daily_sync_complete exactly once, valid against its schema and the same message as on tickstock.cache.sync_complete
    And nothing is left pending for the automation consumer group

  @service_boundaries
  @checklist:SVC-4 @scenario:sync-loosely-coupled
  Scenario: The synchronizer reaches TickStockApp only through Redis
    Given the cache synchronizer is running
    And TickStockApp is subscribed to every TickStock channel
    And the market moved: 1000 market caps changed since the last sync
    And the synchronizer's process is watched
    When the end-of-day job signals that a new trading day is complete
    Then the synchronizer syncs that trading day
    And during the sync the synchronizer's sockets went only to PostgreSQL and Redis, and it started no process
    And TickStockApp received every notification of the sync through Redis
