Feature: Redis integration
  Universe update messages follow the channel naming convention and the message contract (one
  JSON Schema per event type, kept in the repository), on the live channels and on the streams
  that keep them for offline TickStockApp instances. The observer listens on every channel whose
  name starts with "tickstock" (pattern tickstock*): a misnamed TickStock channel such as
  tickstock:cache:sync_complete is still seen and fails the naming check, while other
  applications' traffic on a shared Redis is not judged.

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
