"""Recovery from server faults (RES-1): the producer and TickStockApp work again by themselves, in time,
and nothing acknowledged is lost.

Both halves fault the run's own server while the work goes on: the producer as a service
(``ProducerLoop``: every theme, round after round, a failed round reported and retried) and
TickStockApp (the run's service).

* **PostgreSQL** (``DatabaseRecovery``): ``pg_ctl stop -m immediate`` while the producer writes and
  a TickStockApp client asks for a universe (``UniversePoller``), down for ``RECOVERY_OUTAGE_S``,
  then started again. Times run from the moment the server answers a query again: to the end of
  the producer's first round whose every write succeeded, and to TickStockApp's first successful
  answer. What was committed is judged on the product's own table, right after the restart:
  every round the producer acknowledged (status ``completed``) before the stop must be there
  (each theme's row written at or after that round's writes began: ``updated_at`` is the
  writing transaction's time), no round may be acknowledged whose writes fell entirely in the time
  the server was certainly down, and each
  ETF universe row must be one whole write of the producer's (``universe_row_problems``: members,
  excluded members, per-symbol facts and liquidity filter as the reference data gives them, and
  ``last_universe_update`` equal to ``updated_at``), so an in-flight write is either all there or
  absent.
* **Redis** (``RedisRecovery``): ``kill -9`` of the run's Redis, made durable for the scenario
  (``DurableRedis``), while the producer publishes; restarted with ``--appendonly yes
  --appendfsync always``. Times run from the moment it answers a PING: to the first entry the
  producer adds to the universe stream (its id is the server's clock), and to TickStockApp showing
  Redis up in ``/health`` with its consumer group reading again (its last-delivered id moves past
  where the restart found it). The
  delivery checker judges the stream against the producer's acknowledgement: every sequence it
  acknowledged is on the stream once and in order (sends that raised are indeterminate: neither
  owed nor unexpected); every entry seen on the stream before the kill is still there.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tickstock_acceptance.checks.delivery import DeliveryReport, check_delivery
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config.targets import Target
from tickstock_acceptance.contract.messaging import STREAM_DB, UNIVERSE_CHANNEL, stream_key
from tickstock_acceptance.contract.reference import below_filter, reference_themes, should_succeed
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.faults.servers import ServerFaults
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import ProducerController
from tickstock_acceptance.sut.resilience_load import (
    DurableRedis,
    LoopReport,
    ProducerLoop,
    Query,
    UniversePoller,
    app_group_at_end,
    app_group_last_delivered,
    app_group_position,
    entry_ms,
    last_entry_id,
    stream_entries_after,
)
from tickstock_acceptance.sut.subscriber import Received
from tickstock_acceptance.sut.tickstock_app import TickStockAppController

CLOCK_SLACK_S = 0.01  # the producer's wall clock and the server's transaction time are the same clock

UNIVERSE_ROWS_SQL = """
    SELECT name, value -> 'symbols', universe_metadata, liquidity_filter,
           extract(epoch FROM updated_at)::float8,
           last_universe_update = (updated_at AT TIME ZONE current_setting('TimeZone'))
      FROM cache_entries
     WHERE type = 'etf_universe' AND key = 'etf_' || name AND name = ANY(%s)"""


@dataclass(frozen=True)
class UniverseRow:
    theme: str
    symbols: object
    metadata: object
    liquidity_filter: object
    updated_at: float           # epoch s: when the writing transaction began
    update_times_agree: bool    # last_universe_update is the same instant as updated_at


def read_universe_rows(system: AcceptanceSystem, themes: Iterable[str]) -> dict[str, UniverseRow]:
    with system.session("admin") as conn, conn.cursor() as cur:
        cur.execute(UNIVERSE_ROWS_SQL, (sorted(themes),))
        return {r[0]: UniverseRow(r[0], r[1], r[2], r[3], float(r[4]), bool(r[5])) for r in cur.fetchall()}


# -- problem finders (pure) -----------------------------------------------------------------------
def universe_row_problems(rows: Mapping[str, UniverseRow], reference: Mapping[str, dict]) -> list[str]:
    """Each universe the reference data makes writable is one whole write of the producer's."""
    problems = []
    for name, theme in reference.items():
        if not should_succeed(theme):
            continue
        row = rows.get(name)
        if row is None:
            problems.append(f"{name}: no row in cache_entries")
            continue
        excluded = below_filter(theme)
        kept = sorted({e["symbol"].strip().upper() for e in theme["etfs"]} - set(excluded))
        meta = row.metadata if isinstance(row.metadata, dict) else {}
        wrong = []
        if row.symbols != kept:
            wrong.append(f"members {_short(row.symbols)} instead of {_short(kept)}")
        if sorted(meta.get("excluded_symbols") or []) != excluded:
            wrong.append(f"excluded members {_short(meta.get('excluded_symbols'))} "
                         f"instead of {_short(excluded)}")
        facts = meta.get("symbol_facts")
        if not isinstance(facts, dict) or sorted(facts) != sorted({e["symbol"] for e in theme["etfs"]}):
            wrong.append("per-symbol facts missing or for other symbols")
        wanted_filter = theme.get("liquidity_filter") or {}
        if meta.get("liquidity_filter") != wanted_filter or (row.liquidity_filter or {}) != wanted_filter:
            wrong.append(f"liquidity filter {row.liquidity_filter} (metadata {meta.get('liquidity_filter')}) "
                         f"instead of {wanted_filter}")
        if not row.update_times_agree:
            wrong.append("last_universe_update differs from updated_at (not one write)")
        if wrong:
            problems.append(f"{name}: " + "; ".join(wrong))
    return problems


