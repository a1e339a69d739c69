"""Steps of features/30_cache_synchronization.feature: each sentence is one call into the checks."""

from behave import given, then, when

from tickstock_acceptance.checks.boundaries.coupling import socket_problems
from tickstock_acceptance.checks.cache_sync import rules
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config import targets as T
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib.expect import no_problems


# -- the market and the synchronizer ------------------------------------------------------------
@given("the producer's test market of {count:MarketSize} symbols is loaded")
def step_market(context, count):
    context.state.sync.ensure_market()


@given("the cache synchronizer is running")
@when("the cache synchronizer starts")
def step_service_running(context):
    context.state.sync.start_service()


@given("the cache synchronizer is stopped")
def step_service_stopped(context):
    context.state.sync.stop_service()


@given("TickStockApp is subscribed to every TickStock channel")
def step_observe(context):
    context.state.sync.observe()


@given("the market moved: {count:d} market caps changed since the last sync")
@when("the market moved: {count:d} market caps changed since the last sync")
def step_market_moved(context, count):
    context.state.sync.move_market(count)


# -- signals ------------------------------------------------------------------------------------
@given("the synchronizer's runs, change log and messages as they are now")
def step_quiet_mark(context):
    context.state.sync.mark_quiet()


@when("the cache synchronizer starts and no end-of-day signal comes for {seconds:QuietSeconds} seconds")
def step_quiet(context, seconds):
    flow = context.state.sync
    flow.start_service()
    flow.found_problems = flow.quiet_problems(seconds)


@then("the synchronizer started no sync, wrote no change log and published nothing meanwhile")
def step_quiet_nothing(context):
    no_problems(context.state.sync.found_problems, "the synchronizer before any signal")


@when("the end-of-day job signals that a new trading day is complete")
def step_signal_new_day(context):
    flow = context.state.sync
    flow.new_trading_day()
    flow.signal()


@when("the end-of-day job signals that the trading day is complete")
def step_signal_day(context):
    context.state.sync.signal()


@then("the synchronizer syncs that trading day, starting within {limit:SyncStartLimit} s of the signal")
def step_synced_in_time(context, limit):
    flow = context.state.sync
    run = flow.wait_for_sync()
    delay = flow.start_delay_s(run)
    evidence.record(
        "sync start after the end-of-day signal",
        delay,
        "s",
        note=f"limit {limit:g} s (the issue's requirement)",
    )
    no_problems(
        [] if delay <= limit else [f"the sync started {delay:.3f} s after the signal"], "the sync's start"
    )


@then("the synchronizer syncs that trading day")
def step_synced(context):
    context.state.sync.wait_for_sync()


@given("the synchronizer has synced a new trading day")
def step_has_synced(context):
    flow = context.state.sync
    flow.new_trading_day()
    flow.signal()
    flow.wait_for_sync()


@then("every task of the sync says completed")
def step_all_completed(context):
    flow = context.state.sync
    run = flow.runs[flow.day]
    flow.wait_for_messages(run)
    no_problems(rules.task_problems(run, flow.completion(run)), f"the sync of {flow.day}")


@then("no sync of that trading day has started")
def step_not_started(context):
    flow = context.state.sync
    no_problems(rules.stopped_problems(flow.db.runs_of(flow.day), flow.day), "the stopped synchronizer")


@when("the end-of-day job signals the same trading day again")
def step_signal_again(context):
    flow = context.state.sync
    context.state.sync.found_changes_before = flow.db.change_count()
    flow.signal()


@then(
    "the synchronizer acknowledges the second signal without running the day again: one run, no new change "
    "log, one daily_sync_complete"
)
def step_duplicate(context):
    flow = context.state.sync
    flow.wait_until_handled()
    no_problems(
        rules.duplicate_problems(
            flow.db.runs_of(flow.day),
            flow.day,
            flow.db.change_count() - context.state.sync.found_changes_before,
            flow.received(),
        ),
        "a second signal for the same trading day",
    )


# -- SYNC-2 / DB-4 --------------------------------------------------------------------------------
@when("{writers:d} real-time writers update market caps while a new trading day is synced")
def step_sync_with_writers(context, writers):
    context.state.sync.sync_new_day_beside(readers=0, writers=writers)


