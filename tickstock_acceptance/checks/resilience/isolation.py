"""Error isolation (RES-4): a fault in one place shows as an error there, never as a silent success, a
crash or corrupt data somewhere else, and every component works again once it heals, without a
restart.

* **PostgreSQL down**: the ETF manager's run (the producer's ``expand``) must fail with a non-zero
  exit code and the database's own error in its report (``failed_run_problems``), while TickStockApp
  answers ``/health`` with the database down and Redis up and keeps consuming Redis: events the
  producer's tick processor publishes meanwhile (it needs no database; the suite feeds it ticks)
  reach its counters.
* **Bad notifications**: malformed JSON, missing required fields, wrong types, an oversized
  payload and an unknown event type, injected by the suite on the live universe channel and on
  its stream (fault injection into TickStockApp), must each land in TickStockApp's dead-letter
  stream with a reason (``dead_letter_problems``) while TickStockApp keeps running as the same
  process and a valid expansion of the producer's still updates its view.
* **Redis down**: the producer's run must fail the same way, and its database work must leave
  every universe one whole write (``recovery.universe_row_problems``).

After each fault heals: TickStockApp is the same process, shows both servers up and answers a
universe query; a new producer expansion succeeds and TickStockApp's view follows it
(``view_follows_problems``).
"""

from __future__ import annotations

import uuid

from tickstock_acceptance.checks.delivery import DeliveryReport
from tickstock_acceptance.checks.resilience.recovery import (
    app_caught_up_problems,
    read_universe_rows,
    stream_delivery,
    universe_row_problems,
)
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.messaging import (
    STREAM_DB,
    TICK_STREAM,
    UNIVERSE_CHANNEL,
    namespaced,
    stream_key,
)
from tickstock_acceptance.contract.reference import reference_themes, should_succeed
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.faults.servers import ServerFaults
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import ProducerController, ProducerRun
from tickstock_acceptance.sut.realtime_processing import TickProcessor, clean_realtime_streams
from tickstock_acceptance.sut.resilience_load import (
    BAD_KINDS,
    DEAD_LETTER_STREAM,
    DurableRedis,
    Injection,
    ProducerLoop,
    dead_letters_after,
    inject,
    last_entry_id,
    stream_entries_after,
)
from tickstock_acceptance.sut.tick_feeder import TickTape, redis_sink
from tickstock_acceptance.sut.tickstock_app import TickStockAppController, tickstock_app_for


# -- problem finders (pure) -----------------------------------------------------------------------
def failed_run_problems(run: ProducerRun, server: str, port: int) -> list[str]:
    """The run failed visibly: a non-zero exit code and the server's own error (naming its port) in
    what it reported."""
    error = run.reported_error()
    problems = []
    if run.returncode == 0:
        problems.append(f"the run reported success (exit 0) with {server} down: {run.describe()}")
    if not error:
        problems.append(f"the run reported no error with {server} down (exit {run.returncode})")
    elif str(port) not in error:
        problems.append(f"its error does not carry {server}'s own error (port {port}): {error}")
    report = run.report if isinstance(run.report, dict) else {}
    completed = [t.get("theme") for t in report.get("themes", [])
                 if isinstance(t, dict) and t.get("status") == "completed"]
    if run.returncode != 0 and completed and server == "PostgreSQL":
        problems.append(f"it reported themes completed while {server} was down: {completed[:3]}")
    return problems


def health_problems(health: dict, want: dict[str, str]) -> list[str]:
    """``/health`` shows each server in the wanted state (``database``/``redis`` → up|down)."""
    problems = []
    for server, state in want.items():
        got = (health.get(server) or {}).get("state")
        if got != state:
            problems.append(f"{server} shown {got!r}, expected {state!r}")
    if want.get("database") == "down" and not (health.get("database") or {}).get("error"):
        problems.append("the database is shown down without its error")
    return problems


def dead_letter_problems(injection: Injection, letters: list[dict]) -> list[str]:
    """Every injected message is one dead letter, from its channel or stream, with a reason."""
    problems = []
    for item in injection.items:
        mine = [d for d in letters if item.marker in str(d.get("payload", ""))[:4096]
                and d.get("channel") == item.path]
        if not mine:
            problems.append(f"{item.kind} on {item.path}: no dead letter")
        elif len(mine) > 1:
            problems.append(f"{item.kind} on {item.path}: {len(mine)} dead letters")
        elif not str(mine[0].get("reason", "")).strip():
            problems.append(f"{item.kind} on {item.path}: dead letter without a reason")
    return problems


