"""Real-time processing beside scenario generation and loading (PERF-3).

The tick feeder replays its deterministic tape into the tick stream at a fixed rate while the
producer's tick processor turns the ticks into ``minute_bar`` and ``price_threshold_crossed``
events; an observer records what arrives. The oracle (``TapeOracle``) computes from the tape alone,
with the contract's rules (``BAR_SECONDS``, ``THRESHOLD_STEP``, the watermark rule), every bar and
every threshold crossing the processor must publish, and which tick produced each: a bar is
produced by the tick that moved the watermark past its minute (``closed_by_seq``), a crossing by
its own tick (``seq``). Never from what the processor says: a wrong ``closed_by_seq`` cannot make
the latency look better.

Tick-to-event latency = the event's receive time - the wall time the feeder sent the tick that
produced it (``TickFeeder`` docstring: right after the batch's EXECUTE). It is grouped by the
window that tick was sent in: ``before`` (no scenario load), ``during`` (a full generation and
load of every scenario, repeated until the window holds enough events), ``after`` (only judged for
loss). Problem finders name what was lost, duplicated, wrong or unexplained.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.contract.events import message_problems
from tickstock_acceptance.contract.messaging import (
    BAR_CHANNEL,
    BAR_SECONDS,
    STREAM_DB,
    THRESHOLD_CHANNEL,
    THRESHOLD_STEP,
    TICK_STREAM,
    namespaced,
)
from tickstock_acceptance.core.waiting import DeadlineExceeded, wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import ProducerController, ProducerRun
from tickstock_acceptance.sut.realtime_processing import (
    RawEvent,
    RawObserver,
    TickProcessor,
    clean_realtime_streams,
    parsed,
)
from tickstock_acceptance.sut.tick_feeder import Tick, TickFeeder, TickTape, redis_sink

WINDOWS = ("before", "during", "after")
PRICE_TOLERANCE = 1e-6   # prices travel as decimal strings in, JSON numbers out


def minute_label(minute: int) -> str:
    return time.strftime("%H:%M", time.gmtime(minute * BAR_SECONDS))


# -- the oracle ------------------------------------------------------------------------------------
@dataclass
class ExpectedBar:
    symbol: str
    minute: int            # floor(ts / BAR_SECONDS s)
    open: float
    high: float
    low: float
    close: float
    volume: int
    tick_count: int
    first_seq: int
    last_seq: int
    closed_by_seq: int = 0

    def describe(self) -> str:
        return f"{self.symbol} {minute_label(self.minute)}"


@dataclass
class ExpectedCrossing:
    symbol: str
    seq: int
    threshold: float
    direction: str
    price: float
    previous_price: float

    def describe(self) -> str:
        return f"{self.symbol} seq {self.seq} {self.direction} through {self.threshold:g}"


class TapeOracle:
    """What the processor must publish for the ticks seen so far (fed in order, incrementally)."""

    def __init__(self, step: float = THRESHOLD_STEP) -> None:
        self.step = step
        self.bars: dict[tuple[str, int], ExpectedBar] = {}    # closed bars, by (symbol, minute)
        self.open: dict[str, ExpectedBar] = {}
        self.crossings: dict[tuple[str, int], ExpectedCrossing] = {}
        self.causes: list[int] = []   # the producing tick of every expected event, never decreasing
        self.watermark: int | None = None
        self.seen = 0
        self._prev: dict[str, float] = {}

    def advance(self, ticks: Sequence[Tick]) -> TapeOracle:
        """Take ``ticks[self.seen:]`` (``ticks`` is the tape's prefix sent so far)."""
        for tick in ticks[self.seen:]:
            self._take(tick)
        self.seen = max(self.seen, len(ticks))
        return self

    def _take(self, t: Tick) -> None:
        minute, price = t.minute, float(t.price)
        if self.watermark is None or minute > self.watermark:
            for symbol in sorted(self.open):
                bar = self.open[symbol]
                if bar.minute < minute:
                    bar.closed_by_seq = t.seq
                    self.bars[(symbol, bar.minute)] = bar
                    self.causes.append(t.seq)
                    del self.open[symbol]
            self.watermark = minute
        bar = self.open.get(t.symbol)
        if bar is None:
            self.open[t.symbol] = ExpectedBar(t.symbol, minute, price, price, price, price, t.volume, 1,
                                              t.seq, t.seq)
        else:  # the tape's ts never decreases: an open bar is always the tick's own minute
            bar.high, bar.low, bar.close = max(bar.high, price), min(bar.low, price), price
            bar.volume += t.volume
            bar.tick_count += 1
            bar.last_seq = t.seq
        prev = self._prev.get(t.symbol)
        if prev is not None and math.floor(prev / self.step) != math.floor(price / self.step):
            up = price > prev
            level = math.floor((price if up else prev) / self.step) * self.step
            self.crossings[(t.symbol, t.seq)] = ExpectedCrossing(t.symbol, t.seq, level,
                                                                 "up" if up else "down", price, prev)
            self.causes.append(t.seq)
        self._prev[t.symbol] = price

    def events_caused_in(self, seqs: range) -> int:
        """Expected events produced by the ticks in ``seqs``."""
        return bisect.bisect_left(self.causes, seqs.stop) - bisect.bisect_left(self.causes, seqs.start)

    @property
    def expected_events(self) -> int:
        return len(self.bars) + len(self.crossings)


# -- judging what arrived --------------------------------------------------------------------------
@dataclass
class RealtimeJudgement:
    """What the observer saw, against the oracle, per window."""

    latencies_ms: dict[str, list[float]] = field(default_factory=dict)   # window -> tick-to-event ms
    sent: dict[str, int] = field(default_factory=dict)                   # window -> ticks sent
    processed: dict[str, int] = field(default_factory=dict)              # window -> ticks counted once
    loss: list[str] = field(default_factory=list)
    received: int = 0
    expected_bars: int = 0
    expected_crossings: int = 0
    closed_ticks: int = 0          # ticks sent whose minute is closed (each must be in one bar)
    counted_once: int = 0          # of those, the ticks counted in exactly one received bar


def _some(items: Iterable[str], n: int = 3) -> str:
    return ", ".join(list(items)[:n])


def _minute_of(text) -> int | None:
    try:
        seconds = datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return None
    return int(seconds // BAR_SECONDS) if seconds % BAR_SECONDS == 0 else None


def _differs(a, b) -> bool:
    if isinstance(a, bool) or not isinstance(a, int | float):
        return True
    return abs(float(a) - float(b)) > PRICE_TOLERANCE


BAR_FIELDS = ("open", "high", "low", "close", "volume", "tick_count", "first_seq", "last_seq",
              "closed_by_seq")
CROSSING_FIELDS = ("threshold", "price", "previous_price")


def judge(ticks: Sequence[Tick], sent_at: Sequence[float], windows: dict[str, range], oracle: TapeOracle,
          events: Sequence[RawEvent]) -> RealtimeJudgement:
    """Every expected event arrived exactly once and as the tape says; latencies per window."""
    oracle.advance(ticks)
    j = RealtimeJudgement(received=len(events), expected_bars=len(oracle.bars),
                          expected_crossings=len(oracle.crossings))
    bars: dict[tuple[str, int], tuple[dict, float]] = {}
    crossings: dict[tuple[str, int], tuple[dict, float]] = {}
    dup_bars, dup_crossings, unexpected, malformed, schema = Counter(), Counter(), [], [], []
    checked: Counter = Counter()
    for ev in events:
        message = parsed(ev)
        data = message.get("data") if message else None
        if not isinstance(data, dict):
            malformed.append(ev.payload[:80])
            continue
        kind = message.get("event_type")
        if checked[kind] < M.REALTIME_SCHEMA_SAMPLE:
            checked[kind] += 1
            schema += [f"{kind}: {p}" for p in message_problems(message)]
        if ev.channel == BAR_CHANNEL and kind == "minute_bar":
            key = (data.get("symbol"), _minute_of(data.get("minute")))
            target, dups, known = bars, dup_bars, oracle.bars
        elif ev.channel == THRESHOLD_CHANNEL and kind == "price_threshold_crossed":
            key = (data.get("symbol"), data.get("seq"))
            target, dups, known = crossings, dup_crossings, oracle.crossings
        else:
            unexpected.append(f"{kind} on {ev.channel}")
            continue
        if key not in known:
            where = data.get("minute") if kind == "minute_bar" else f"seq {data.get('seq')}"
            unexpected.append(f"{kind} {data.get('symbol')} {where}")
        elif key in target:
            dups[key] += 1
        else:
            target[key] = (data, ev.received_at)

    # Latencies, by the window of the tick that produced the event (the oracle's, not the event's word).
    window_of = _window_lookup(windows)
    for name in windows:
        j.latencies_ms[name] = []
    for key, (_, received_at) in bars.items():
        cause = oracle.bars[key].closed_by_seq
        _add_latency(j, window_of(cause), received_at, sent_at, cause)
    for key, (_, received_at) in crossings.items():
        _add_latency(j, window_of(key[1]), received_at, sent_at, key[1])

    # Bars and threshold crossings: missing, duplicated, different from the tape; each tick of a
    # closed minute counted in exactly one bar of its symbol.
    loss = j.loss
    loss += _against_tape("bars of closed minutes", "bars", oracle.bars, bars, dup_bars, BAR_FIELDS)
    _tick_accounting(j, ticks, oracle, bars, windows)
    loss += _against_tape("threshold crossings on the tape", "threshold crossings", oracle.crossings,
                          crossings, dup_crossings, CROSSING_FIELDS, also=("direction",))

    if unexpected:
        loss.append(f"{len(unexpected)} events the tape does not explain (no such closed bar or crossing), "
                    f"e.g. {_some(unexpected)}")
    if malformed:
        loss.append(f"{len(malformed)} events are not JSON objects with data, e.g. {_some(malformed, 2)}")
    if schema:
        loss.append(f"events break their JSON Schema: {_some(schema)}")
    return j


def _window_lookup(windows: dict[str, range]):
    bounds = sorted((r.start, r.stop, name) for name, r in windows.items() if len(r))

    def window_of(seq: int) -> str | None:
        for start, stop, name in bounds:
            if start <= seq < stop:
                return name
        return None

    return window_of


def _add_latency(j: RealtimeJudgement, window: str | None, received_at: float, sent_at: Sequence[float],
                 cause: int) -> None:
    if window is not None and 1 <= cause <= len(sent_at):
        j.latencies_ms[window].append((received_at - sent_at[cause - 1]) * 1000.0)


def _tick_accounting(j: RealtimeJudgement, ticks: Sequence[Tick], oracle: TapeOracle,
                     bars: dict[tuple[str, int], tuple[dict, float]], windows: dict[str, range]) -> None:
    by_symbol: dict[str, list[int]] = defaultdict(list)
    for t in ticks:
        by_symbol[t.symbol].append(t.seq)
    counted = bytearray(len(ticks) + 1)   # how many received bars count each tick (saturates at 2)
    short = []
    for (symbol, minute), (data, _) in bars.items():
        first, last = data.get("first_seq"), data.get("last_seq")
        if not (isinstance(first, int) and isinstance(last, int)):
            continue
        seqs = by_symbol.get(symbol, [])
        covered = [s for s in seqs[bisect.bisect_left(seqs, first):bisect.bisect_right(seqs, last)]
                   if ticks[s - 1].minute == minute]
        for s in covered:
            counted[s] = min(2, counted[s] + 1)
        if data.get("tick_count") != len(covered):
            short.append(f"{symbol} {minute_label(minute)} counts {data.get('tick_count')!r} ticks, "
                         f"its seq range {first}..{last} holds {len(covered)} sent")
    closed = [t for t in ticks if oracle.watermark is not None and t.minute < oracle.watermark]
    j.closed_ticks = len(closed)
    j.counted_once = sum(1 for t in closed if counted[t.seq] == 1)
    lost = [t for t in closed if counted[t.seq] == 0]
    twice = [t for t in closed if counted[t.seq] > 1]
    if lost:
        j.loss.append(f"{len(lost)} of {len(closed)} ticks of closed minutes are counted in no bar, e.g. "
                      f"{_some(f'seq {t.seq} ({t.symbol} {minute_label(t.minute)})' for t in lost)}")
    if twice:
        j.loss.append(f"{len(twice)} ticks are counted in more than one bar, e.g. "
                      f"{_some(f'seq {t.seq} ({t.symbol})' for t in twice)}")
    if short:
        j.loss.append(f"{len(short)} bars' tick counts disagree with the ticks in their seq range, e.g. "
                      f"{'; '.join(short[:2])}")
    for name, seqs in windows.items():
        j.sent[name] = len(seqs)
        j.processed[name] = sum(1 for s in seqs if s < len(counted) and counted[s] == 1)


# -- the measurement --------------------------------------------------------------------------------
class RealtimeUnderLoad:
    """The tick processor, the feeder and the observer, before and during full scenario loads."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.client = system.redis_client(STREAM_DB)
        self.tape = TickTape(M.REALTIME_TAPE_SEED, M.REALTIME_SYMBOLS, M.REALTIME_TICKS_PER_MINUTE)
        self.oracle = TapeOracle()
        self.rate = float(M.REALTIME_TICK_RATE)
        self.processor: TickProcessor | None = None
        self.observer: RawObserver | None = None
        self.feeder: TickFeeder | None = None
        self.loads: list[ProducerRun] = []
        self.processor_run: ProducerRun | None = None
        self.judgement: RealtimeJudgement | None = None
        self.settle_problems: list[str] = []
        self.events: list[RawEvent] = []

    # -- before ----------------------------------------------------------------------------------
    def start(self, producer: ProducerController, rate: float) -> None:
        """Clean the streams, start the processor, subscribe, then start feeding (phase "before")."""
        self.rate = float(rate)
        clean_realtime_streams(self.client)
        self.processor = TickProcessor(self.system, producer).start()
        self.observer = RawObserver(self.system).start()
        self.feeder = TickFeeder(self.tape, redis_sink(self.client, namespaced(TICK_STREAM)), self.rate,
                                 M.REALTIME_BATCH_INTERVAL_S, M.REALTIME_MAX_BATCH,
                                 max_seconds=M.deadline(M.REALTIME_PROCESSOR_MAX_S)).start("before")

    def events_in(self, window: str) -> int:
        """Expected events produced by the ticks sent in ``window`` so far (from the tape)."""
        self.oracle.advance(self.feeder.sent_ticks())
        return self.oracle.events_caused_in(self.feeder.seqs_in(window))

    def _broken(self) -> list[str]:
        """Why the measurement cannot go on: the feeder, the processor or the observer stopped."""
        problems = list(self.feeder.problems())
        if not self.processor.running:
            run = self.processor.stop()
            problems.append(f"the tick processor ended early: {run.describe() if run else 'no report'}")
        if self.observer.error:
            problems.append(f"the observer lost its connection: {self.observer.error}")
        return problems

    def wait_before(self) -> list[str]:
        """Feed until the window before any load holds enough events for a p99 (bounded)."""
        wanted = M.REALTIME_MIN_EVENTS_PER_WINDOW
        deadline_s = M.deadline(M.REALTIME_BEFORE_DEADLINE_S)
        try:
            wait_until(lambda: self._broken() or self.events_in("before") >= wanted, deadline_s,
                       f"{wanted} events from ticks sent before any scenario load")
        except DeadlineExceeded:
            pass
        problems = self._broken()
        have = self.events_in("before")
        if have < wanted:
            problems.append(f"the ticks sent before any scenario load produce {have} events, need {wanted} "
                            f"(feeder at {self.feeder.achieved_rate:.0f} ticks/s)")
        return problems

    # -- during ----------------------------------------------------------------------------------
    def load_during(self, producer: ProducerController) -> list[str]:
        """Generate and load every scenario, again and again while the feeder keeps running, until
        the window during the loads holds enough events for a p99 (bounded by a deadline)."""
        wanted = M.REALTIME_MIN_EVENTS_PER_WINDOW
        deadline_s = M.deadline(M.REALTIME_LOAD_DEADLINE_S)
        t0 = time.monotonic()
        problems: list[str] = []
        self.feeder.mark("during")
        try:
            while True:
                run = _load_all(producer)
                self.loads.append(run)
                if run.returncode != 0:
                    problems.append(f"the scenario load failed: {run.describe()}")
                    break
                if (self.events_in("during") >= wanted or time.monotonic() - t0 >= deadline_s
                        or self._broken()):
                    break
        finally:
            self.feeder.mark("after")
        have = self.events_in("during")
        problems += self._broken()
        if have < wanted:
            seconds = self.feeder.window_seconds("during")
            problems.append(f"the ticks sent during {len(self.loads)} full scenario loads ({seconds:.1f} s) "
                            f"produce {have} events, need {wanted}")
        rate = self.window_rate("during")
        if rate < M.REALTIME_MIN_RATE_SHARE * self.rate:
            problems.append(f"the feeder sent only {rate:.0f} ticks/s during the loads, not {self.rate:.0f}: "
                            "the suite itself could not keep the pace, so the load was not measured")
        return problems

    def window_rate(self, window: str) -> float:
        seconds = self.feeder.window_seconds(window)
        return len(self.feeder.seqs_in(window)) / seconds if seconds > 0 else 0.0

    # -- after -----------------------------------------------------------------------------------
    def finish(self) -> RealtimeJudgement:
        """Stop feeding, wait (bounded) until every expected event arrived, stop the observer and
        the processor, and judge (once)."""
        if self.judgement is not None:
            return self.judgement
        self._close_the_loads_minutes()
        self.feeder.stop()
        ticks = self.feeder.sent_ticks()
        self.oracle.advance(ticks)
        expected = self.oracle.expected_events
        try:
            wait_until(lambda: self.observer.count() >= expected or not self.processor.running,
                       M.deadline(M.REALTIME_SETTLE_DEADLINE_S),
                       f"the observer receiving the {expected} events the tape calls for")
        except DeadlineExceeded as exc:
            self.settle_problems.append(str(exc))
        # The observer stops first: bars the processor might flush for the still-open minute on
        # SIGTERM are not part of the tape's closed minutes.
        self.events = self.observer.stop()
        self.processor_run = self.processor.stop()
        windows = {w: self.feeder.seqs_in(w) for w in WINDOWS}
        self.judgement = judge(ticks, self.feeder.sent_at, windows, self.oracle, self.events)
        return self.judgement

    def _close_the_loads_minutes(self) -> None:
        """Keep feeding until a tick of a later minute than the last one sent during the loads has
        gone out, so every tick of the windows before and during lies in a closed minute (bounded:
        at the tape's pace a simulated minute passes in about 0.1 s)."""
        during = self.feeder.seqs_in("during")
        if not len(during) or self.feeder.error:
            return
        last_minute = self.tape.ticks[during.stop - 2].minute
        try:
            wait_until(lambda: self.feeder.error or not self.feeder.running
                       or self.tape.ticks[self.feeder.sent - 1].minute > last_minute,
                       M.deadline(M.REALTIME_SETTLE_DEADLINE_S), "a tick of the minute after the loads")
        except DeadlineExceeded as exc:
            self.settle_problems.append(str(exc))

    def processor_problems(self) -> list[str]:
        """The processor stopped cleanly on SIGTERM with a report that agrees with the feeder."""
        run = self.processor_run
        if run is None:
            return ["the tick processor was not stopped"]
        problems = []
        if run.returncode != 0:
            problems.append(f"the tick processor: {run.describe()}")
        processed = run.report.get("ticks_processed")
        if not isinstance(processed, int):
            problems.append("the tick processor's report has no ticks_processed")
        elif processed > self.feeder.sent:
            problems.append(f"the tick processor reports {processed} ticks processed, the feeder sent "
                            f"{self.feeder.sent}")
        return problems

    def close(self) -> None:
        for part in (self.feeder, self.observer):
            if part is not None:
                part.stop()
        if self.processor is not None:
            self.processor.stop()
        try:
            clean_realtime_streams(self.client)
        finally:
            self.client.close()


def _load_all(producer: ProducerController) -> ProducerRun:
    """Generate and load every scenario in one producer process (``load-history --scenario all``)."""
    return producer.load_scenario("all")


def _against_tape(expected_what: str, what: str, expected: dict, received: dict, duplicated: list,
                  fields: tuple[str, ...], also: tuple[str, ...] = ()) -> list[str]:
    """What the oracle expected (``expected``: key → record) against what arrived (``received``: key →
    (data, received_at)): the ones that never arrived, arrived twice, or differ in a field (numbers
    within rounding, ``also`` compared exactly)."""
    problems = []
    missing = [e.describe() for k, e in expected.items() if k not in received]
    if missing:
        problems.append(f"{len(missing)} of {len(expected)} {expected_what} never arrived, "
                        f"e.g. {_some(missing)}")
    if duplicated:
        problems.append(f"{len(duplicated)} {what} arrived more than once, e.g. "
                        f"{_some(expected[k].describe() for k in duplicated)}")
    wrong = []
    for key, (data, _) in received.items():
        exp = expected[key]
        diffs = [f"{f} {data.get(f)!r} (tape {getattr(exp, f):g})" for f in fields
                 if _differs(data.get(f), getattr(exp, f))]
        diffs += [f"{f} {data.get(f)!r} (tape {getattr(exp, f)})" for f in also
                  if data.get(f) != getattr(exp, f)]
        if diffs:
            wrong.append(f"{exp.describe()}: {', '.join(diffs[:3])}")
    if wrong:
        problems.append(f"{len(wrong)} {what} differ from the tape, e.g. {'; '.join(wrong[:3])}")
    return problems
