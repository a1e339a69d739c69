"""Message persistence: what the producer's stream keeps for TickStockApp instances that are not
listening.

Two consumer-side situations, both driven by the real producer (separate processes) and observed
through Redis only:

* ``CrashRecovery`` — two TickStockApp instances share a consumer group on the universe stream.
  The first reads some entries (XREADGROUP) and crashes (its connection closes) without XACK; the
  second claims the entries that stayed unacknowledged longer than the claim idle time
  (XAUTOCLAIM, polled with a deadline), processes them and then everything else, acknowledging as
  it goes. What the application processed is compared with what the live subscriber received.
* ``StreamBound`` — the producer publishes more than the stream's documented MAXLEN worth of
  notifications (``expand --repeat-until-stopped`` on one-ETF sources, in a few processes at
  once), waiting until the stream has taken that volume (bounded by a deadline, the rate seen is
  reported); the stream must stay within MAXLEN plus the approximate-trimming slack and still hold
  the entry an instance that went offline afterwards had last seen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tickstock_acceptance.checks.delivery import acknowledged_by, check_delivery
from tickstock_acceptance.checks.redis.bursts import BurstResult, publish_burst, remove_burst_universes
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.messaging import STREAM_DB, STREAM_MAXLEN, UNIVERSE_CHANNEL, stream_key
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import ProducerController
from tickstock_acceptance.sut.streams import GroupInstance, entry_id_key, stream_info, trim_slack
from tickstock_acceptance.sut.subscriber import Received

CRASH_GROUP = "tickstock_app_crash_recovery"
OFFLINE_AFTER_BURST_GROUP = "tickstock_app_offline_after_burst"


# -- situation 1: a crashed instance's unacknowledged entries ---------------------------------
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
                                  M.deadline(M.CLAIM_DEADLINE_S),
                                  "the second instance claiming the crashed instance's pending entries")
        self.claim_wait_s = time.monotonic() - t0
        self._process(self.claimed)
        while batch := self.second.read(100):
            self._process(batch)

    def _process(self, entries: list[tuple[str, Received]]) -> None:
        self.processed += [r for _, r in entries]
        self.second.ack([i for i, _ in entries])

    def takeover_problems(self) -> list[str]:
        """The second instance claimed exactly what the first had read."""
        claimed, read = [i for i, _ in self.claimed], [i for i, _ in self.read_by_first]
        if len(read) != M.CRASH_READ_COUNT:
            return [f"the first instance read {len(read)} entries, expected {M.CRASH_READ_COUNT}"]
        return [] if claimed == read else [f"claimed {claimed}, the crashed instance had read {read}"]

    def exactly_once_problems(self, expansion) -> list[str]:
        """The group processed every notification the producer acknowledged, each exactly once, in
        order (the delivery checker), and as many as TickStockApp received live."""
        if len(expansion.live) <= M.CRASH_READ_COUNT:
            return [f"only {len(expansion.live)} notifications received live: "
                    "too few to crash in the middle of"]
        report = check_delivery(acknowledged_by([expansion.run.report]), self.processed)
        return [f"the group processed {report.summary()}"] if report.problems() else []

    def redelivered(self) -> list[str]:
        """Anything the group would still hand out after everything was acknowledged."""
        again = [i for i, _ in self.second.read(100)]
        again += [i for i, _ in self.second.claim(0)]
        return again + self.second.own_history()


# -- situation 2: a bounded stream that still holds what a returning instance needs -----------
class StreamBound:
    def __init__(self, system: AcceptanceSystem, channel: str = UNIVERSE_CHANNEL) -> None:
        self.system = system
        self.client = system.redis_client(STREAM_DB)
        self.key = stream_key(channel)
        self.slack = trim_slack(self.client)
        self.burst: BurstResult | None = None
        self.left_at: str | None = None

    @property
    def limit(self) -> int:
        return STREAM_MAXLEN + self.slack

    @property
    def wanted(self) -> int:
        """New entries that make trimming certain: MAXLEN plus twice the trimming slack."""
        return STREAM_MAXLEN + 2 * self.slack

    def entries_added(self) -> int:
        return int(stream_info(self.client, self.key).get("entries-added", 0))

    def publish_past_maxlen(self, producer: ProducerController) -> BurstResult:
        """Producer processes publish until the stream has taken MAXLEN plus twice the trimming
        slack new entries (so trimming must have happened)."""
        self.burst = publish_burst(self.system, producer, self.client, self.key, self.wanted)
        return self.burst

    def burst_problems(self) -> list[str]:
        return self.burst.problems(self.wanted, f"{self.key} (to exercise MAXLEN {STREAM_MAXLEN})")

    def remember_offline_position(self, group: str) -> None:
        """Where an instance that just registered in ``group`` left: its group's last-delivered id."""
        groups = {g["name"]: g for g in self.client.xinfo_groups(self.key)}
        self.left_at = groups[group]["last-delivered-id"]

    def length(self) -> int:
        return int(stream_info(self.client, self.key).get("length", 0))

    def bound_problems(self) -> list[str]:
        """The stream stayed within MAXLEN + slack, and approximate trimming kept at least MAXLEN."""
        lengths = [int(self.burst.info_after.get("length", 0)), self.length()]
        problems = []
        if max(lengths) > self.limit:
            problems.append(f"the stream held {max(lengths)} entries, more than MAXLEN {STREAM_MAXLEN} "
                            f"+ slack {self.slack}")
        if min(lengths) < STREAM_MAXLEN:
            problems.append(f"the stream held only {min(lengths)} entries after the burst: trimmed below "
                            f"MAXLEN {STREAM_MAXLEN}")
        return problems

    def left_at_still_on_stream(self) -> bool:
        """Nothing newer than the offline instance's position was trimmed: the stream's first entry
        is at or before the entry it had last seen."""
        first = stream_info(self.client, self.key).get("first-entry")
        return bool(first) and self.left_at is not None and \
            entry_id_key(first[0]) <= entry_id_key(self.left_at)

    def close(self) -> None:
        self.client.close()
        if self.burst is not None:
            remove_burst_universes(self.system)


@dataclass
class MessagePersistence:
    """A scenario's persistence controllers."""

    crash: CrashRecovery
    bound: StreamBound

    @classmethod
    def open(cls, system: AcceptanceSystem) -> MessagePersistence:
        return cls(CrashRecovery(system), StreamBound(system))

    def close(self) -> None:
        self.bound.close()