@when("{readers:d} TickStockApp readers query the universes and symbols the sync writes while a new "
      "trading day is synced")
def step_sync_with_readers(context, readers):
    context.state.sync.sync_new_day_beside(readers=readers, writers=0)


@then("the writers were at work during the whole sync")
def step_writers_overlap(context):
    no_problems(context.state.sync.overlap_problems("writers"), "the real-time writes beside the sync")


@then("the readers were at work during the whole sync")
def step_readers_overlap(context):
    no_problems(context.state.sync.overlap_problems("readers"), "TickStockApp's reads beside the sync")


@then("the real-time writes during the sync stayed within the {target:Target} at p95")
def step_writes_p95(context, target):
    flow = context.state.sync
    evidence.assert_within(
        "real-time write latency during the sync (from due time)",
        flow.during_sync("writers"),
        "ms",
        target,
        judged_by="p95",
    )


@then("TickStockApp's reads during the sync stayed within the {target:Target} at p95")
def step_reads_p95(context, target):
    flow = context.state.sync
    evidence.assert_within(
        "TickStockApp read latency during the sync (from due time)",
        flow.during_sync("readers"),
        "ms",
        target,
        judged_by="p95",
    )


@then("no writer met a deadlock or any other database error")
def step_no_write_errors(context):
    flow = context.state.sync
    no_problems(
        rules.database_error_problems([], flow.neighbours.writes().errors, flow.deadlocks_seen()),
        "the real-time writers beside the sync",
    )


@then("no reader met a database error")
def step_no_read_errors(context):
    flow = context.state.sync
    no_problems(
        rules.database_error_problems(flow.neighbours.reads().errors, [], 0), "the readers beside the sync"
    )


@then("no real-time update was lost: every market cap a writer committed last is in the database")
def step_no_lost_update(context):
    flow = context.state.sync
    writes = flow.neighbours.writes()
    evidence.record(
        "hot symbols written", len(writes.last_written), "symbols", note=f"{writes.commits} commits"
    )
    no_problems(
        rules.lost_update_problems(writes.last_written, flow.neighbours.final_caps(flow.system)),
        "the real-time writes",
    )


# -- SYNC-3 -------------------------------------------------------------------------------------------
@given("a mid-cap Technology symbol listed {days:d} days before a new trading day, in no universe yet")
def step_listing(context, days):
    context.state.sync.add_listing(days, "mid_cap", "Technology")


@when("the IPO monitor scans for new listings")
def step_monitor(context):
    flow = context.state.sync
    context.state.sync.found_monitor = flow.announce_listings()


@then("the IPO monitor announced the new listing on the automation stream")
def step_announced(context):
    flow = context.state.sync
    symbol = flow.listing.symbol
    announced = context.state.sync.found_monitor.report.get("announced") or []
    message = flow.announcement_of(symbol)
    problems = [] if symbol in announced else [f"the IPO monitor's report does not name {symbol}"]
    if message is None:
        problems.append(f"no ipo_listed for {symbol} on the automation channel")
    else:
        flow.announcement_id = message.message_id
        problems.extend(message.problems())
    no_problems(problems, "the IPO monitor")


@then("the new listing is in the IPO universe of its tier and sector and in no other universe")
def step_listing_assigned(context):
    flow = context.state.sync
    run = flow.wait_for_sync()
    flow.wait_for_messages(run)
    context.state.sync.found_ipo = rules.ipo_problems(
        flow.listing.symbol,
        flow.ipo_universe(),
        flow.db.universes(),
        flow.received(),
        run.run_id,
        flow.announcement_id,
        flow.db.changes(run.run_id),
    )
    no_problems(
        [p for p in context.state.sync.found_ipo if "ipo_assignment" not in p], "the new listing's universe"
    )


@then("an ipo_assignment message names the new listing, its universe and the IPO monitor's announcement")
def step_ipo_message(context):
    no_problems(
        [p for p in context.state.sync.found_ipo if "ipo_assignment" in p], "the ipo_assignment message"
    )