def lost_commit_problems(rows: Mapping[str, UniverseRow], rounds: list[dict], down_at: float,
                         themes: Iterable[str]) -> list[str]:
    """What the producer acknowledged before the fault (``down_at``: the stop was asked for) is in the
    database: each theme's row was written at or after the last such round's writes began."""
    done_before = [r for r in rounds if r.get("status") == "completed" and r.get("writes_finished_at")
                   and float(r["writes_finished_at"]) <= down_at]
    if not done_before:
        return ["the producer acknowledged no round before the fault, so there was nothing to keep"]
    begun = float(done_before[-1]["writes_started_at"])
    problems = []
    for theme in sorted(themes):
        row = rows.get(theme)
        if row is None:
            problems.append(f"{theme}: acknowledged at {begun:.3f} but missing from cache_entries")
        elif row.updated_at + CLOCK_SLACK_S < begun:
            problems.append(f"{theme}: the row is from {row.updated_at:.3f}, older than the write the "
                            f"producer acknowledged (begun {begun:.3f}): a committed write was lost")
    return problems


def acknowledged_while_down_problems(rounds: list[dict], stopped_at: float,
                                     restarting_at: float) -> list[str]:
    """No round may be acknowledged whose writes all fell in the time the database was certainly down
    (from the stop's return to the restart's request): such writes cannot be in the database."""
    during = [r for r in rounds if r.get("status") == "completed" and r.get("writes_started_at")
              and float(r["writes_started_at"]) >= stopped_at
              and float(r.get("writes_finished_at") or 0) <= restarting_at]
    return [f"the producer acknowledged {len(during)} rounds of writes while the database was down: "
            "writes it reported done cannot be in the database"] if during else []


def first_completed_round_after(rounds: list[dict], at: float) -> dict | None:
    """The first round whose every write succeeded and finished after ``at``."""
    for r in rounds:
        if r.get("status") == "completed" and float(r.get("writes_finished_at") or 0) > at:
            return r
    return None


def failed_rounds_between(rounds: list[dict], start: float, end: float) -> list[dict]:
    return [r for r in rounds if r.get("status") == "failed"
            and float(r.get("finished_at") or 0) >= start and float(r.get("started_at") or 0) <= end]


