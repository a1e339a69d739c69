"""RES-1's connection faults: TickStockApp reaches Redis, or PostgreSQL, through the suite's fault
proxy (``faults.proxy``); the servers themselves are not touched.

* **Link to Redis**, while the producer publishes universe updates round after round: the suite
  resets every connection, or blackholes the link (no answer, no close), or slows it down; then
  heals it. TickStockApp must notice a dead link by itself (its log says ``connection lost``),
  reconnect once the link heals (both listeners up in ``/health`` and its consumer group reading the
  stream again), and lose nothing the stream keeps: after the producer stops, its group has read and
  acknowledged the stream to its end, and the delivery checker finds every entry the producer
  acknowledged on the stream once, in order.
* **Link to PostgreSQL**, blackholed while the producer (which reaches PostgreSQL directly) expands
  every theme: TickStockApp receives the expansion's notifications but cannot re-read the universes.
  It must show the database down, keep those stream entries until it has processed them, and once
  the link heals show the database up and bring its view to that expansion (each theme refreshed
  from one of its notifications, with the symbol count the database holds), its group acknowledged
  to the end. A consumer that acknowledges an entry before processing it ends with a stale view.

The run's own TickStockApp is stopped for the scenario (one consumer of the group at a time); the
next scenario that needs it starts it again. Each scenario's instance is a consumer of its own
(``behind-proxy-<n>``).
"""

from __future__ import annotations

import time

from tickstock_acceptance.checks.delivery import DeliveryReport
from tickstock_acceptance.checks.resilience.isolation import view_follows_within
from tickstock_acceptance.checks.resilience.recovery import app_caught_up_problems, stream_delivery
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.messaging import STREAM_DB, UNIVERSE_CHANNEL, stream_key
from tickstock_acceptance.core.waiting import DeadlineExceeded, wait_until
from tickstock_acceptance.faults.proxy import FaultProxy
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import ProducerController, ProducerRun
from tickstock_acceptance.sut.resilience_load import (
    APP_GROUP,
    LoopReport,
    ProducerLoop,
    last_entry_id,
    stream_entries_after,
)
from tickstock_acceptance.sut.tickstock_app import TickStockAppController, stop_tickstock_app

LOST_LINE = "connection lost"
INSTANCE = "behind-proxy"
SERVERS = ("Redis", "PostgreSQL")
_instances = iter(range(1, 1_000_000))


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = str(entry_id).partition("-")
    return int(ms), int(seq or 0)


