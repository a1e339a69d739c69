"""A deterministic tick tape, and the feeder that replays it into the tick stream at a fixed rate.

The **tape** (``TickTape``) is a pure function of its seed: ``symbols`` symbols (``TEST_RT01``...),
each a random walk in whole cents (so it crosses whole-dollar thresholds now and then), with a
random volume; each tick picks its symbol at random. Tick time (``ts``, epoch milliseconds) is
simulated: it starts at a fixed anchor and advances by a random 1..(2·mean-1) ms per tick, the
mean chosen so that one simulated minute holds about ``ticks_per_minute`` ticks over all symbols.
``ts`` never decreases. The tape grows on demand (``extend_to``), always to the same ticks.

The **feeder** (``TickFeeder``) sends the tape in order, seq 1, 2, 3, ..., through a *sink* (a
callable that takes a batch of ticks and returns once they are sent: ``redis_sink`` XADDs a batch
into the contract's tick stream in one pipelined round trip; the unit tests inject a list). It
runs in a background thread paced against the monotonic clock: every ``batch_interval_s`` it sends
what is due at ``rate`` ticks per second since it started (a late wake-up sends the backlog, at
most ``max_batch`` at once), and it never sleeps to "wait for" anything but its next batch.

For every tick it records **the wall time it was sent**: ``time.time()`` taken right after the
batch's pipeline EXECUTE returned (the sink returned), the same value for every tick of the batch.
That is the start of the tick-to-event latency. ``mark(phase)`` starts a named phase ("before",
"during", ...) at the current wall time; a tick belongs to the phase that had started when it was
sent (``phase_of``).
"""

from __future__ import annotations

import bisect
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tickstock_acceptance.contract.messaging import BAR_SECONDS

# The tape's simulated clock starts here (a Monday, 09:30 New York = 14:30 UTC).
ANCHOR_MS = int(datetime(2026, 11, 2, 14, 30, tzinfo=UTC).timestamp() * 1000)
SYMBOL_PREFIX = "TEST_RT"
PRICE_STEP_CENTS_SD = 5        # a tick moves its symbol's price by a normal step, sd 5 cents
PRICE_RANGE_CENTS = (2000, 18000)   # start prices between $20 and $180; the walk stays above $1


@dataclass(frozen=True, slots=True)
class Tick:
    seq: int
    symbol: str
    price: str      # dollars with two decimals, as sent
    volume: int
    ts: int         # simulated tick time, epoch milliseconds

    @property
    def minute(self) -> int:
        """The bar this tick belongs to: floor(ts / bar length)."""
        return self.ts // (BAR_SECONDS * 1000)

    def fields(self) -> dict[str, str | int]:
        """The stream entry's fields (contract ``tick_fields``)."""
        return {"seq": self.seq, "symbol": self.symbol, "price": self.price, "volume": self.volume,
                "ts": self.ts}


class TickTape:
    """The deterministic tape: the same seed gives the same ticks, on every machine."""

    def __init__(self, seed: int, symbols: int, ticks_per_minute: int, anchor_ms: int = ANCHOR_MS) -> None:
        self.seed = seed
        self.symbols = [f"{SYMBOL_PREFIX}{i:02d}" for i in range(1, symbols + 1)]
        self.ticks_per_minute = ticks_per_minute
        self._rng = random.Random(seed)
        self._cents = [self._rng.randrange(*PRICE_RANGE_CENTS) for _ in self.symbols]
        self._mean_step_ms = BAR_SECONDS * 1000 // ticks_per_minute
        self._ts = anchor_ms
        self._lock = threading.Lock()
        self.ticks: list[Tick] = []   # ticks[seq - 1]

    def extend_to(self, count: int) -> None:
        """Make sure the first ``count`` ticks exist."""
        with self._lock:
            rng = self._rng
            while len(self.ticks) < count:
                i = rng.randrange(len(self.symbols))
                cents = max(100, self._cents[i] + round(rng.gauss(0.0, PRICE_STEP_CENTS_SD)))
                self._cents[i] = cents
                self._ts += rng.randint(1, 2 * self._mean_step_ms - 1)
                price = f"{cents // 100}.{cents % 100:02d}"
                self.ticks.append(Tick(len(self.ticks) + 1, self.symbols[i], price, rng.randint(1, 1000),
                                       self._ts))

    def first(self, count: int) -> list[Tick]:
        self.extend_to(count)
        return self.ticks[:count]


Sink = Callable[[Sequence[Tick]], object]