def first_ok_query_after(queries: list[Query], down_at: float, up_at: float) -> Query | None:
    """TickStockApp's first successful answer to a query sent after the fault began and answered
    after the server was back."""
    for q in queries:
        if q.ok and q.sent_at > down_at and q.done_at >= up_at:
            return q
    return None


def recovery_problems(seconds: float | None, target: Target, who: str, why_not: str = "") -> list[str]:
    if seconds is None:
        return [f"{who} did not work again within the wait of {M.deadline(M.RECOVERY_WAIT_S):g} s"
                + (f" ({why_not})" if why_not else "")]
    if not target.met_by(seconds):
        return [f"{who} took {seconds:.2f} s, beyond {target.describe()}"]
    return []


def stream_delivery(report: LoopReport, entries: list[Received]) -> DeliveryReport:
    """The producer's acknowledged sequences against its entries on the stream (indeterminate sends,
    those that raised, are dropped from both sides)."""
    indeterminate = report.unacknowledged
    mine = [r for r in entries if r.producer_id == report.producer_id
            and (r.message or {}).get("sequence") not in indeterminate]
    return check_delivery(report.acknowledged(), mine)


def kept_entry_problems(before: list[str], after: Iterable[str]) -> list[str]:
    missing = sorted(set(before) - set(after))
    return [f"{len(missing)} of the {len(before)} entries on the stream before the kill are gone, e.g. "
            f"{missing[:3]}"] if missing else []


def app_caught_up_problems(system: AcceptanceSystem, deadline_s: float,
                           consumer: str | None = None) -> list[str]:
    """TickStockApp's group reads and acknowledges the universe stream to its end within ``deadline_s``
    (``app_group_at_end``; with ``consumer``, that consumer's pending entries count, not the group's);
    [] when it does, else where it stood."""
    client = system.redis_client(STREAM_DB)
    seen: dict = {}

    def at_end() -> bool:
        seen.update(app_group_position(client, consumer=consumer))
        return app_group_at_end(seen)

    try:
        wait_until(at_end, deadline_s, "TickStockApp's group at the end of the universe stream")
    except AssertionError:
        return [f"TickStockApp's group has not read and acknowledged the universe stream to its end: "
                f"{seen.get('pending')} pending, given up to {seen.get('last_delivered')}, the stream "
                f"ends at {seen.get('last_entry')}"]
    finally:
        client.close()
    return []


