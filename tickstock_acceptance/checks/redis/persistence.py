"""RED-2: what the producer's stream keeps for TickStockApp instances that are not listening.

Two consumer-side situations, both driven by the real producer (separate processes) and observed
through Redis only:

* ``CrashRecovery`` — two TickStockApp instances share a consumer group on the universe stream.
  The first reads some entries (XREADGROUP) and "crashes" (its connection closes) without XACK;
  the second claims the entries that stayed unacknowledged longer than the claim idle time
  (XAUTOCLAIM, polled with a deadline), processes them and then everything else, acknowledging
  as it goes. What the application processed is compared with what the live subscriber received
  from the producer.
* ``StreamBound`` — the producer publishes more than the stream's documented MAXLEN worth of
  notifications (``expand --repeat-until-stopped`` on a one-ETF source, in a few processes at
  once); the stream must stay within MAXLEN plus the approximate-trimming slack (XINFO STREAM)
  and still hold the entry an instance that went offline afterwards had last seen.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config import targets as T
from tickstock_acceptance.contract import REDIS_DB_FLOWS
from tickstock_acceptance.core.waiting import DeadlineExceeded, wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import ProducerRun
from tickstock_acceptance.sut.subscriber import UNIVERSE_CHANNEL, Received, StreamCatchUp, decode, stream_key

CRASH_GROUP = "tickstock_app_red2_crash"
OFFLINE_GROUP = "tickstock_app_red2_offline"
BURST_THEME_PREFIX = "test_stream_burst_"


def entry_id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _letters(n: int) -> str:
    """``n`` as lowercase letters (theme names are ``^[a-z][a-z_]*$``): 0 → a, 25 → z, 26 → ba."""
    out = ""
    while True:
        n, digit = divmod(n, 26)
        out = chr(ord("a") + digit) + out
        if n == 0:
            return out


def stream_info(client: redis.Redis, key: str) -> dict:
    """XINFO STREAM of ``key`` ({} when the stream does not exist)."""
    try:
        return client.xinfo_stream(key)
    except redis.ResponseError:
        return {}


def trim_slack(client: redis.Redis) -> int:
    """How far approximate trimming (``MAXLEN ~``) may leave a stream above MAXLEN: Redis trims whole
    macro nodes only, and a node holds at most ``stream-node-max-entries`` entries."""
    try:
        value = client.config_get("stream-node-max-entries").get("stream-node-max-entries")
        return int(value) if value is not None else M.STREAM_TRIM_SLACK_DEFAULT
    except redis.ResponseError:  # CONFIG disabled on a managed Redis
        return M.STREAM_TRIM_SLACK_DEFAULT


# -- situation 1: a crashed instance's unacknowledged entries ---------------------------------
class GroupInstance(StreamCatchUp):
    """One TickStockApp instance of a consumer group, with explicit read / ack / claim."""

    def read(self, count: int) -> list[tuple[str, Received]]:
        reply = self.client.xreadgroup(self.group, self.consumer, {self.key: ">"}, count=count)
        entries = reply[0][1] if reply else []
        return [(i, decode(self.channel, f.get("data", ""), time.time())) for i, f in entries]

    def own_history(self) -> list[str]:
        """Entries delivered to this consumer and still unacknowledged (XREADGROUP with id 0)."""
        reply = self.client.xreadgroup(self.group, self.consumer, {self.key: "0"})
        return [i for i, _ in (reply[0][1] if reply else [])]

    def claim(self, min_idle_ms: int) -> list[tuple[str, Received]]:
        """XAUTOCLAIM every entry idle for at least ``min_idle_ms`` (all pages)."""
        got, start = [], "0-0"
        while True:
            reply = self.client.xautoclaim(self.key, self.group, self.consumer, min_idle_ms, start)
            start, entries = reply[0], reply[1]
            got += [(i, decode(self.channel, f.get("data", ""), time.time())) for i, f in entries if f]
            if start in ("0-0", b"0-0"):
                return got

    def ack(self, entry_ids: list[str]) -> None:
        if entry_ids:
            self.client.xack(self.key, self.group, *entry_ids)

    def crash(self) -> None:
        """Go away without acknowledging anything (the connection just closes)."""
        self.client.close()


@dataclass
class CrashRecovery:
    system: AcceptanceSystem
    first: GroupInstance | None = None
    second: GroupInstance | None = None
    read_by_first: list[tuple[str, Received]] = field(default_factory=list)
    claimed: list[tuple[str, Received]] = field(default_factory=list)
    processed: list[Received] = field(default_factory=list)  # what the application handled, in order
    claim_wait_s: float = 0.0

    def register(self) -> None:
        self.first = GroupInstance(self.system, CRASH_GROUP, "app-1")
        self.second = GroupInstance(self.system, CRASH_GROUP, "app-2")
        self.first.register()

    def first_reads_and_crashes(self) -> list[tuple[str, Received]]:
        self.read_by_first = self.first.read(M.CRASH_READ_COUNT)
        self.first.crash()
        return self.read_by_first

    def second_claims_and_processes(self) -> None:
        t0 = time.monotonic()
        self.claimed = wait_until(lambda: self.second.claim(M.CLAIM_MIN_IDLE_MS),
                                  M.CLAIM_DEADLINE_S,
                                  "the second instance claiming the crashed instance's pending entries")
        self.claim_wait_s = time.monotonic() - t0
        self._process(self.claimed)
        while batch := self.second.read(100):
            self._process(batch)

    def _process(self, entries: list[tuple[str, Received]]) -> None:
        self.processed += [r for _, r in entries]
        self.second.ack([i for i, _ in entries])

    def redelivered(self) -> list[str]:
        """Anything the group would still hand out after everything was acknowledged."""
        again = [i for i, _ in self.second.read(100)]
        again += [i for i, _ in self.second.claim(0)]
        return again + self.second.own_history()


# -- situation 2: a bounded stream that still holds what a returning instance needs -----------
@dataclass
class BurstResult:
    runs: list[ProducerRun]
    added: int          # entries XADDed to the stream while the burst ran (XINFO entries-added)
    seconds: float
    info_after: dict


class StreamBound:
    def __init__(self, system: AcceptanceSystem, channel: str = UNIVERSE_CHANNEL) -> None:
        self.system = system
        self.client = system.redis_client(REDIS_DB_FLOWS)
        self.key = stream_key(channel)
        self.slack = trim_slack(self.client)
        self.burst: BurstResult | None = None
        self.left_at: str | None = None
        self._tmp: list[Path] = []

    @property
    def limit(self) -> int:
        return T.STREAM_MAXLEN + self.slack

    def entries_added(self) -> int:
        return int(stream_info(self.client, self.key).get("entries-added", 0))

    def _burst_source(self, index: int) -> str:
        """A source of one-ETF themes of its own for burst producer ``index`` (no row shared with
        another producer, and one database connection per round serving many notifications)."""
        theme = {"focus": "RED-2 volume", "criteria": "one liquid ETF", "liquidity_filter": {},
                 "etfs": [{"symbol": "SPY", "name": "SPDR S&P 500 ETF Trust", "aum": 5e11,
                           "avg_volume": 7e7}]}
        data = {"themes": {f"{BURST_THEME_PREFIX}{_letters(index)}_{_letters(n)}": theme
                           for n in range(M.BURST_THEMES_PER_PRODUCER)}}
        fd, name = tempfile.mkstemp(prefix="test_red2_source_", suffix=".json")
        with open(fd, "w") as fh:
            json.dump(data, fh)
        self._tmp.append(Path(name))
        return name

    def publish_past_maxlen(self, producer) -> BurstResult:
        """Producer processes expand a one-ETF theme each, round after round, until the stream has
        taken MAXLEN plus twice the trimming slack new entries (so trimming must have happened)."""
        wanted = T.STREAM_MAXLEN + 2 * self.slack
        before, t0 = self.entries_added(), time.monotonic()
        args = [("expand", "--repeat-until-stopped", "--max-seconds", str(M.BURST_DEADLINE_S + 5),
                 "--source", self._burst_source(i)) for i in range(M.BURST_PRODUCERS)]
        procs = [(a, *producer.start(*a)) for a in args]
        try:
            wait_until(lambda: self.entries_added() - before >= wanted
                       or any(p.poll() is not None for _, p, _ in procs),
                       M.BURST_DEADLINE_S, f"{wanted} notifications on {self.key}")
        except DeadlineExceeded:
            pass  # judged by burst_problems (with the count that did arrive)
        finally:
            for _, proc, _ in procs:
                if proc.poll() is None:
                    proc.terminate()
            runs = [producer.finish(p, started, a, 30) for a, p, started in procs]
        self.burst = BurstResult(runs, self.entries_added() - before, time.monotonic() - t0,
                                 stream_info(self.client, self.key))
        return self.burst

    def burst_problems(self) -> list[str]:
        b = self.burst
        problems = [f"burst producer: {r.describe()}" for r in b.runs if r.returncode != 0]
        if b.added < T.STREAM_MAXLEN + 2 * self.slack:
            problems.append(f"only {b.added} entries reached {self.key} "
                            f"(need {T.STREAM_MAXLEN + 2 * self.slack} to exercise MAXLEN {T.STREAM_MAXLEN})")
        return problems

    def register_offline(self, flow) -> None:
        """A TickStockApp instance joins the stream now and goes offline; remember where it left
        (its group's last-delivered id)."""
        flow.register_offline_instance(OFFLINE_GROUP)
        groups = {g["name"]: g for g in self.client.xinfo_groups(self.key)}
        self.left_at = groups[OFFLINE_GROUP]["last-delivered-id"]

    def length(self) -> int:
        return int(stream_info(self.client, self.key).get("length", 0))

    def left_at_still_on_stream(self) -> bool:
        """Nothing newer than the offline instance's position was trimmed: the stream's first entry
        is at or before the entry it had last seen."""
        first = stream_info(self.client, self.key).get("first-entry")
        return bool(first) and self.left_at is not None and \
            entry_id_key(first[0]) <= entry_id_key(self.left_at)

    def close(self) -> None:
        self.client.close()
        if self.burst is not None:  # the burst's universes are of no use to later scenarios
            with self.system.session("producer") as conn, conn.cursor() as cur:
                cur.execute("DELETE FROM cache_entries WHERE type = 'etf_universe' AND name LIKE %s",
                            (BURST_THEME_PREFIX.replace("_", r"\_") + "%",))
        for path in self._tmp:
            path.unlink(missing_ok=True)


@dataclass
class Red2:
    crash: CrashRecovery
    bound: StreamBound


def red2_of(context) -> Red2:
    """The scenario's RED-2 controllers (created on first use, closed when the scenario ends)."""
    red2 = getattr(context, "red2", None)
    if red2 is None:
        red2 = context.red2 = Red2(CrashRecovery(context.system), StreamBound(context.system))
        context.add_cleanup(red2.bound.close)
    return red2