def view_follows_problems(view: dict, run: ProducerRun, stored: dict[str, int]) -> list[str]:
    """TickStockApp's view shows each theme the run completed, refreshed from one of the run's
    notifications, with the symbol count the database holds."""
    report = run.report if isinstance(run.report, dict) else {}
    published = set(report.get("published") or [])
    problems = []
    for t in report.get("themes", []):
        if not isinstance(t, dict) or t.get("status") != "completed":
            continue
        theme = t["theme"]
        entry = view.get(theme)
        if not isinstance(entry, dict):
            problems.append(f"{theme}: not in TickStockApp's view")
        elif entry.get("source_message_id") not in published:
            problems.append(f"{theme}: the view was not refreshed from this expansion's notifications")
        elif entry.get("symbol_count") != stored.get(theme):
            problems.append(f"{theme}: {entry.get('symbol_count')} symbols in the view, "
                            f"{stored.get(theme)} stored")
    if not published:
        problems.append("the expansion published nothing")
    return problems


def view_follows_within(system: AcceptanceSystem, app: TickStockAppController, run: ProducerRun | None,
                        when: str, deadline_s: float) -> list[str]:
    """The expansion ``run`` succeeded and TickStockApp's view follows it within ``deadline_s``
    (``view_follows_problems`` against the symbol counts the database holds); [] when it does."""
    if run is None or run.returncode != 0:
        return [f"the expansion {when} failed: {run.describe() if run else 'not run'}"]
    themes = [n for n, t in reference_themes().items() if should_succeed(t)]
    stored = {n: len(r.symbols) for n, r in read_universe_rows(system, themes).items()
              if isinstance(r.symbols, list)}
    seen: dict = {}

    def follows() -> bool:
        seen.clear()
        seen.update(app.view())
        return not view_follows_problems(seen, run, stored)

    try:
        wait_until(follows, deadline_s, f"TickStockApp's view following the expansion {when}")
    except AssertionError:
        pass
    return view_follows_problems(seen, run, stored)