# -- SYNC-4 -------------------------------------------------------------------------------------------
@then(
    "TickStockApp receives one daily_sync_complete followed by one universe_synchronized per changed universe"
)
def step_notifications(context):
    flow = context.state.sync
    run = flow.runs[flow.day]
    flow.wait_for_messages(run)
    no_problems(
        rules.synchronized_problems(
            flow.received(), run.run_id, flow.db.changes(run.run_id), flow.db.universes()
        ),
        "the sync's notifications",
    )


@then("the totals in daily_sync_complete agree with the change log in the database")
def step_totals(context):
    flow = context.state.sync
    run = flow.runs[flow.day]
    complete = flow.completion(run)
    changes = flow.db.changes(run.run_id)
    evidence.record("changes in the sync's change log", len(changes), "rows")
    no_problems(
        ["no daily_sync_complete arrived"] if complete is None else rules.totals_problems(complete, changes),
        "daily_sync_complete's totals",
    )


@then("every notification is valid against its schema and arrived within the {target:Target}")
def step_valid_in_time(context, target):
    flow = context.state.sync
    messages = rules.of_run(flow.received(), flow.runs[flow.day].run_id)
    no_problems(
        [f"{r.event_type}: {p}" for r in messages for p in r.problems()], "the notifications' schemas"
    )
    evidence.assert_within(
        "sync notification delivery",
        [r.latency_ms() / 1000.0 for r in messages],
        "s",
        target,
        judged_by="max",
    )


@then("the tier, top-N and theme universes hold exactly what the contract's rules give for the symbols table")
def step_rules(context):
    flow = context.state.sync
    no_problems(
        rules.universe_problems(flow.db.universes(), flow.expected_universes(flow.day)),
        "the synchronizer's universes",
    )


@then("no universe holds an inactive symbol")
def step_no_inactive(context):
    flow = context.state.sync
    no_problems(
        rules.inactive_member_problems(flow.db.universes(), flow.db.symbol_rows(flow.prefix)),
        "the synchronizer's universes",
    )


@given("no ETF correlations of the synchronizer are stored")
def step_forget_correlations(context):
    context.state.sync.forget_correlations()


@then("the stored correlations of every ETF theme agree with the suite's own computation from the daily bars")
def step_correlations(context):
    flow = context.state.sync
    expected, names = flow.correlation_oracle(flow.day)
    pairs = sum(len(e["pairs"]) for e in expected.values() if e)
    evidence.record("ETF correlation pairs checked", pairs, "pairs", note=f"{len(expected)} themes")
    problems = rules.correlation_problems(flow.db.universes(), expected, names, M.SYNC_CORRELATION_TOLERANCE)
    if not pairs:
        problems.append("no ETF theme has enough members with daily bars to correlate")
    no_problems(problems, "the ETF correlations")


@then("TickStockApp receives one etf_correlation_update per ETF theme, equal to the stored correlations")
def step_correlation_messages(context):
    flow = context.state.sync
    run = flow.runs[flow.day]
    flow.wait_for_messages(run)
    _, names = flow.correlation_oracle(flow.day)
    no_problems(
        rules.correlation_message_problems(flow.received(), run.run_id, flow.db.universes(), names),
        "the etf_correlation_update messages",
    )


@given("the synchronizer's universes as they are now")
def step_universes_before(context):
    flow = context.state.sync
    flow.universes_before = flow.db.universes()


@when("every symbol of the test market is removed from the symbols table")
def step_remove_market(context):
    flow = context.state.sync
    evidence.record("test market symbols removed", flow.db.remove_symbols(flow.prefix), "symbols")


@then(
    "daily_sync_complete reports market_cap_recalculation, delisted_cleanup and theme_rebalancing as failed, "
    "each with its error"
)
def step_failed_loudly(context):
    flow = context.state.sync
    run = flow.runs[flow.day]
    flow.wait_for_messages(run)
    no_problems(
        rules.task_problems(
            run,
            flow.completion(run),
            expect_failed=("market_cap_recalculation", "delisted_cleanup", "theme_rebalancing"),
        ),
        "the sync over an empty symbols table",
    )