class LinkFaults:
    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.key = stream_key(UNIVERSE_CHANNEL)
        self.server = "Redis"  # the server whose link the proxy carries
        self.proxy: FaultProxy | None = None
        self.app: TickStockAppController | None = None
        self.loop: ProducerLoop | None = None
        self.report: LoopReport | None = None
        self.start_id = "0-0"
        self.fault = ""
        self.fault_at = 0.0
        self.healed_at = 0.0
        self.lost_after_s: float | None = None
        self.back_after_s: float | None = None
        self._output_mark = 0
        self.instance = INSTANCE
        # what a step found, for the step that judges it
        self.found_lost: list[str] = []
        self.found_back: float | None = None
        self.cut_run: ProducerRun | None = None  # the expansion made while the link to PostgreSQL was cut

    # -- set-up --------------------------------------------------------------------------------
    def start_app(self, server: str = "Redis") -> TickStockAppController:
        """A TickStockApp instance whose link to ``server`` (Redis or PostgreSQL) goes through a new
        proxy, listening with both servers up."""
        assert server in SERVERS, f"no fault proxy for {server!r}"
        stop_tickstock_app(self.system)
        self.server = server
        if server == "Redis":
            upstream = self.system.redis_endpoint
            self.proxy = FaultProxy(upstream.host, upstream.port, name="redis-proxy").start()
            ports = {"redis_port": self.proxy.port}
        else:
            upstream = self.system.endpoint("consumer")
            self.proxy = FaultProxy(upstream.host, upstream.port, name="postgres-proxy").start()
            ports = {"db_port": self.proxy.port}
        # A consumer of its own per scenario: entries an earlier scenario's instance left pending are not
        # this one's to answer for.
        self.instance = f"{INSTANCE}-{next(_instances)}"
        self.app = TickStockAppController(self.system, self.instance, **ports).start()
        wait_until(
            lambda: self._listening() and self._database_is("up"),
            M.deadline(M.LINK_BACK_DEADLINE_S),
            f"TickStockApp listening, with its link to {server} through the proxy",
        )
        return self.app

    def _health(self) -> dict:
        return self.app.health() if self.app is not None and self.app.running else {}

    def _listening(self) -> bool:
        health = self._health()
        listeners = health.get("listeners") or {}
        return (
            bool(listeners) and all(listeners.values()) and (health.get("redis") or {}).get("state") == "up"
        )

    def _database_is(self, state: str) -> bool:
        return (self._health().get("database") or {}).get("state") == state

    def start_producer(self, producer: ProducerController) -> ProducerLoop:
        client = self.system.redis_client(STREAM_DB)
        try:
            self.start_id = last_entry_id(client, self.key)
        finally:
            client.close()
        self.loop = ProducerLoop(self.system, producer).start()
        return self.loop

    def expand_before_fault(self, producer: ProducerController) -> list[str]:
        """An expansion by the producer that TickStockApp's view follows: the proxied link works."""
        return view_follows_within(self.system, self.app, producer.expand(), "before the fault",
                                   M.deadline(M.LINK_BACK_DEADLINE_S))

    # -- the fault and the healing --------------------------------------------------------------
    def inject(self, fault: str) -> None:
        """``reset``, ``blackhole`` or ``latency`` (M.LINK_LATENCY_MS each way)."""
        self._output_mark = len(self.app.output())
        self.fault, self.fault_at = fault, time.time()
        if fault == "reset":
            self.proxy.reset()
        elif fault == "blackhole":
            self.proxy.set_mode("blackhole")
        else:
            self.proxy.set_mode("latency", M.LINK_LATENCY_MS)

    def lost_lines(self) -> list[str]:
        return [ln.strip() for ln in self.app.output()[self._output_mark :].splitlines() if LOST_LINE in ln]

    def wait_until_lost(self) -> float | None:
        """Seconds from the fault to TickStockApp's own report of a lost connection (None: none came
        within the deadline)."""
        try:
            wait_until(
                self.lost_lines,
                M.deadline(M.LINK_LOST_DEADLINE_S),
                "TickStockApp noticing the fault",
                poll_max_s=0.05,
            )
        except DeadlineExceeded:
            return None
        self.lost_after_s = time.time() - self.fault_at
        return self.lost_after_s

    def watch_quietly(self, seconds: float) -> list[str]:
        """Keep the fault for ``seconds`` (a slow link is a state, not an event); what it logged as lost."""
        try:
            wait_until(self.lost_lines, seconds, "TickStockApp reporting a lost connection", poll_max_s=0.1)
        except DeadlineExceeded:
            pass
        return self.lost_lines()

    def wait_until_database_down(self) -> float | None:
        """Seconds from the fault to TickStockApp's ``/health`` showing the database down (None: not
        within the deadline)."""
        try:
            wait_until(lambda: self._database_is("down"), M.deadline(M.LINK_LOST_DEADLINE_S),
                       "TickStockApp showing the database down", poll_max_s=0.05)
        except DeadlineExceeded:
            return None
        self.lost_after_s = time.time() - self.fault_at
        return self.lost_after_s

    def expand_while_cut(self, producer: ProducerController) -> list[str]:
        """The producer expands every theme (it reaches PostgreSQL directly); TickStockApp's group must
        be given the expansion's stream entries while the link is still cut, so that what it does with
        them is what is judged after the heal. The problems with that."""
        self.cut_run = producer.expand()
        if self.cut_run.returncode != 0:
            return [f"the producer's expansion failed: {self.cut_run.describe()}"]
        client = self.system.redis_client(STREAM_DB)
        try:
            end = _id_key(last_entry_id(client, self.key))
            try:
                wait_until(lambda: _id_key(self._group_last_delivered(client)) >= end,
                           M.deadline(M.LINK_BACK_DEADLINE_S), "TickStockApp's group reading the expansion")
            except DeadlineExceeded:
                return [f"TickStockApp's group was not given the expansion's entries while the link was cut: "
                        f"it stands at {self._group_last_delivered(client)}; TickStockApp said: "
                        f"{self.app.output_tail(3)}"]
        finally:
            client.close()
        return []

    def heal(self) -> float | None:
        """Back to a clean link; seconds until TickStockApp is back: for Redis, both listeners up and
        the group reading new entries; for PostgreSQL, the database shown up."""
        client = self.system.redis_client(STREAM_DB)
        try:
            at_heal = _id_key(self._group_last_delivered(client))
            self.healed_at = time.time()
            self.proxy.heal()

            def back() -> bool:
                if self.server == "PostgreSQL":
                    return self._database_is("up")
                return self._listening() and _id_key(self._group_last_delivered(client)) > at_heal

            try:
                wait_until(
                    back, M.deadline(M.LINK_BACK_DEADLINE_S), "TickStockApp back", poll_max_s=0.05
                )
            except DeadlineExceeded:
                return None
        finally:
            client.close()
        self.back_after_s = time.time() - self.healed_at
        return self.back_after_s

    def _group_last_delivered(self, client) -> str:
        groups = {g.get("name"): g for g in client.xinfo_groups(self.key)} if client.exists(self.key) else {}
        return str((groups.get(APP_GROUP) or {}).get("last-delivered-id") or "0-0")

    # -- nothing lost -----------------------------------------------------------------------------
    def finish(self) -> tuple[list[str], DeliveryReport]:
        """Stop the producer; TickStockApp's group must read and acknowledge the stream to its end. The
        problems with that, and the delivery checker's report on the producer's entries."""
        if self.loop is not None and self.report is None:
            self.report = self.loop.stop()
        problems = [f"{p}; TickStockApp said: {self.app.output_tail(3)}"
                    for p in app_caught_up_problems(self.system, M.deadline(M.LINK_BACK_DEADLINE_S),
                                                    self.instance)]
        client = self.system.redis_client(STREAM_DB)
        try:
            entries = [r for _eid, r in stream_entries_after(client, self.key, self.start_id)]
        finally:
            client.close()
        return problems, stream_delivery(self.report, entries)

    def view_problems(self) -> list[str]:
        """After the heal: TickStockApp's view follows the expansion made while the link was cut, and
        its group read and acknowledged the stream to its end."""
        deadline = M.deadline(M.LINK_BACK_DEADLINE_S)
        problems = view_follows_within(self.system, self.app, self.cut_run, "made while the link was cut",
                                       deadline)
        problems += app_caught_up_problems(self.system, deadline, self.instance)
        return [f"{p}; TickStockApp said: {self.app.output_tail(3)}" for p in problems[:1]] + problems[1:]

    def close(self) -> None:
        try:
            if self.loop is not None and self.report is None:
                self.report = self.loop.stop()
        finally:
            if self.app is not None:
                self.app.close()
                self._forget_consumer()
            if self.proxy is not None:
                self.proxy.close()

    def _forget_consumer(self) -> None:
        """Remove the scenario's consumer from TickStockApp's group (what it left pending goes with it:
        a later scenario, or the run's own TickStockApp, must not inherit a failed scenario's backlog)."""
        client = self.system.redis_client(STREAM_DB)
        try:
            client.xgroup_delconsumer(self.key, APP_GROUP, self.instance)
        except Exception:  # noqa: BLE001 - no group or no such consumer: nothing to forget
            pass
        finally:
            client.close()