# -- the scenarios' controller ------------------------------------------------------------------
class ErrorIsolation:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.faults = ServerFaults(system)
        self.app: TickStockAppController | None = None
        self.app_pid: int | None = None
        self.down: str | None = None            # the server the scenario has down
        self.failed_run: ProducerRun | None = None
        self.healed_run: ProducerRun | None = None
        self.consumed_while_down = 0
        self.processor: TickProcessor | None = None
        self.injection: Injection | None = None
        self.letters: list[dict] = []
        self.valid_loop: ProducerLoop | None = None
        self._valid_from = "0-0"
        self.rows_before: dict = {}
        self.durable: DurableRedis | None = None
        self.themes = [n for n, t in reference_themes().items() if should_succeed(t)]

    # -- TickStockApp ------------------------------------------------------------------------
    def start_app(self) -> TickStockAppController:
        self.app = tickstock_app_for(self.system)
        self.app_pid = self.app.pid
        self.wait_for_health({"database": "up", "redis": "up"})
        return self.app

    def wait_for_health(self, want: dict[str, str]) -> dict:
        """``/health`` once it shows ``want`` (or the last answer, when the deadline passed)."""
        seen: dict = {}

        def shows() -> bool:
            seen.update(self.app.health())
            return not health_problems(seen, want)

        try:
            wait_until(shows, M.deadline(M.ISOLATION_DEADLINE_S), f"TickStockApp's health showing {want}")
        except AssertionError:
            pass
        return dict(seen)

    def same_process_problems(self) -> list[str]:
        if self.app is None or not self.app.running or self.app.pid != self.app_pid:
            describe = self.app.describe() if self.app else "TickStockApp not started"
            return [f"TickStockApp is not the process it was ({self.app_pid}): {describe}: "
                    f"{self.app.output_tail() if self.app else ''}"]
        return []

    def universe_query_problems(self) -> list[str]:
        status, body = self.app.get_json(f"/api/universes/{M.RECOVERY_THEME}")
        return [] if status == 200 else [f"GET /api/universes/{M.RECOVERY_THEME} answered {status}: "
                                         f"{str(body)[:200]}"]

    # -- faults ------------------------------------------------------------------------------
    def take_down(self, server: str) -> None:
        if server == "redis":
            self.durable = DurableRedis(self.system)  # its data (streams, groups) outlives the stop
            self.durable.enable()
        self.down = server
        self.faults.stop(server)

    def bring_back(self) -> float:
        server, self.down = self.down, None
        return self.faults.restart(server) if server else 0.0

    def server_port(self, server: str) -> int:
        return getattr(self.system, server).port

    # -- work during the fault ---------------------------------------------------------------
    def expand(self, producer: ProducerController) -> ProducerRun:
        self.failed_run = producer.expand()
        return self.failed_run

    def events_reach_app(self, producer: ProducerController) -> int:
        """Run the producer's tick processor (it needs no database), feed it ticks, and return how
        many more notifications TickStockApp counted (bounded wait)."""
        before = int(self.app.health().get("consumed", 0))
        client = self.system.redis_client(STREAM_DB)
        try:
            clean_realtime_streams(client)
            self.processor = TickProcessor(self.system, producer).start()
            tape = TickTape(M.REALTIME_TAPE_SEED, M.REALTIME_SYMBOLS, M.REALTIME_TICKS_PER_MINUTE)
            redis_sink(client, namespaced(TICK_STREAM))(tape.first(M.ISOLATION_TICKS))

            def counted() -> int:
                return max(0, int(self.app.health().get("consumed", 0)) - before)

            try:
                wait_until(counted, M.deadline(M.ISOLATION_DEADLINE_S),
                           "TickStockApp counting the producer's events")
            except AssertionError:
                pass
            self.consumed_while_down = counted()
        finally:
            self._stop_processor(client)
            client.close()
        return self.consumed_while_down

    def _stop_processor(self, client=None) -> None:
        if self.processor is not None:
            self.processor.stop()
            self.processor = None
            own = client or self.system.redis_client(STREAM_DB)
            try:
                clean_realtime_streams(own)
            finally:
                if client is None:
                    own.close()

    # -- bad notifications -------------------------------------------------------------------
    def inject_bad_notifications(self) -> Injection:
        client = self.system.redis_client(STREAM_DB)
        try:
            self._letters_from = last_entry_id(client, namespaced(DEAD_LETTER_STREAM))
            self.injection = inject(client, f"res4-{uuid.uuid4().hex[:8]}", UNIVERSE_CHANNEL)
        finally:
            client.close()
        return self.injection

    def dead_letters(self) -> list[str]:
        """Problems of the dead letters, waiting (bounded) until each injected message has one."""
        client = self.system.redis_client(STREAM_DB)
        try:
            def all_there() -> bool:
                self.letters = dead_letters_after(client, self._letters_from)
                return not dead_letter_problems(self.injection, self.letters)

            try:
                wait_until(all_there, M.deadline(M.ISOLATION_DEADLINE_S),
                           "a dead letter for each injected message")
            except AssertionError:
                pass
        finally:
            client.close()
        return dead_letter_problems(self.injection, self.letters)

    # -- valid traffic around the bad input ---------------------------------------------------
    def start_valid_traffic(self, producer: ProducerController) -> None:
        """The producer publishing universe updates round after round while the bad input goes in."""
        client = self.system.redis_client(STREAM_DB)
        try:
            self._valid_from = last_entry_id(client, stream_key(UNIVERSE_CHANNEL))
        finally:
            client.close()
        self.valid_loop = ProducerLoop(self.system, producer).start()

    def valid_traffic(self) -> tuple[list[str], DeliveryReport]:
        """Stop the producer; TickStockApp's group must have read and acknowledged the stream to its end,
        no dead letter may hold one of the producer's messages, and the delivery checker judges the
        producer's entries on the stream (what the group read)."""
        report = self.valid_loop.stop()
        problems = app_caught_up_problems(self.system, M.deadline(M.ISOLATION_DEADLINE_S))
        client = self.system.redis_client(STREAM_DB)
        try:
            key = stream_key(UNIVERSE_CHANNEL)
            entries = [r for _eid, r in stream_entries_after(client, key, self._valid_from)]
        finally:
            client.close()
        valid_ids = {r.message_id for r in entries if r.producer_id == report.producer_id}
        dead = [d for d in self.letters if any(m in str(d.get("payload", "")) for m in valid_ids if m)]
        if dead:
            problems.append(f"{len(dead)} of the producer's valid notifications are dead letters: "
                            f"{str(dead[0].get('reason', ''))[:120]}")
        return problems, stream_delivery(report, entries)

    # -- rows --------------------------------------------------------------------------------
    def remember_rows(self) -> None:
        self.rows_before = read_universe_rows(self.system, self.themes)

    def row_problems(self) -> list[str]:
        ref = reference_themes()
        before = universe_row_problems(self.rows_before, ref)
        after = universe_row_problems(read_universe_rows(self.system, self.themes), ref)
        return [f"before: {p}" for p in before] + [f"after: {p}" for p in after]

    # -- after the fault healed --------------------------------------------------------------
    def expand_after_healing(self, producer: ProducerController) -> ProducerRun:
        self.healed_run = producer.expand()
        return self.healed_run

    def view_problems(self) -> list[str]:
        return view_follows_within(self.system, self.app, self.healed_run, "after the fault",
                                   M.deadline(M.ISOLATION_DEADLINE_S))

    def close(self) -> None:
        try:
            self._stop_processor()
            if self.valid_loop is not None:
                self.valid_loop.stop()
        finally:
            try:
                for server in ("postgres", "redis"):
                    srv = getattr(self.system, server, None)
                    if srv is not None and srv.owned and not srv.running:
                        self.faults.restart(server)
            finally:
                if self.durable is not None:
                    self.durable.restore()
                if self.injection is not None and self.injection.stream_ids():
                    client = self.system.redis_client(STREAM_DB)
                    try:  # the suite's injected entries must not reach later delivery checks
                        client.xdel(stream_key(UNIVERSE_CHANNEL), *self.injection.stream_ids())
                    finally:
                        client.close()


__all__ = ["BAD_KINDS", "ErrorIsolation", "dead_letter_problems", "failed_run_problems", "health_problems",
           "view_follows_problems"]
