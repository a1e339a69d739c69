@resilience_validation
Feature: Resilience validation
  The spec's "System Resilience Tests": TickStockPL (the producer) and TickStockApp (the reference
  consumer service) keep working, or come back by themselves, when the servers they share fail.
  Faults are real: the suite stops, kills (kill -9) or pauses the PostgreSQL and Redis servers the
  run started itself, so these scenarios run only on embedded servers. Recovery times are measured
  from the moment a server answers again, against the spec's resilience targets.

  # -- RES-1 and RES-4: recovery and error isolation (scenarios below this line) --

  # The producer runs as a service here (expand --repeat-until-stopped --keep-going: every theme,
  # round after round; a failed round is reported and retried on a new connection) and TickStockApp
  # is the run's service. Recovery times run from the moment the faulted server answers again.

  @resilience @database @etf_universe @use.with_mode=embedded
  @checklist:RES-1 @scenario:res-database-recovery
  Scenario: After PostgreSQL stops in immediate mode mid-write, the producer and TickStockApp work again within the database recovery target and no committed universe is lost
    Given TickStockApp running as the run's service with the database and Redis up
    And a TickStockApp client asking for a universe again and again
    And the producer writing every ETF universe round after round as a service
    When PostgreSQL stops in immediate mode while they work, stays down for a moment and is started again
    Then the producer reported failed rounds while PostgreSQL was down
    And the producer wrote a whole round again within the database recovery target of 10 s after PostgreSQL answered
    And TickStockApp answered the universe query again within the database recovery target of 10 s after PostgreSQL answered
    And every round of writes the producer acknowledged before the stop was in the database after the restart
    And every ETF universe in the database is one whole write of the producer's
    And the producer and TickStockApp kept running through the fault

  @resilience @redis @redis_flow @use.with_mode=embedded
  @checklist:RES-1 @scenario:res-redis-recovery
  Scenario: After Redis is killed while the producer publishes, the producer and TickStockApp work again within the Redis recovery target and no acknowledged stream entry is lost
    Given TickStockApp running as the run's service with the database and Redis up
    And the test Redis writing every change to its append-only file before it answers
    And the producer writing every ETF universe round after round as a service
    When Redis is killed with kill -9 while the producer publishes, stays down for a moment and is started again
    Then the producer published on the universe stream again within the Redis recovery target of 5 s after Redis answered
    And TickStockApp showed Redis up and its consumer group read again within the Redis recovery target of 5 s after Redis answered
    And every entry on the universe stream before the kill is still there
    And the delivery checker finds every stream entry the producer acknowledged on the stream once, in the producer's order
    And the producer and TickStockApp kept running through the fault

  @resilience @database @redis @use.with_mode=embedded
  @checklist:RES-4 @scenario:res-error-isolation-database
  Scenario: With PostgreSQL down the ETF manager's run fails visibly while TickStockApp keeps consuming Redis, and both work again once it is back
    Given TickStockApp running as the run's service with the database and Redis up
    And the producer has expanded all themes
    When PostgreSQL is stopped
    And the ETF universe manager tries to expand all themes
    Then the ETF universe manager's run failed with a non-zero exit code and PostgreSQL's error in its report
    And TickStockApp's health shows the database down and Redis up
    And events the producer's tick processor published meanwhile reached TickStockApp
    When PostgreSQL is started again
    Then TickStockApp, still the same process, shows the database and Redis up and answers a universe query
    And a new expansion by the producer succeeds and TickStockApp's view follows it

  # Connection faults between TickStockApp and Redis, through a TCP proxy the suite owns (the
  # servers themselves are not touched): a reset closes every connection with a TCP reset; a
  # blackhole answers nothing and closes nothing; a slow link delays every packet by 200 ms each way.
  @resilience @redis @link_fault @use.with_mode=embedded
  @checklist:RES-1 @scenario:res-redis-link-reset
  Scenario: TickStockApp notices a reset link to Redis, reconnects within 5 s and loses nothing the stream keeps
    Given TickStockApp connected to Redis through the suite's fault proxy
    And the producer publishing universe updates round after round as a service
    When the proxy resets every connection between TickStockApp and Redis
    Then TickStockApp reports its Redis connection lost within the connection recovery target of 5 s
    When the proxy heals the link
    Then TickStockApp listens and its consumer group reads again within the Redis recovery target of 5 s
    And TickStockApp's consumer group read and acknowledged the universe stream to its end, and the delivery checker finds every entry the producer acknowledged once, in order

  @resilience @redis @link_fault @use.with_mode=embedded
  @checklist:RES-1 @scenario:res-redis-link-blackhole
  Scenario: TickStockApp notices a silent link to Redis by itself, reconnects within 5 s and loses nothing the stream keeps
    Given TickStockApp connected to Redis through the suite's fault proxy
    And the producer publishing universe updates round after round as a service
    When the proxy blackholes the link between TickStockApp and Redis: no answer and no close
    Then TickStockApp reports its Redis connection lost within the connection recovery target of 5 s
    When the proxy heals the link
    Then TickStockApp listens and its consumer group reads again within the Redis recovery target of 5 s
    And TickStockApp's consumer group read and acknowledged the universe stream to its end, and the delivery checker finds every entry the producer acknowledged once, in order

  @resilience @redis @link_fault @use.with_mode=embedded
  @checklist:RES-1 @scenario:res-redis-link-slow
  Scenario: A slow link to Redis is not a lost connection, and TickStockApp loses nothing over it
    Given TickStockApp connected to Redis through the suite's fault proxy
    And the producer publishing universe updates round after round as a service
    When the proxy delays every packet between TickStockApp and Redis by 200 ms for 3 seconds
    Then TickStockApp reported no lost connection while the link was slow
    When the proxy heals the link
    Then TickStockApp's consumer group read and acknowledged the universe stream to its end, and the delivery checker finds every entry the producer acknowledged once, in order

  # The same proxy between TickStockApp and PostgreSQL (the producer reaches PostgreSQL directly): while
  # the link is cut, TickStockApp is told of an expansion it cannot read yet. It must keep those stream
  # entries until it has processed them, and bring its view to that expansion once the link heals.
  @resilience @database @link_fault @use.with_mode=embedded
  @checklist:RES-1 @scenario:res-database-link-blackhole
  Scenario: TickStockApp keeps what it could not process while its link to PostgreSQL is cut, and its view follows once the link heals
    Given TickStockApp connected to PostgreSQL through the suite's fault proxy
    And TickStockApp's view follows an expansion by the producer
    When the proxy blackholes the link between TickStockApp and PostgreSQL: no answer and no close
    Then TickStockApp shows the database down within the connection recovery target of 5 s
    When the producer expands every theme while the link is cut, and TickStockApp is given its notifications
    And the proxy heals the link
    Then TickStockApp shows the database up again within the database recovery target of 10 s
    And TickStockApp's view follows the expansion made while the link was cut, and its consumer group acknowledged the universe stream to its end

  @resilience @redis @redis_flow @use.with_mode=embedded
  @checklist:RES-4 @scenario:res-error-isolation-messages
  Scenario: Malformed and failing notifications land in TickStockApp's dead letters with a reason and do not take it down
    Given TickStockApp running as the run's service with the database and Redis up
    And valid universe updates flowing from the producer round after round
    When the suite injects malformed JSON, missing required fields, wrong types, an oversized payload and an unknown event type on the universe channel and on its stream
    Then TickStockApp recorded each injected notification in its dead-letter stream with a reason
    And no valid notification sent around them was lost: TickStockApp's group acknowledged the stream to its end, none is a dead letter, and the delivery checker finds every entry the producer acknowledged once, in order
    And a new expansion by the producer succeeds and TickStockApp's view follows it
    And TickStockApp, still the same process, shows the database and Redis up and answers a universe query

  @resilience @redis @database @use.with_mode=embedded
  @checklist:RES-4 @scenario:res-error-isolation-redis
  Scenario: With Redis down the producer's database work reports failure and leaves every universe whole, and everything works again once Redis is back
    Given TickStockApp running as the run's service with the database and Redis up
    And the producer has expanded all themes
    When Redis is stopped
    And the ETF universe manager tries to expand all themes
    Then the ETF universe manager's run failed with a non-zero exit code and Redis's error in its report
    And every ETF universe in the database is one whole write of the producer's, before and after
    When Redis is started again
    Then TickStockApp, still the same process, shows the database and Redis up and answers a universe query
    And a new expansion by the producer succeeds and TickStockApp's view follows it

  # -- RES-2 and RES-3: concurrency and memory under stress (scenarios below this line) --

  # Operations of four kinds start together behind one barrier, each on its own connection, thread or
  # process: ETF universe queries on the database as TickStockApp's role, update_etf_universe on test_
  # universes as the producer's role, TickStockApp HTTP queries, and producer expansions, which publish
  # their notifications. "In flight at the same time" is swept from the operations' own start and end
  # times. The suite runs 50 of them (config/measurement.py) and judges the spec's 10+.
  @resilience @load @database @redis
  @checklist:RES-2 @scenario:res-concurrent-operations
  Scenario: 10+ simultaneous operations of mixed kinds all complete without an error
    Given the ETF universe manager has expanded all themes
    And TickStockApp running against the test database and Redis
    When ETF universe queries, universe updates, TickStockApp HTTP queries and producer expansions that publish start together
    Then every operation completed without an error
    And at least 10 operations were in flight at the same time
    And the latency distribution of each kind of operation and of all of them is in the evidence

  # The same mix as distributed load from Locust 2.47, in processes of its own: a master and two worker
  # processes on this machine (remote workers: see the README). Each user is one kind of operation and
  # reports every request through Locust's events; the scenario reads Locust's statistics (its counts
  # and failure table) and the workers' log of each request's start and duration, and judges them as
  # the set above is judged.
  @resilience @load @database @redis @locust @runs_alone
  @checklist:RES-2 @scenario:res-concurrent-operations-locust
  Scenario: 10+ simultaneous operations from Locust's users on a master and two workers all complete without an error
    Given the ETF universe manager has expanded all themes
    And TickStockApp running against the test database and Redis
    When Locust drives 12 users of ETF universe queries, universe updates, TickStockApp HTTP queries and producer expansions for 10 seconds from a master and 2 workers
    Then Locust counted every request of every kind as successful
    And at least 10 of Locust's requests were in flight at the same time
    And the latency distribution of each kind of Locust's requests is in the evidence

  # The spec's "performance under memory/CPU/disk limitations", judged with RES-2 (it is the success of
  # simultaneous operations, not resource use, that is measured). The producer's commands start through
  # a trampoline that lowers their priority, pins them to one core and caps their address space and
  # file size before it execs them; TickStockApp is pinned to the same core for the measurement (its
  # affinity is restored afterwards). An operation succeeds when it finishes without an error within
  # its deadline; 6 of the 18 are the constrained producer's processes.
  @resilience @load @database @use.with_mode=embedded
  @checklist:RES-2 @scenario:res-constrained-success-rate @runs_alone
  Scenario: Under CPU, memory and file-size limits at least 70 % of a mixed operation set succeeds
    Given the ETF universe manager has expanded all themes
    And TickStockApp running against the test database and Redis
    And the producer's processes constrained to a low priority, one CPU core and capped address space and file size, with TickStockApp pinned to that core
    When the constrained operation set starts together, each operation with its deadline
    Then every producer process seen ran with those limits, as the kernel reports them
    And the share of operations that succeeded meets the success rate under constraints target of 70 %

  # psutil samples resident memory and CPU time; the long-running processes (TickStockApp, the
  # background expander, the tick processor) are judged, the short-lived producer commands reported.
  # CPU is normalised to the machine: CPU seconds / (seconds x the cores the run may use).
  @resilience @memory @load @use.with_mode=embedded
  @checklist:RES-3 @scenario:res-memory-under-stress @runs_alone
  Scenario: Resident memory of TickStockApp and of the producer grows by less than 100 MB under stress, and their CPU stays under 80 %
    Given the ETF universe manager has expanded all themes
    And TickStockApp running against the test database and Redis
    And the resident memory and CPU time of TickStockApp and of every producer process sampled every 100 ms
    When the stress profile runs: the tick processor fed at 2000 ticks per second, expansion repeating in a background producer, bursts of expansions, TickStockApp queried by concurrent clients and a scenario load
    Then the resident memory of TickStockApp and of each long-running producer process grew by less than the memory increase target of 100 MB
    And the CPU the system under test used averages within the average CPU target of 80 % of the machine
    And Redis's used memory before and after the profile, the short-lived commands' peak memory and the memory curves are in the evidence
