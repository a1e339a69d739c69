"""Steps of features/80_resilience_validation.feature: each sentence is one call into the checks."""

from behave import given, then, when  # noqa: F401

# RES-2 and RES-3
from tickstock_acceptance.checks.resilience import concurrency as res_concurrency
from tickstock_acceptance.checks.resilience import isolation as resilience_isolation
from tickstock_acceptance.checks.resilience import stress as res_stress
from tickstock_acceptance.config import measurement as res_m
from tickstock_acceptance.reporting import evidence  # noqa: F401
from tickstock_acceptance.steplib.expect import no_problems  # noqa: F401
from tickstock_acceptance.sut.tickstock_app import tickstock_app_for

# -- RES-1 and RES-4: recovery and error isolation ------------------------------------------------
_SERVER_NAMES = {"PostgreSQL": "postgres", "Redis": "redis"}


def _recovery_time(context, what: str, seconds, target, who: str, why_not: str = ""):
    from tickstock_acceptance.checks.resilience import recovery

    if seconds is not None:
        evidence.record(what, seconds, target.unit, target,
                        note=f"from the server answering again; the server's restart took "
                             f"{context.state.recovery.restart_s:.2f} s")
    no_problems(recovery.recovery_problems(seconds, target, who, why_not), who)


@given("TickStockApp running as the run's service with the database and Redis up")
def step_res_app(context):
    isolation = context.state.isolation
    app = isolation.start_app()
    no_problems(isolation.same_process_problems() + resilience_isolation.health_problems(
        app.health(), {"database": "up", "redis": "up"}), "TickStockApp before the fault")


@given("the producer writing every ETF universe round after round as a service")
def step_res_producer_loop(context):
    context.state.recovery.start_producer(context.state.flow.producer)


@given("a TickStockApp client asking for a universe again and again")
def step_res_poller(context):
    recovery = context.state.database_recovery
    recovery.use_app(context.state.isolation)
    recovery.start_queries()


@when("PostgreSQL stops in immediate mode while they work, stays down for a moment and is started again")
def step_res_pg_crash(context):
    context.state.database_recovery.crash_and_restart()


@then("the producer reported failed rounds while PostgreSQL was down")
def step_res_pg_fault_met(context):
    recovery = context.state.database_recovery
    failed = [r for r in recovery.report.rounds if r.get("status") == "failed"]
    evidence.record("producer rounds failed during the fault", len(failed), "rounds",
                    note=recovery.producer_last_error())
    no_problems(recovery.fault_met_work_problems(), "the producer during the fault")


@then("the producer wrote a whole round again within the {target:Target} after PostgreSQL answered")
def step_res_pg_producer_back(context, target):
    recovery = context.state.database_recovery
    _recovery_time(context, "producer recovery after PostgreSQL's immediate stop",
                   recovery.producer_recovery_s(), target, "the producer's writes",
                   recovery.producer_last_error())


@then("TickStockApp answered the universe query again within the {target:Target} after PostgreSQL answered")
def step_res_pg_app_back(context, target):
    recovery = context.state.database_recovery
    failed = [q for q in recovery.queries if not q.ok and q.sent_at > recovery.down_at]
    evidence.record("TickStockApp queries answered with an error during the fault", len(failed), "queries",
                    note=(failed[-1].error[:200] if failed else "none"))
    last = failed[-1].error if failed else ""
    _recovery_time(context, "TickStockApp recovery after PostgreSQL's immediate stop",
                   recovery.app_recovery_s(), target, "TickStockApp's universe query", last)


@then("every round of writes the producer acknowledged before the stop was in the database after the restart")
def step_res_pg_committed(context):
    no_problems(context.state.database_recovery.committed_problems(), "the committed universes")


@then("every ETF universe in the database is one whole write of the producer's")
def step_res_pg_whole(context):
    no_problems(context.state.database_recovery.whole_write_problems(), "the ETF universes after the crash")


