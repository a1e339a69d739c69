Feature: Redis integration
  Universe update messages follow the channel naming convention and the message contract (one
  JSON Schema per event type, kept in the repository), on the live channels and on the streams
  that keep them for offline TickStockApp instances. The observer listens on every channel whose
  name starts with "tickstock" (pattern tickstock*): a misnamed TickStock channel such as
  tickstock:cache:sync_complete is still seen and fails the naming check, while other
  applications' traffic on a shared Redis is not judged.

  Every delivery is judged by the delivery checker against what the producers acknowledged
  sending (each producer numbers its messages 1, 2, 3, ... and reports how many it published):
  lost, duplicated, out-of-order and unexpected messages are named. A burst waits until the stream
  has taken the volume it needs (bounded by its deadline) and reports the rate it saw. The slow
  subscriber's buffer limit is lowered only on the run's own Redis and restored afterwards; once
  cut off, the slow instance switches to its consumer group on the stream while the burst goes on,
  as TickStockApp does, so the bounded stream cannot trim what it has not read.

  @redis @redis_flow
  @checklist:RED-1 @scenario:redis-message-contract
  Scenario: Every message observed during the run follows the channel naming convention and its JSON Schema
    Given an observer subscribed to every tickstock channel of the test Redis
    When the ETF universe manager expands all themes
    Then the observer saw every message the producer persisted
    And every channel a message was observed on follows the channel naming convention
    And every observed message matches the JSON Schema of its event type
    And every message kept on the producer's streams during the run matches the JSON Schema of its event type

  @redis @redis_flow @resilience
  @checklist:RED-2 @scenario:redis-crash-claim
  Scenario: Notifications a crashed TickStockApp instance read but never acknowledged go to another instance of its group
    Given two TickStockApp instances that share a consumer group on the universe stream
    And TickStockApp is subscribed to the universe notifications
    When the ETF universe manager expands all themes
    And the first instance reads some of the notifications and crashes before acknowledging them
    And the second instance claims what the first left unacknowledged for the claim idle time, then processes the rest
    Then the second instance took over exactly the notifications the first had read
    And the group's instances processed every notification TickStockApp received live, each exactly once
    And nothing is left pending for the group
    And no acknowledged notification is delivered again

  @redis @redis_flow @load
  @checklist:RED-2 @scenario:redis-bounded-stream
  Scenario: The universe stream stays bounded under volume and still holds what an instance offline for a while missed
    Given the producer has published more notifications than the universe stream's documented maximum length
    And a TickStockApp instance that registered on the universe stream after that and then went offline
    And TickStockApp is subscribed to the universe notifications
    When the ETF universe manager expands all themes
    And the offline TickStockApp instance comes back and catches up
    Then the universe stream held no more than its maximum length plus the approximate-trimming slack
    And the stream still held the entry the returning instance had last seen
    And the returning instance got the same notifications in the same order as the online one
    And nothing is left unacknowledged for the returning instance

  @redis @redis_flow @load
  @checklist:RED-4 @scenario:redis-burst-no-loss
  Scenario: A burst of at least 10,000 universe updates from several producer processes reaches TickStockApp through the stream with nothing lost
    Given a TickStockApp instance reading the universe stream continuously
    When 3 producer processes publish at least 10000 universe updates as fast as they can
    Then the delivery checker finds every update the producers acknowledged delivered once, in each producer's order
    And the delivery success rate is within the message success rate target of 95 %

  @redis @redis_flow @resilience @use.with_mode=embedded
  @checklist:RED-4 @scenario:redis-slow-subscriber
  Scenario: A pub-sub subscriber too slow for the server's output buffer limit is cut off, notices, and recovers everything from the stream
    Given the test Redis cuts off pub-sub subscribers whose output buffer outgrows a small limit
    And a TickStockApp instance that registered on the universe stream, subscribed to the universe notifications and stopped reading
    When 3 producer processes publish at least 10000 universe updates as fast as they can
    Then the server cut the slow subscriber off and the subscriber noticed
    And the slow instance recovered every update the producers acknowledged from the stream, so nothing is missing
