"""Bursts of universe updates: several producer processes publishing as fast as they can.

Each burst producer runs ``expand --repeat-until-stopped`` on a source of one-ETF themes of its
own (no row shared with another producer; one database connection per round serves many
notifications). The burst waits until the stream has taken the volume it needs, bounded by a
deadline scaled by the timeout multiplier, then stops the producers (SIGTERM: each finishes its
round and reports what it published) and reports the rate it saw. What the producers acknowledged
(their reports' ``published_count``) is what the delivery checker judges consumers against.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tickstock_acceptance.checks.delivery import acknowledged_by
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.core.waiting import DeadlineExceeded, wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.etf_universes import EtfUniverseStore
from tickstock_acceptance.sut.producer import ProducerController, ProducerRun
from tickstock_acceptance.sut.streams import stream_info

BURST_THEME_PREFIX = "test_stream_burst_"


def _letters(n: int) -> str:
    """``n`` as lowercase letters (theme names are ``^[a-z][a-z_]*$``): 0 → a, 25 → z, 26 → ba."""
    out = ""
    while True:
        n, digit = divmod(n, 26)
        out = chr(ord("a") + digit) + out
        if n == 0:
            return out


@dataclass
class BurstResult:
    runs: list[ProducerRun]
    added: int          # entries XADDed to the stream while the burst ran (XINFO entries-added)
    seconds: float
    info_after: dict

    @property
    def rate(self) -> float:
        """Entries per second the stream took during the burst."""
        return self.added / self.seconds if self.seconds else 0.0

    @property
    def acknowledged(self) -> dict[str, set[int]]:
        return acknowledged_by(r.report for r in self.runs)

    def problems(self, wanted: int, key: str) -> list[str]:
        problems = [f"burst producer: {r.describe()}" for r in self.runs if r.returncode != 0]
        if self.added < wanted:
            problems.append(f"only {self.added} entries reached {key} in {self.seconds:.0f} s "
                            f"({self.rate:.0f}/s; need {wanted})")
        return problems


def burst_source(system: AcceptanceSystem, index: int):
    theme = {"focus": "stream volume", "criteria": "one liquid ETF", "liquidity_filter": {},
             "etfs": [{"symbol": "SPY", "name": "SPDR S&P 500 ETF Trust", "aum": 5e11, "avg_volume": 7e7}]}
    return system.scratch_file("test_stream_source_", {
        "themes": {f"{BURST_THEME_PREFIX}{_letters(index)}_{_letters(n)}": theme
                   for n in range(M.BURST_THEMES_PER_PRODUCER)}})


def publish_burst(system: AcceptanceSystem, producer: ProducerController, client, key: str,
                  wanted: int, producers: int = M.BURST_PRODUCERS) -> BurstResult:
    """``producers`` processes publish until ``key`` has taken ``wanted`` new entries (or the
    deadline passes; judged by ``BurstResult.problems`` with what did arrive)."""
    deadline_s = M.deadline(M.BURST_DEADLINE_S)

    def added() -> int:
        return int(stream_info(client, key).get("entries-added", 0))

    before, t0 = added(), time.monotonic()
    args = [("expand", "--repeat-until-stopped", "--max-seconds", str(deadline_s + 5),
             "--source", str(burst_source(system, i))) for i in range(producers)]
    procs = [(a, *producer.start(*a)) for a in args]

    def done() -> bool:
        taken, elapsed = added() - before, time.monotonic() - t0
        if taken >= wanted or any(p.poll() is not None for _, p, _ in procs):
            return True
        # Hopeless: at the rate seen so far the volume cannot arrive within the deadline (judged
        # only after a warm-up, so a slow start on a busy machine is not mistaken for it).
        return elapsed >= M.BURST_WARM_UP_S and taken / elapsed * (deadline_s - elapsed) < wanted - taken

    try:
        wait_until(done, deadline_s, f"{wanted} notifications on {key}")
    except DeadlineExceeded:
        pass  # judged by BurstResult.problems (with the count that did arrive)
    finally:
        for _, proc, _ in procs:
            if proc.poll() is None:
                proc.terminate()
        runs = [producer.finish(p, started, a, M.deadline(M.PRODUCER_STOP_DEADLINE_S))
                for a, p, started in procs]
    return BurstResult(runs, added() - before, time.monotonic() - t0, stream_info(client, key))


def remove_burst_universes(system: AcceptanceSystem) -> None:
    """The burst's universes are of no use to later scenarios."""
    EtfUniverseStore(system).delete_test_universes(BURST_THEME_PREFIX)