@then("the producer and TickStockApp kept running through the fault")
def step_res_kept_running(context):
    recovery = context.state.recovery
    rounds = recovery.report.rounds if recovery.report else []
    evidence.record("producer rounds through the fault", len(rounds), "rounds",
                    note=f"{sum(r.get('status') == 'completed' for r in rounds)} completed")
    no_problems(recovery.kept_running_problems(), "the components through the fault")


@given("the test Redis writing every change to its append-only file before it answers")
def step_res_redis_durable(context):
    recovery = context.state.redis_recovery
    recovery.use_app(context.state.isolation)
    settings = recovery.make_durable()
    evidence.record("Redis durable for the scenario", 1, "servers",
                    note=", ".join(f"{k} {v}" for k, v in sorted(settings.items()))
                    + "; restarts use --appendonly yes --appendfsync always")
    no_problems([] if settings.get("appendonly") == "yes" and settings.get("appendfsync") == "always"
                else [f"Redis says {settings}"], "Redis's persistence")
    no_problems(recovery.app_caught_up_problems(), "TickStockApp before the fault")


@when("Redis is killed with kill -9 while the producer publishes, stays down for a moment and is started "
      "again")
def step_res_redis_kill(context):
    context.state.redis_recovery.kill_and_restart()


@then("the producer published on the universe stream again within the {target:Target} after Redis answered")
def step_res_redis_producer_back(context, target):
    recovery = context.state.redis_recovery
    _recovery_time(context, "producer recovery after Redis's kill -9", recovery.producer_recovery_s(), target,
                   "the producer's publishing")


@then("TickStockApp showed Redis up and its consumer group read again within the {target:Target} after "
      "Redis answered")
def step_res_redis_app_back(context, target):
    recovery = context.state.redis_recovery
    _recovery_time(context, "TickStockApp recovery after Redis's kill -9", recovery.app_recovery_s(), target,
                   "TickStockApp's Redis consumption")


@then("every entry on the universe stream before the kill is still there")
def step_res_redis_kept(context):
    recovery = context.state.redis_recovery
    evidence.record("producer entries on the stream before the kill", len(recovery.before_kill), "entries")
    no_problems(recovery.kept_problems(), "the stream after the restart")


@then("the delivery checker finds every stream entry the producer acknowledged on the stream once, in the "
      "producer's order")
def step_res_redis_checker(context):
    recovery = context.state.redis_recovery
    report = recovery.delivery()
    evidence.record("acknowledged entries on the stream after the restart", report.delivered, "messages",
                    note=f"{report.summary()}; {len(recovery.report.unacknowledged)} sends raised "
                         "(indeterminate)")
    no_problems(report.problems(), "the universe stream after Redis's kill -9")


@when("{server} is stopped")
def step_res_server_stopped(context, server):
    context.state.isolation.take_down(_SERVER_NAMES[server])


@when("{server} is started again")
def step_res_server_started(context, server):
    seconds = context.state.isolation.bring_back()
    evidence.record(f"{server} restart until it answered", seconds, "s")


@when("the ETF universe manager tries to expand all themes")
def step_res_expand_during_fault(context):
    context.state.isolation.expand(context.state.flow.producer)


@then("the ETF universe manager's run failed with a non-zero exit code and {server}'s error in its report")
def step_res_failed_run(context, server):
    isolation = context.state.isolation
    run = isolation.failed_run
    evidence.record("ETF manager's exit code with the server down", run.returncode, "code",
                    note=run.reported_error()[:300])
    port = isolation.server_port(_SERVER_NAMES[server])
    no_problems(resilience_isolation.failed_run_problems(run, server, port), "the ETF manager's run")


@then("TickStockApp's health shows the database down and Redis up")
def step_res_health_db_down(context):
    isolation = context.state.isolation
    want = {"database": "down", "redis": "up"}
    health = isolation.wait_for_health(want)
    evidence.record("TickStockApp's health with the database down", 1, "answers",
                    note=f"status {health.get('status')}; "
                         f"database: {(health.get('database') or {}).get('error')}")
    no_problems(isolation.same_process_problems() + resilience_isolation.health_problems(health, want),
                "TickStockApp's health")


