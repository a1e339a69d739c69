Feature: Service boundaries
  TickStockPL (producer) and TickStockApp (consumer) meet only through Redis pub-sub and the shared
  PostgreSQL database, and each keeps to its side. Scenario generation is a test facility of
  TickStockPL: it must stay out of production data flows entirely.

  "Separate" is judged by what the servers themselves record, not by the producer's word: the
  database's own write statistics (rows inserted, updated and deleted per table, from
  pg_stat_user_tables) before and after generating and loading every scenario, and an observer on
  every channel whose name starts with "tickstock". No table outside the synthetic schema may show a
  write, and no message may appear; the synthetic tables must show the load's rows, so a statistics
  view that never moves cannot pass.

  @scenarios @isolation @redis @database
  @checklist:SVC-3 @scenario:scenario-generation-separate
  Scenario: Generating and loading every scenario publishes nothing and writes only to the synthetic schema
    Given an observer subscribed to every tickstock channel of the test Redis
    And the database's write statistics of every table
    When the scenario generator generates and loads every scenario
    Then the database's statistics show no row inserted, updated or deleted in any table outside the synthetic schema
    And the database's statistics show the loaded rows written to the synthetic daily bars
    And the observer saw no message on any tickstock channel