def redis_sink(client, key: str) -> Sink:
    """XADD a batch of ticks to ``key``, in order, in one pipelined round trip (no MAXLEN: the
    processor reads the stream from its start, and a trimmed tick would be a lost tick)."""

    def send(batch: Sequence[Tick]) -> None:
        pipe = client.pipeline(transaction=False)
        for tick in batch:
            pipe.xadd(key, tick.fields())
        pipe.execute()

    return send


class TickFeeder:
    """Replays a tape through a sink at ``rate`` ticks per second, in a background thread."""

    def __init__(self, tape: TickTape, sink: Sink, rate: float, batch_interval_s: float = 0.005,
                 max_batch: int = 1000, max_seconds: float | None = None,
                 max_ticks: int | None = None) -> None:
        self.tape = tape
        self.sink = sink
        self.rate = float(rate)
        self.batch_interval_s = batch_interval_s
        self.max_batch = max_batch
        self.max_seconds = max_seconds
        self.max_ticks = max_ticks
        self.sent_at: list[float] = []            # sent_at[seq - 1]: wall time after the batch's EXECUTE
        self.batches = 0
        self.largest_batch = 0
        self.error: str | None = None
        self.phases: list[tuple[float, str]] = []  # (wall time it started, name)
        self._started_mono = 0.0
        self._last_send_mono = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------------------------
    def start(self, phase: str = "before") -> TickFeeder:
        self.mark(phase)
        self.tape.extend_to(min(int(self.rate), self.max_ticks or 10 * self.max_batch))  # before the clock
        self._thread = threading.Thread(target=self._loop, name="tick-feeder", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        t0 = self._started_mono = time.monotonic()
        wake = t0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if self.max_seconds is not None and now - t0 > self.max_seconds:
                    return
                sent = len(self.sent_at)
                if self.max_ticks is not None and sent >= self.max_ticks:
                    return
                due = min(int((now - t0) * self.rate) - sent, self.max_batch,
                          (self.max_ticks - sent) if self.max_ticks is not None else self.max_batch)
                if due > 0:
                    self.tape.extend_to(sent + due)
                    batch = self.tape.ticks[sent:sent + due]
                    self.sink(batch)
                    done = time.time()
                    self.sent_at.extend([done] * len(batch))
                    self._last_send_mono = time.monotonic()
                    self.batches += 1
                    self.largest_batch = max(self.largest_batch, len(batch))
                wake += self.batch_interval_s
                pause = wake - time.monotonic()
                if pause > 0:
                    self._stop.wait(pause)
                else:
                    wake = time.monotonic()  # behind: send the backlog now, keep the rate
        except Exception as exc:  # noqa: BLE001 - reported by problems(), the thread just ends
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- what it sent ----------------------------------------------------------------------------
    @property
    def sent(self) -> int:
        return len(self.sent_at)

    def sent_ticks(self) -> list[Tick]:
        return self.tape.ticks[:self.sent]

    @property
    def seconds(self) -> float:
        """From the start of pacing to the last batch sent."""
        return max(0.0, self._last_send_mono - self._started_mono)

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def mark(self, phase: str) -> float:
        """Start phase ``phase`` now (wall time); ticks sent from now on belong to it."""
        at = time.time()
        self.phases.append((at, phase))
        return at

    def phase_of(self, seq: int) -> str | None:
        """The phase that had started when tick ``seq`` was sent (None: not sent)."""
        if not 1 <= seq <= len(self.sent_at):
            return None
        sent = self.sent_at[seq - 1]
        i = bisect.bisect_right([at for at, _ in self.phases], sent) - 1
        return self.phases[i][1] if i >= 0 else None

    def seqs_in(self, phase: str) -> range:
        """The ticks sent in ``phase`` (its first occurrence), as a seq range (sent_at never decreases)."""
        times = [at for at, _ in self.phases]
        for i, (at, name) in enumerate(self.phases):
            if name == phase:
                end = times[i + 1] if i + 1 < len(times) else float("inf")
                lo = bisect.bisect_left(self.sent_at, at)
                hi = bisect.bisect_left(self.sent_at, end)
                return range(lo + 1, hi + 1)
        return range(1, 1)

    def window_seconds(self, phase: str) -> float:
        """How long ``phase`` lasted (to the next mark, or to the last batch when it is the last)."""
        for i, (at, name) in enumerate(self.phases):
            if name == phase:
                if i + 1 < len(self.phases):
                    return self.phases[i + 1][0] - at
                return max(0.0, (self.sent_at[-1] if self.sent_at else at) - at)
        return 0.0

    def problems(self) -> list[str]:
        """The feeder's own failure (a sink error ended its thread); [] when there was none."""
        return [f"the tick feeder failed: {self.error}"] if self.error else []
