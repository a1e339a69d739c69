"""Steps of features/60_service_boundaries.feature: each sentence is one call into the checks."""

from behave import given, then, when

from tickstock_acceptance.checks.boundaries import audit, coupling, expansion, role
from tickstock_acceptance.checks.scenarios import separation
from tickstock_acceptance.reporting import evidence
from tickstock_acceptance.steplib.expect import no_problems


# -- scenario generation stays separate (SVC-3) ---------------------------------------------------
@given("the database's write statistics of every table")
def step_statistics_before(context):
    before = context.state.scenarios.snapshot_statistics()
    evidence.record("tables in the database's statistics", len(before), "tables")


@then("the database's statistics show no row inserted, updated or deleted in any table outside the "
      "synthetic schema")
def step_no_production_writes(context):
    flow = context.state.scenarios
    delta = flow.statistics_changes()
    for table, d in sorted(delta.items()):
        evidence.record(f"rows written to {table}", d.inserted + d.updated + d.deleted, "rows",
                        note=f"{d.inserted} inserted, {d.updated} updated, {d.deleted} deleted")
    no_problems(separation.production_write_problems(delta, flow.contract.schema),
                "writes outside the synthetic schema")


@then("the database's statistics show the loaded rows written to the synthetic daily bars")
def step_synthetic_written(context):
    flow = context.state.scenarios
    no_problems(separation.synthetic_growth_problems(flow.statistics_changes(), flow.contract.bars_table,
                                                     flow.rows_of_every_scenario),
                "the synthetic tables' statistics (the check's positive control)")


@then("the observer saw no message on any tickstock channel")
def step_no_messages(context):
    received = context.state.flow.observer.snapshot()
    evidence.record("messages observed on tickstock channels", len(received), "messages")
    no_problems(separation.message_problems(received), "the tickstock channels")


# -- TickStockApp's role boundary (SVC-1) -----------------------------------------------------------
@given("the database as the producer version under test deployed it")
def step_deployed(context):
    context.state.boundaries.deployed()


@given("the database role TickStockApp connects as")
def step_app_role(context):
    probe = context.state.boundaries.probe
    evidence.record("TickStockApp's database role", 1, "role", note=probe.role)


@then("TickStockApp's role reads {tables:ProducerTables} and calls the contract's read functions")
def step_role_reads(context, tables):
    reads = context.state.boundaries.probe.read(tables)
    evidence.record("reads that worked as TickStockApp's role", sum(a.succeeded for a in reads), "reads",
                    note="; ".join(a.describe() for a in reads))
    no_problems(role.read_problems(reads), "reads as TickStockApp's role")


@then("TickStockApp's role is refused every write to {tables:ProducerTables} "
      "with SQLSTATE {code:PermissionSqlstate}")
def step_role_refused_writes(context, tables, code):
    writes = context.state.boundaries.probe.write(tables)
    for a in writes:
        evidence.record(f"refused: {a.what}", 0 if a.succeeded else 1, "refusals", note=a.describe())
    no_problems(role.refusal_problems(writes, code), "writes as TickStockApp's role")


@then("TickStockApp's role is refused a call of {function:ProducerFunction} "
      "with SQLSTATE {code:PermissionSqlstate}")
def step_role_refused_call(context, function, code):
    a = context.state.boundaries.probe.call_write_function(function)
    evidence.record(f"refused: {a.what}", 0 if a.succeeded else 1, "refusals", note=a.describe())
    no_problems(role.refusal_problems([a], code), "calls as TickStockApp's role")


# -- TickStockApp under watch (SVC-1, SVC-2, loose coupling) -----------------------------------------
@given("TickStockApp running against the test database and Redis")
def step_app_running(context):
    app = context.state.boundaries.start_app()
    health = app.health()
    evidence.record("TickStockApp's database and Redis up", sum(
        (health.get(k) or {}).get("state") == "up" for k in ("database", "redis")), "servers",
        note=f"{app.describe()}: {health.get('status')}")


@given("the suite's probe writing as TickStockApp's role where the role may and where it may not")
def step_probe_writes(context):
    b = context.state.boundaries
    b.enable_audit()
    b.probe.allowed_write()
    b.probe.write(b.probe_tables)


@given("TickStockApp's processes, sockets and the Redis commands under watch")
def step_watch(context):
    context.state.boundaries.watch()