@then("events the producer's tick processor published meanwhile reached TickStockApp")
def step_res_events_reach_app(context):
    isolation = context.state.isolation
    counted = isolation.events_reach_app(context.state.flow.producer)
    evidence.record("producer events TickStockApp counted with the database down", counted, "messages")
    no_problems([] if counted else ["TickStockApp counted none of them"],
                "TickStockApp's consumption of Redis")


@then("TickStockApp, still the same process, shows the database and Redis up and answers a universe query")
def step_res_app_healed(context):
    isolation = context.state.isolation
    health = isolation.wait_for_health({"database": "up", "redis": "up"})
    no_problems(isolation.same_process_problems()
                + resilience_isolation.health_problems(health, {"database": "up", "redis": "up"})
                + isolation.universe_query_problems(), "TickStockApp after the fault")


@then("a new expansion by the producer succeeds and TickStockApp's view follows it")
def step_res_view_follows(context):
    isolation = context.state.isolation
    isolation.expand_after_healing(context.state.flow.producer)
    no_problems(isolation.view_problems(), "the producer and TickStockApp after the fault")


@when("the suite injects malformed JSON, missing required fields, wrong types, an oversized payload and an "
      "unknown event type on the universe channel and on its stream")
def step_res_inject(context):
    injection = context.state.isolation.inject_bad_notifications()
    evidence.record("bad notifications injected", len(injection.items), "messages",
                    note=", ".join(resilience_isolation.BAD_KINDS) + " (each live and on the stream)")


@given("valid universe updates flowing from the producer round after round")
def step_res_valid_traffic(context):
    context.state.isolation.start_valid_traffic(context.state.flow.producer)


@then("no valid notification sent around them was lost: TickStockApp's group acknowledged the stream to "
      "its end, none is a dead letter, and the delivery checker finds every entry the producer acknowledged "
      "once, in order")
def step_res_valid_kept(context):
    problems, report = context.state.isolation.valid_traffic()
    evidence.record("valid producer notifications around the bad ones", report.delivered, "messages",
                    note=report.summary())
    no_problems(problems + report.problems(), "the valid notifications around the bad input")


@then("TickStockApp recorded each injected notification in its dead-letter stream with a reason")
def step_res_dead_letters(context):
    isolation = context.state.isolation
    problems = isolation.dead_letters()
    evidence.record("dead letters for the injected notifications", len(isolation.letters), "messages",
                    note=" | ".join(sorted({str(d.get("reason", ""))[:80]
                                            for d in isolation.letters}))[:1000])
    no_problems(isolation.same_process_problems() + problems, "TickStockApp's dead letters")


@given("the producer has expanded all themes")
def step_res_expanded(context):
    run = context.state.flow.producer.expand()
    no_problems([] if run.returncode == 0 else [run.describe()], "the expansion before the fault")
    context.state.isolation.remember_rows()


@then("every ETF universe in the database is one whole write of the producer's, before and after")
def step_res_rows_whole(context):
    no_problems(context.state.isolation.row_problems(), "the ETF universes with Redis down")



# -- RES-2 and RES-3: concurrency and memory under stress ------------------------------------------


@when("ETF universe queries, universe updates, TickStockApp HTTP queries and producer expansions that "
      "publish start together")
def step_res_mixed_operations(context):
    ops = context.state.mixed_operations
    ops.run(tickstock_app_for(context.state.system))
    evidence.record("simultaneous operations: wall time from the barrier to the last one's end",
                    ops.elapsed_s, "s", note=f"{ops.expected} operations of {len(ops.kinds)} kinds; the aim: "
                              f"within {res_m.RES_OPERATIONS_AIM_S:g} s")
    no_problems(res_concurrency.mix_problems(ops.results, ops.kinds), "the mixed operations")


@then("every operation completed without an error")
def step_res_no_errors(context):
    ops = context.state.mixed_operations
    evidence.record("simultaneous operations that succeeded", sum(r.ok for r in ops.results), "operations",
                    higher_is_better=True, note=f"of {ops.expected}; kinds: {', '.join(ops.kinds)}")
    no_problems(res_concurrency.error_problems(ops.results, ops.expected), "simultaneous operations")