@then("every universe of the synchronizer is exactly as it was before")
def step_unchanged(context):
    flow = context.state.sync
    no_problems(
        rules.unchanged_problems(flow.universes_before, flow.db.universes()), "the synchronizer's universes"
    )


# -- SYNC-5 / PERF-4 -------------------------------------------------------------------------------------
@when("a new trading day is synced with nothing else running")
def step_sync_alone(context):
    flow = context.state.sync
    flow.new_trading_day()
    flow.signal()
    flow.found_alone = flow.wait_for_sync()


@when(
    "a new trading day is synced while {readers:d} TickStockApp readers and {writers:d} real-time writers "
    "work on the same tables"
)
def step_sync_loaded(context, readers, writers):
    flow = context.state.sync
    flow.found_loaded = flow.sync_new_day_beside(readers=readers, writers=writers)


@then("the sync of the {count:MarketSize}-symbol market completed every task within the {target:Target}")
def step_window(context, count, target):
    flow = context.state.sync
    run = flow.found_alone
    evidence.record("sync duration", run.duration_s or 0.0, "s", T.CACHE_SYNC_WINDOW,
                    note=f"{run.total_changes} changes, {count} symbols, nothing else running")
    no_problems(flow.window_problems([run], target), "the sync of the market")


@then("both syncs of the {count:MarketSize}-symbol market completed every task within the {target:Target}")
def step_windows(context, count, target):
    flow = context.state.sync
    no_problems(
        flow.window_problems([flow.found_alone, flow.found_loaded], target), "the syncs of the market"
    )


@then("both sync durations are in the evidence, with and without load")
def step_durations(context):
    flow = context.state.sync
    alone, loaded = flow.found_alone, flow.found_loaded
    evidence.record(
        "sync duration without load",
        alone.duration_s,
        "s",
        T.CACHE_SYNC_WINDOW,
        note=f"{alone.total_changes} changes",
    )
    evidence.record(
        "sync duration under load",
        loaded.duration_s,
        "s",
        T.CACHE_SYNC_WINDOW,
        note=f"{loaded.total_changes} changes; load: {flow.describe_neighbours()}",
    )


# -- RED-3 -------------------------------------------------------------------------------------------------
@given("an automation consumer group registered on the automation stream")
def step_automation_group(context):
    context.state.sync.register_automation_group()


@then(
    "the automation consumer group receives that day's daily_sync_complete exactly once, valid against its "
    "schema and the same message as on tickstock.cache.sync_complete"
)
def step_automation_once(context):
    flow = context.state.sync
    run = flow.runs[flow.day]
    flow.wait_for_messages(run)
    flow.automation.read()
    no_problems(
        rules.automation_problems(flow.automation.entries(), flow.day, flow.completion(run), 0),
        "the automation stream",
    )


@then("nothing is left pending for the automation consumer group")
def step_automation_pending(context):
    flow = context.state.sync
    flow.automation.read()  # anything delivered since: a second copy would show here
    no_problems(
        rules.automation_problems(
            flow.automation.entries(),
            flow.day,
            flow.completion(flow.runs[flow.day]),
            flow.automation.pending(),
        ),
        "the automation consumer group",
    )


# -- SVC-4 -------------------------------------------------------------------------------------------------
@given("the synchronizer's process is watched")
def step_watch(context):
    context.state.sync.watch_service()


@then(
    "during the sync the synchronizer's sockets went only to PostgreSQL and Redis, and it started no process"
)
def step_sockets(context):
    flow = context.state.sync
    seen = flow.stop_watch()
    evidence.record(
        "synchronizer socket samples", seen.samples, "samples", note=f"{len(seen.sockets)} sockets"
    )
    problems = socket_problems(seen.sockets, -1, flow.servers())
    problems += [f"it started {cmd} (pid {pid})" for pid, cmd in sorted(seen.children.items())]
    no_problems(problems, "the synchronizer's connections")


@then("TickStockApp received every notification of the sync through Redis")
def step_app_received(context):
    flow = context.state.sync
    run = flow.runs[flow.day]
    flow.wait_for_messages(run)
    no_problems(rules.synchronized_problems(flow.received(), run.run_id, flow.db.changes(run.run_id),
                                            flow.db.universes()), "the sync's notifications to TickStockApp")