@when("TickStockApp has updated its view from the expansion")
@then("TickStockApp's view shows every expanded theme with the symbol count the producer stored")
def step_view_updated(context):
    b, flow = context.state.boundaries, context.state.flow
    stored, ids = b.expected_view(flow.last, flow.store)
    view = b.wait_for_view(lambda v: expansion.view_settled(v, stored, ids),
                           "TickStockApp's view showing the expansion")
    b.stop_watching()
    evidence.record("themes in TickStockApp's view", len(view), "themes",
                    note=f"{len(stored)} expanded; {sum(stored.values())} symbols stored")
    no_problems(expansion.view_problems(view, stored, ids), "TickStockApp's view")


@then("the database server's log records the probe's writes as TickStockApp's role")
def step_log_control(context):
    b = context.state.boundaries
    writes = b.logged_writes()
    mine = [w for w in writes if w.application == role.PROBE_APPLICATION]
    evidence.record("the probe's writes in the server log", len(mine), "statements",
                    note="; ".join(w.describe() for w in mine[:6]))
    no_problems(audit.control_problems(writes, role.PROBE_APPLICATION, role.ALLOWED_WRITE[1], b.probe_tables),
                "the database server's log (the audit's positive control)")


@then("the database server's log shows no write and no refused write by TickStockApp during the run")
def step_log_no_app_writes(context):
    writes = context.state.boundaries.logged_writes()
    found = audit.app_write_problems(writes)
    evidence.record("writes by TickStockApp in the server log", len(found), "statements",
                    note="" if found else f"{len(writes)} writes of the role logged, all the suite's")
    no_problems(found, "TickStockApp's writes (PostgreSQL's log)")


@then("every message published on any channel during the expansion was the producer's")
def step_only_producer_published(context):
    b, flow = context.state.boundaries, context.state.flow
    b.stop_watching()
    ids = {e.producer_id for e in flow.expansions}
    received = flow.observer.snapshot() if flow.observer else []
    published = [c for c in b.redis.commands if c.name in ("PUBLISH", "SPUBLISH")]
    evidence.record("messages published during the expansion", len(published), "messages",
                    note=f"{len(received)} seen by the observer on the tickstock channels")
    problems = expansion.observed_message_problems(received, ids) + expansion.publish_problems(published, ids)
    no_problems(problems, "messages that are not the producer's")


@then("TickStockApp sent no publishing command to Redis")
def step_app_published_nothing(context):
    b = context.state.boundaries
    b.stop_watching()
    own_ends = coupling.redis_addresses(b.processes.sockets, context.system.redis_endpoint.port)
    clients = expansion.app_clients(b.redis.names, own_ends)
    evidence.record("TickStockApp's Redis connections", len(clients), "connections",
                    note=", ".join(sorted(f"{a} {b.redis.names.get(a, '')}".strip() for a in clients)))
    no_problems(expansion.app_publishing_problems(b.redis.commands, clients, b.redis.names),
                "TickStockApp's commands to Redis")


@then("TickStockApp started no process")
def step_app_started_nothing(context):
    b = context.state.boundaries
    b.stop_watching()
    seen = b.processes
    evidence.record("processes TickStockApp started", len(set(seen.children) - set(seen.children_before)),
                    "processes", note=f"{seen.samples} samples of its process tree")
    no_problems(expansion.child_process_problems(seen.children, seen.children_before),
                "processes TickStockApp started")


@then("TickStockApp's sockets went only to the database's port, Redis's port and its own port")
def step_app_sockets(context):
    b = context.state.boundaries
    b.stop_watching()
    seen = b.processes
    system = context.system
    servers = {system.endpoint("consumer").port: "PostgreSQL", system.redis_endpoint.port: "Redis"}
    evidence.record("TickStockApp's sockets seen", len(seen.sockets), "sockets",
                    note=f"{seen.samples} samples; own port {seen.app_port}")
    no_problems(coupling.socket_problems(seen.sockets, seen.app_port, servers), "TickStockApp's sockets")


@then("no process but the suite connected to TickStockApp's port")
def step_no_foreign_clients(context):
    b = context.state.boundaries
    b.stop_watching()
    evidence.record("other processes connected to TickStockApp", len(b.processes.clients), "processes",
                    note="; ".join(b.processes.errors))
    no_problems(coupling.foreign_client_problems(b.processes.clients), "connections to TickStockApp")