@then("at least {operations:ConcurrentOperations} operations were in flight at the same time")
def step_res_in_flight(context, operations):
    ops = context.state.mixed_operations
    evidence.record("peak operations in flight", res_concurrency.peak_in_flight(ops.results), "operations",
                    higher_is_better=True, note=f"swept from {len(ops.results)} operations' start and end "
                                                f"times; spec: {operations}+ simultaneous operations")
    no_problems(res_concurrency.in_flight_problems(ops.results, operations),
                f"{operations}+ simultaneous operations")


@then("the latency distribution of each kind of operation and of all of them is in the evidence")
def step_res_latencies(context):
    ops = context.state.mixed_operations
    for kind, ms in res_concurrency.latencies_by_kind(ops.results).items():
        evidence.record_distribution(f"simultaneous operations latency: {kind}", ms, "ms", judged_by="p99")
    no_problems([] if ops.results else ["no operation ran"], "the operations' latencies")


@when("Locust drives {users:LocustUsers} users of ETF universe queries, universe updates, TickStockApp HTTP "
      "queries and producer expansions for {seconds:LocustSeconds} seconds from a master and "
      "{workers:LocustWorkers} workers")
def step_res_locust_load(context, users, seconds, workers):
    report = context.state.distributed_load.run(tickstock_app_for(context.state.system), int(users),
                                                int(seconds), int(workers))
    for kind, s in report.stats.items():
        evidence.record(f"Locust: {kind} requests", s.requests, "requests", higher_is_better=True,
                        note=f"{s.failures} failed; Locust's p50 {s.p50_ms:g} ms, p95 {s.p95_ms:g} ms, "
                             f"p99 {s.p99_ms:g} ms, max {s.max_ms:.0f} ms")


@then("Locust counted every request of every kind as successful")
def step_res_locust_no_errors(context):
    no_problems(context.state.distributed_load.error_problems(), "Locust's load")


@then("at least {operations:ConcurrentOperations} of Locust's requests were in flight at the same time")
def step_res_locust_in_flight(context, operations):
    load = context.state.distributed_load
    evidence.record("peak Locust requests in flight", res_concurrency.peak_in_flight(load.report.requests),
                    "requests", higher_is_better=True,
                    note=f"swept from {len(load.report.requests)} requests' start and duration; "
                         f"spec: {operations}+ simultaneous operations")
    no_problems(load.in_flight_problems(operations), f"{operations}+ simultaneous operations under Locust")


@then("the latency distribution of each kind of Locust's requests is in the evidence")
def step_res_locust_latencies(context):
    latencies = context.state.distributed_load.latencies()
    for kind, ms in latencies.items():
        evidence.record_distribution(f"Locust requests latency: {kind}", ms, "ms", judged_by="p99")
    no_problems([] if latencies else ["Locust logged no request"], "Locust's latencies")


@given("the producer's processes constrained to a low priority, one CPU core and capped address space "
       "and file size, with TickStockApp pinned to that core")
def step_res_constrain(context):
    constrained = context.state.constrained
    constrained.constrain_app(tickstock_app_for(context.state.system))
    evidence.record("CPU cores the run may use", len(constrained.cores), "cores",
                    note=f"constrained profile: {constrained.constraints.describe()}")


@when("the constrained operation set starts together, each operation with its deadline")
def step_res_constrained_run(context):
    constrained = context.state.constrained
    constrained.run(tickstock_app_for(context.state.system))
    for kind, ms in res_concurrency.latencies_by_kind(constrained.results).items():
        evidence.record_distribution(f"constrained operations latency: {kind}", ms, "ms", judged_by="p99")
    evidence.record("constrained operations: wall time from the barrier to the last one's end",
                    constrained.elapsed_s, "s",
                    note=f"{constrained.expected} operations, {constrained.producer_share():.0f} % of "
                         f"them the constrained producer's processes; deadline {constrained.deadline_s:g} s "
                         "each")


