Feature: Redis integration
  Universe update messages follow the channel naming convention and the message contract (one
  JSON Schema per event type, kept in the repository), on the live channels and on the streams
  that keep them for offline TickStockApp instances. The observer listens on every channel whose
  name starts with "tickstock" (pattern tickstock*): a misnamed TickStock channel such as
  tickstock:cache:sync_complete is still seen and fails the naming check, while other
  applications' traffic on a shared Redis is not judged.

  @checklist:RED-1
  Scenario: Every message observed during the run follows the channel naming convention and its JSON Schema
    Given an observer subscribed to every tickstock channel of the test Redis
    When the ETF universe manager expands all themes
    Then the observer saw every message the producer persisted
    And every channel a message was observed on follows the channel naming convention
    And every observed message matches the JSON Schema of its event type
    And every message kept on the producer's streams during the run matches the JSON Schema of its event type