def _short(value, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the scenarios' controllers -------------------------------------------------------------------
class _Recovery:
    server = ""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.faults = ServerFaults(system)
        self.app: TickStockAppController | None = None
        self.app_pid: int | None = None
        self.loop: ProducerLoop | None = None
        self.report: LoopReport | None = None
        self.down_at = 0.0
        self.up_at = 0.0
        self.restart_s = 0.0

    def use_app(self, started) -> None:
        """Watch the TickStockApp a scenario started (anything with ``app`` and ``app_pid``)."""
        self.app, self.app_pid = started.app, started.app_pid

    def start_producer(self, producer: ProducerController) -> ProducerLoop:
        self.loop = ProducerLoop(self.system, producer).start()
        return self.loop

    def stop_work(self) -> LoopReport | None:
        if self.loop is not None and self.report is None:
            self.producer_running_at_stop = self.loop.running
            self.report = self.loop.stop()
        return self.report

    def kept_running_problems(self) -> list[str]:
        problems = []
        if not getattr(self, "producer_running_at_stop", False):
            run = self.report.run if self.report else None
            problems.append("the producer's process ended by itself" + (f": {run.describe()}" if run else ""))
        if self.app is not None and (not self.app.running or self.app.pid != self.app_pid):
            problems.append(f"TickStockApp did not keep running as the same process: {self.app.describe()}: "
                            f"{self.app.output_tail()}")
        return problems

    def heal(self) -> None:
        """The faulted server runs again (closer; also after a failure)."""
        server = getattr(self.system, self.server, None)
        if server is not None and server.owned and not server.running:
            self.faults.restart(self.server)

    def close(self) -> None:
        try:
            self.stop_work()
        finally:
            self.heal()


class DatabaseRecovery(_Recovery):
    server = "postgres"

    def __init__(self, system: AcceptanceSystem) -> None:
        super().__init__(system)
        self.poller: UniversePoller | None = None
        self.queries: list[Query] = []
        self.themes = [n for n, t in reference_themes().items() if should_succeed(t)]
        self.rows_after_restart: dict[str, UniverseRow] = {}
        self.stopped_at = 0.0      # the immediate stop had returned: the server was down from here...
        self.restarting_at = 0.0   # ...until the restart was asked for

    def start_queries(self) -> UniversePoller:
        assert self.app is not None, "TickStockApp is not running in this scenario"
        self.poller = UniversePoller(self.app).start()
        return self.poller

    def crash_and_restart(self) -> None:
        """``pg_ctl stop -m immediate``, down for a while, started again; then wait (bounded) until
        the producer announced a whole round and TickStockApp answered a query after the restart."""
        self.poller.wait_for_an_answer()
        self.down_at = time.time()
        self.faults.stop_immediate("postgres")
        self.stopped_at = time.time()
        time.sleep(M.RECOVERY_OUTAGE_S)
        self.restarting_at = time.time()
        self.restart_s = self.faults.restart("postgres")
        self.up_at = time.time()
        self.rows_after_restart = read_universe_rows(self.system, self.themes)
        client = self.system.redis_client(STREAM_DB)
        key = stream_key(UNIVERSE_CHANNEL)
        since = f"{int(self.up_at * 1000)}-0"

        def both_back() -> bool:
            announced = any(r.event_type == "universe_expansion_complete"
                            and ((r.message or {}).get("data") or {}).get("failed_count") == 0
                            for _eid, r in stream_entries_after(client, key, since))
            answered = first_ok_query_after(self.poller.snapshot(), self.down_at, self.up_at)
            return announced and answered is not None

        deadline = time.monotonic() + M.deadline(M.RECOVERY_WAIT_S)
        try:
            while time.monotonic() < deadline and not both_back():
                time.sleep(M.RECOVERY_POLL_S)
        finally:
            client.close()
        self.queries = self.poller.stop()
        self.stop_work()

    def producer_recovery_s(self) -> float | None:
        r = first_completed_round_after(self.report.rounds, self.up_at) if self.report else None
        return None if r is None else float(r["writes_finished_at"]) - self.up_at

    def app_recovery_s(self) -> float | None:
        q = first_ok_query_after(self.queries, self.down_at, self.up_at)
        return None if q is None else max(0.0, q.done_at - self.up_at)

    def producer_last_error(self) -> str:
        failed = [r for r in (self.report.rounds if self.report else []) if r.get("status") == "failed"]
        return f"its last failed round: {failed[-1].get('error')}" if failed else "no failed round reported"

    def fault_met_work_problems(self) -> list[str]:
        rounds = self.report.rounds if self.report else []
        if not failed_rounds_between(rounds, self.down_at, self.up_at):
            return ["the producer reported no failed round while PostgreSQL was down: the fault did not meet "
                    "its work, or it swallowed the error"]
        return []

    def committed_problems(self) -> list[str]:
        rounds = self.report.rounds if self.report else []
        return (lost_commit_problems(self.rows_after_restart, rounds, self.down_at, self.themes)
                + acknowledged_while_down_problems(rounds, self.stopped_at, self.restarting_at))

    def whole_write_problems(self) -> list[str]:
        rows = read_universe_rows(self.system, self.themes)
        ref = reference_themes()
        return (universe_row_problems(self.rows_after_restart, ref)
                + [f"now: {p}" for p in universe_row_problems(rows, ref)])

    def close(self) -> None:
        if self.poller is not None:
            self.poller.stop()
        super().close()


class RedisRecovery(_Recovery):
    server = "redis"

    def __init__(self, system: AcceptanceSystem) -> None:
        super().__init__(system)
        self.durable = DurableRedis(system)
        self.key = stream_key(UNIVERSE_CHANNEL)
        self.start_id = "0-0"
        self.before_kill: list[str] = []
        self.producer_back_at: float | None = None
        self.app_back_at: float | None = None
        self.after: list[Received] = []
        self.after_ids: list[str] = []
        self.health_seen_down = False

    def make_durable(self) -> dict[str, str]:
        self.durable.enable()
        return self.durable.settings()

    def app_caught_up_problems(self) -> list[str]:
        """Before the fault TickStockApp's group has read and acknowledged everything on the stream
        (bounded wait): the recovery measured is from the fault, not from a backlog left earlier."""
        return app_caught_up_problems(self.system, M.deadline(M.RECOVERY_WAIT_S))

    def start_producer(self, producer: ProducerController) -> ProducerLoop:
        client = self.system.redis_client(STREAM_DB)
        try:
            self.start_id = last_entry_id(client, self.key)
        finally:
            client.close()
        return super().start_producer(producer)

    def kill_and_restart(self) -> None:
        client = self.system.redis_client(STREAM_DB)
        try:
            self.before_kill = [eid for eid, r in stream_entries_after(client, self.key, self.start_id)
                                if (r.message or {}).get("service") == "tickstock_pl.etf_universe_manager"]
        finally:
            client.close()
        self.down_at = time.time()
        self.faults.kill("redis")
        time.sleep(M.RECOVERY_OUTAGE_S)
        self.restart_s = self.faults.restart("redis")
        self.up_at = time.time()
        self._wait_for_recovery()
        self.stop_work()
        client = self.system.redis_client(STREAM_DB)
        try:
            kept = stream_entries_after(client, self.key, self.start_id)
        finally:
            client.close()
        self.after_ids = [eid for eid, _r in kept]
        self.after = [r for _eid, r in kept]

    def _wait_for_recovery(self) -> None:
        client = self.system.redis_client(STREAM_DB)
        since = f"{int(self.up_at * 1000)}-0"
        first_new: str | None = None
        # The group reads again when its last-delivered id moves past where the restart found it (a
        # group behind the stream moves at once, one at its end with the producer's next entry).
        at_restart = _id_key(app_group_last_delivered(client, self.key))
        deadline = time.monotonic() + M.deadline(M.RECOVERY_WAIT_S)
        try:
            while time.monotonic() < deadline and (self.producer_back_at is None or self.app_back_at is None):
                if first_new is None:
                    new = [(eid, r) for eid, r in stream_entries_after(client, self.key, since)
                           if (r.message or {}).get("service") == "tickstock_pl.etf_universe_manager"]
                    if new:
                        first_new = new[0][0]
                        self.producer_back_at = entry_ms(first_new) / 1000.0
                if self.app_back_at is None:
                    health = self.app.health() if self.app is not None else {}
                    up = (health.get("redis") or {}).get("state") == "up"
                    if up and _id_key(app_group_last_delivered(client, self.key)) > at_restart:
                        self.app_back_at = time.time()
                time.sleep(M.RECOVERY_POLL_S)
        finally:
            client.close()

    def producer_recovery_s(self) -> float | None:
        return None if self.producer_back_at is None else max(0.0, self.producer_back_at - self.up_at)

    def app_recovery_s(self) -> float | None:
        return None if self.app_back_at is None else max(0.0, self.app_back_at - self.up_at)

    def delivery(self) -> DeliveryReport:
        return stream_delivery(self.report, self.after)

    def kept_problems(self) -> list[str]:
        return kept_entry_problems(self.before_kill, self.after_ids)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.durable.restore()


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = str(entry_id).partition("-")
    return int(ms or 0), int(seq or 0)