@then("every producer process seen ran with those limits, as the kernel reports them")
def step_res_constraints_observed(context):
    constrained = context.state.constrained
    evidence.record("constrained producer processes seen", len(constrained.observed), "processes",
                    note=f"{constrained.constraints.describe()}; TickStockApp: {constrained.app_limits}")
    no_problems(res_concurrency.constraint_problems(constrained.observed, constrained.constraints,
                                                    constrained.app_limits), "the constrained profile")


@then("the share of operations that succeeded meets the {target:Target}")
def step_res_constrained_rate(context, target):
    constrained = context.state.constrained
    failed = res_concurrency.failures(constrained.results)
    evidence.record("success rate under constraints", res_concurrency.success_rate(constrained.results), "%",
                    target, note=f"{len(constrained.results) - len(failed)} of {len(constrained.results)} "
                                 f"succeeded; failed: {'; '.join(failed[:5]) or 'none'}")
    no_problems(res_concurrency.success_rate_problems(constrained.results, target),
                "operations under constraints")


@given("the resident memory and CPU time of TickStockApp and of every producer process sampled every "
       "{interval:ResSampleIntervalMs} ms")
def step_res_sample(context, interval):
    context.state.memory_stress.watch(tickstock_app_for(context.state.system))


@when("the stress profile runs: the tick processor fed at {rate:TickRate} ticks per second, expansion "
      "repeating in a background producer, bursts of expansions, TickStockApp queried by concurrent clients "
      "and a scenario load")
def step_res_stress(context, rate):
    stress = context.state.memory_stress
    problems = stress.run_profile()
    f = stress.figures
    evidence.record("stress profile window", f.window_s, "s", note=stress.describe_profile())
    no_problems(problems, "the stress profile")


@then("the resident memory of TickStockApp and of each long-running producer process grew by less than "
      "the {target:Target}")
def step_res_memory(context, target):
    stress = context.state.memory_stress
    for g in stress.figures.growths:
        evidence.record(f"resident memory increase under stress: {g.name}", g.growth_mb, "MB", target,
                        note=g.describe())
    no_problems(res_stress.memory_problems(stress.figures.growths, (res_stress.APP, res_stress.EXPANDER,
                                                                     res_stress.PROCESSOR), target),
                "resident memory under stress")


@then("the CPU the system under test used averages within the {target:Target} of the machine")
def step_res_cpu(context, target):
    stress = context.state.memory_stress
    f = stress.figures
    per_core = "; ".join(f"{name} {pct:.0f} %" for name, pct in stress.per_process_cpu().items())
    evidence.record("average CPU of the system under test under stress", f.cpu_share, "%", target,
                    note=f"{f.cpu_s:.2f} CPU s (TickStockApp {f.app_cpu_s:.2f}, producer processes "
                         f"{f.producer_cpu_s:.2f}) over {f.window_s:.1f} s x {f.cores} cores; "
                         f"in % of one core: {per_core}")
    no_problems(res_stress.cpu_problems(f.cpu_share, target, f.window_s), "CPU under stress")


@then("Redis's used memory before and after the profile, the short-lived commands' peak memory and the "
      "memory curves are in the evidence")
def step_res_redis_and_curves(context):
    import allure

    stress = context.state.memory_stress
    f = stress.figures
    evidence.record("Redis used_memory before the stress profile", f.redis_before / res_stress.MB, "MB")
    evidence.record("Redis used_memory after the stress profile", f.redis_after / res_stress.MB, "MB",
                    note=f"{(f.redis_after - f.redis_before) / res_stress.MB:+.1f} MB (tick and event "
                         "streams grow by design; removed when the scenario ends)")
    for label, (peak, count) in sorted(stress.short_lived_peaks().items()):
        evidence.record(f"peak resident memory of short-lived {label}", peak / res_stress.MB, "MB",
                        note=f"{count} processes sampled; reported, not judged")
    allure.attach(stress.chart(), name="resident memory curves (SVG)",
                  attachment_type=allure.attachment_type.SVG)
    no_problems([] if f.growths else ["no resident memory curve was sampled"], "the memory evidence")


# -- RES-1: connection faults through the suite's fault proxy ----------------------------------------
@given("TickStockApp connected to {server:LinkServer} through the suite's fault proxy")
def step_link_app(context, server):
    context.state.link_faults.start_app(server)


@given("TickStockApp's view follows an expansion by the producer")
def step_link_view_before(context):
    no_problems(context.state.link_faults.expand_before_fault(context.state.flow.producer),
                "TickStockApp before the fault")


@given("the producer publishing universe updates round after round as a service")
def step_link_producer(context):
    context.state.link_faults.start_producer(context.state.flow.producer)


@when("the proxy resets every connection between TickStockApp and Redis")
def step_link_reset(context):
    context.state.link_faults.inject("reset")


@when("the proxy blackholes the link between TickStockApp and {server:LinkServer}: no answer and no close")
def step_link_blackhole(context, server):
    context.state.link_faults.inject("blackhole")


@when("the producer expands every theme while the link is cut, and TickStockApp is given its notifications")
def step_link_expand_cut(context):
    no_problems(context.state.link_faults.expand_while_cut(context.state.flow.producer),
                "the expansion while TickStockApp's link to PostgreSQL was cut")


@when("the proxy delays every packet between TickStockApp and Redis by {ms:LinkLatency} ms for "
      "{seconds:SlowSeconds} seconds")
def step_link_slow(context, ms, seconds):
    faults = context.state.link_faults
    faults.inject("latency")
    faults.found_lost = faults.watch_quietly(seconds)


@then("TickStockApp reports its Redis connection lost within the {target:Target}")
def step_link_lost(context, target):
    faults = context.state.link_faults
    seconds = faults.wait_until_lost()
    _link_time(f"TickStockApp noticing the {faults.fault}", seconds, target, faults,
               "TickStockApp did not report a lost connection")


@then("TickStockApp shows the database down within the {target:Target}")
def step_link_db_down(context, target):
    faults = context.state.link_faults
    _link_time("TickStockApp showing the database down", faults.wait_until_database_down(), target, faults,
               "TickStockApp did not show the database down")


@then("TickStockApp shows the database up again within the {target:Target}")
def step_link_db_back(context, target):
    faults = context.state.link_faults
    _link_time("TickStockApp showing the database up after the link healed", faults.found_back, target,
               faults, "TickStockApp did not show the database up")


@then("TickStockApp's view follows the expansion made while the link was cut, and its consumer group "
      "acknowledged the universe stream to its end")
def step_link_view_after(context):
    no_problems(context.state.link_faults.view_problems(), "TickStockApp after its link to PostgreSQL healed")


@then("TickStockApp reported no lost connection while the link was slow")
def step_link_not_lost(context):
    lost = context.state.link_faults.found_lost
    no_problems([f"it logged: {line}" for line in lost[:2]], "TickStockApp over a slow link")


@when("the proxy heals the link")
def step_link_heal(context):
    context.state.link_faults.found_back = context.state.link_faults.heal()


@then("TickStockApp listens and its consumer group reads again within the {target:Target}")
def step_link_back(context, target):
    faults = context.state.link_faults
    _link_time("TickStockApp reading again after the link healed", faults.found_back, target, faults,
               "TickStockApp did not listen and read again")


@then("TickStockApp's consumer group read and acknowledged the universe stream to its end, and the delivery "
      "checker finds every entry the producer acknowledged once, in order")
def step_link_nothing_lost(context):
    problems, report = context.state.link_faults.finish()
    evidence.record("producer entries on the stream during the scenario", report.delivered, "messages",
                    note=report.summary())
    no_problems(problems + report.problems(), "TickStockApp's consumption over the faulty link")


def _link_time(what: str, seconds, target, faults, missing: str) -> None:
    if seconds is not None:
        evidence.record(what, seconds, target.unit, target, note=f"fault: {faults.fault}")
    no_problems([f"{missing} within {target.describe()}: {faults.app.output_tail(2)}"] if seconds is None
                else [f"{what} took {seconds:.2f} s"] if seconds > target.limit else [], what)
