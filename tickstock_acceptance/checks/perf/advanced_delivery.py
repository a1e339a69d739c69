"""Message delivery while the advanced features run (PERF-1: advanced features keep delivery < 100 ms).

The advanced features run at once, each a producer process of its own (own ``producer_id``, own
sequence 1, 2, 3, ..., and a JSON report that says how many messages it published,
``published_count``):

* ETF universe expansion repeating in the background (``expand --repeat-until-stopped``, every
  theme of the producer's own source) on ``tickstock.universe.updated``;
* the tick processor (``process-ticks``) fed by the suite's tick feeder at its fixed rate, on
  ``tickstock.realtime.bar`` and ``tickstock.realtime.threshold``;
* scenario loads (``load-history --scenario``), each followed by the pattern detector over the
  scenario just loaded (``detect-patterns --scenario``) on ``tickstock.patterns.detected``,
  back to back in a worker thread.

A TickStockApp-side observer (``RawObserver``: channel, raw payload and the wall time it came off
the socket, nothing else while measuring) is subscribed to those channels and to a channel of the
suite's own, ``REFERENCE_CHANNEL`` (not a TickStock channel), on which the suite publishes raw
redis-py messages at a fixed pace the whole time: the reference line, never judged as a producer
message. The run waits (bounded) until the observer has seen the volume the spec asks for and
every feature has had its turn, then stops everything, waits until what the producers
acknowledged has arrived (bounded), and judges with the delivery checker, per producer: lost,
duplicated, out of its producer's order, unexpected (a producer that acknowledged nothing of the
kind, or a sequence number beyond its count), the success rate, and the latency (receive time - the
message's envelope ``timestamp``). Pub-sub is at-most-once: losses count against the success rate,
duplicates and disorder are always failures.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tickstock_acceptance.checks.delivery import DeliveryReport, acknowledged_by, check_delivery
from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config.targets import Target
from tickstock_acceptance.contract.messaging import (
    BAR_CHANNEL,
    PATTERN_CHANNEL,
    STREAM_DB,
    THRESHOLD_CHANNEL,
    TICK_STREAM,
    UNIVERSE_CHANNEL,
    live,
    namespaced,
)
from tickstock_acceptance.core.statistics import Distribution
from tickstock_acceptance.core.waiting import DeadlineExceeded, wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.producer import BackgroundCommand, ProducerController, ProducerRun
from tickstock_acceptance.sut.realtime_processing import (
    RawEvent,
    RawObserver,
    TickProcessor,
    clean_realtime_streams,
)
from tickstock_acceptance.sut.subscriber import Received, decode
from tickstock_acceptance.sut.tick_feeder import TickFeeder, TickTape, redis_sink

# The Phase 3 channels the advanced features publish on (the contract's names).
PRODUCER_CHANNELS = (UNIVERSE_CHANNEL, PATTERN_CHANNEL, BAR_CHANNEL, THRESHOLD_CHANNEL)
# The raw redis-py reference: a channel of the suite's own, outside the ``tickstock*`` namespace.
REFERENCE_CHANNEL = "test.raw.reference"

EXPANSION = "background ETF universe expansion"
TICK_PROCESSOR = "tick processor"
DETECTOR = "pattern detector"
FEATURES = (EXPANSION, TICK_PROCESSOR, DETECTOR)


# -- judging (pure: no servers) ----------------------------------------------------------------------
def decode_events(events: Iterable[RawEvent],
                  reference_channel: str = REFERENCE_CHANNEL) -> tuple[list[Received], list[Received]]:
    """What the observer recorded, decoded and split: producer messages (every channel but the
    reference one), and the raw reference messages (never judged as producer messages)."""
    produced, reference = [], []
    for ev in events:
        (reference if ev.channel == reference_channel else produced).append(
            decode(ev.channel, ev.payload, ev.received_at))
    return produced, reference


def latencies(received: Iterable[Received]) -> list[float]:
    """Receive time - envelope timestamp (ms) of every message that carries a readable timestamp."""
    out = []
    for r in received:
        if isinstance(r.message, dict) and r.message.get("timestamp"):
            try:
                out.append(r.latency_ms())
            except (TypeError, ValueError):
                pass
    return out


@dataclass
class ProducerDelivery:
    """One producer process: what it is, what it acknowledged and what of it arrived."""

    producer_id: str
    feature: str
    report: DeliveryReport
    beyond: list[int] = field(default_factory=list)   # sequence numbers it never acknowledged

    def name(self) -> str:
        return f"the {self.feature} [{self.producer_id}]"


@dataclass
class AdvancedDeliveryJudgement:
    overall: DeliveryReport                      # every producer together
    producers: list[ProducerDelivery]
    strangers: list[str]                         # messages from no producer that ran here
    reference_ms: list[float]
    reference_sent: int

    @property
    def acknowledged(self) -> int:
        return self.overall.acknowledged

    def producer_latency(self) -> Distribution | None:
        return self.overall.latency()

    def reference_latency(self) -> Distribution | None:
        return Distribution.of(self.reference_ms) if self.reference_ms else None

    def by_feature(self) -> dict[str, list[ProducerDelivery]]:
        """The producers grouped by the feature they are (the detector runs once per scenario load)."""
        out: dict[str, list[ProducerDelivery]] = {}
        for p in self.producers:
            out.setdefault(p.feature, []).append(p)
        return out

    def p99_ratio(self) -> float | None:
        """Producers' delivery p99 / raw redis-py p99 (None without both)."""
        mine, raw = self.producer_latency(), self.reference_latency()
        if mine is None or raw is None or raw.p99 <= 0:
            return None
        return mine.p99 / raw.p99


def judge(acknowledged: Mapping[str, set[int]], features: Mapping[str, str], produced: Sequence[Received],
          reference: Sequence[Received] = (), reference_sent: int = 0) -> AdvancedDeliveryJudgement:
    """The delivery checker over every producer together, and over each producer alone (its own
    messages, in arrival order, against its own acknowledgement)."""
    overall = check_delivery(acknowledged, produced)
    mine: dict[str, list[Received]] = {pid: [] for pid in acknowledged}
    strangers = []
    for r in produced:
        if r.producer_id in mine:
            mine[r.producer_id].append(r)
        else:
            seq = r.message.get("sequence") if isinstance(r.message, dict) else None
            strangers.append(f"{r.event_type or 'no event_type'} on {r.channel} from "
                             f"{r.producer_id or 'no producer_id'}#{seq}")
    producers = []
    for pid, sequences in acknowledged.items():
        received = mine[pid]
        beyond = sorted({s for r in received
                         if isinstance(s := r.message.get("sequence"), int) and s not in sequences})
        report = check_delivery({pid: sequences}, received)
        producers.append(ProducerDelivery(pid, features.get(pid, pid), report, beyond))
    return AdvancedDeliveryJudgement(overall, producers, strangers, latencies(reference), reference_sent)


def _seqs(values: Iterable[int], n: int = 3) -> str:
    return ", ".join(f"#{v}" for v in list(values)[:n])


def order_problems(j: AdvancedDeliveryJudgement) -> list[str]:
    """Duplicates, disorder within a producer, and messages nobody acknowledged: never allowed, even
    on at-most-once pub-sub."""
    out = []
    for p in j.producers:
        r = p.report
        if r.duplicated:
            out.append(f"{p.name()}: {len(r.duplicated)} messages arrived more than once, e.g. "
                       f"{_seqs(s for _, s in r.duplicated)}")
        if r.out_of_order:
            out.append(f"{p.name()}: {len(r.out_of_order)} messages arrived out of its order, e.g. "
                       + ", ".join(f"#{got} after #{after}" for _, after, got in r.out_of_order[:3]))
        if p.beyond:
            out.append(f"{p.name()}: {len(p.beyond)} messages carry sequence numbers it never acknowledged "
                       f"(it reported {r.acknowledged} published, so 1..{r.acknowledged}), e.g. "
                       f"{_seqs(p.beyond)}: its sequence has gaps, or it published more than it reported")
    if j.strangers:
        out.append(f"{len(j.strangers)} messages from no producer that ran here, e.g. "
                   f"{'; '.join(j.strangers[:2])}")
    return out


def success_problems(j: AdvancedDeliveryJudgement, target: Target) -> list[str]:
    """Every producer, and all of them together, delivered at least ``target`` of what it acknowledged."""
    out = []
    for p in j.producers:
        r = p.report
        if not target.met_by(r.success_rate):
            out.append(f"{p.name()}: {r.success_rate:.1f} % of its {r.acknowledged} acknowledged messages "
                       f"arrived, below {target.limit:g} % ({len(r.lost)} lost, e.g. "
                       f"{_seqs(s for _, s in r.lost)})")
    o = j.overall
    if not target.met_by(o.success_rate):
        out.append(f"{o.success_rate:.1f} % of the {o.acknowledged} acknowledged messages arrived, below "
                   f"{target.limit:g} %")
    return out


def latency_problems(j: AdvancedDeliveryJudgement, target: Target) -> list[str]:
    """The delivery p99 over every producer message that arrived is within ``target``."""
    dist = j.producer_latency()
    if dist is None:
        return ["no producer message arrived with a timestamp: no delivery latency to judge"]
    if target.met_by(dist.p99):
        return []
    slowest = max(((p.report.latency(), p) for p in j.producers if p.report.latencies_ms),
                  key=lambda dp: dp[0].p99)
    raw = j.reference_latency()
    return [f"p99 {dist.p99:.1f} ms of {dist.count} messages misses {target.describe()} (slowest producer: "
            f"{slowest[1].feature}, p99 {slowest[0].p99:.1f} ms; raw redis-py p99 in the same run "
            + (f"{raw.p99:.1f} ms)" if raw else "not measured)")]


def reference_problems(j: AdvancedDeliveryJudgement,
                       minimum: int = M.ADVANCED_DELIVERY_REFERENCE_MIN_MESSAGES) -> list[str]:
    """The reference line has enough samples for its p99, and there are producer latencies to set
    against it."""
    out = []
    if len(j.reference_ms) < minimum:
        out.append(f"{len(j.reference_ms)} of {j.reference_sent} raw messages arrived, need {minimum} "
                   "for a p99")
    if j.producer_latency() is None:
        out.append("no producer message arrived to compare with the reference")
    return out


def volume_problems(acknowledged: int, wanted: int, seconds: float, quiet: Sequence[str]) -> list[str]:
    """The producers acknowledged the volume, and every feature published something."""
    out = []
    if acknowledged < wanted:
        rate = acknowledged / seconds if seconds > 0 else 0.0
        out.append(f"the producers acknowledged {acknowledged} messages in {seconds:.1f} s ({rate:.0f}/s), "
                   f"need at least {wanted}")
    out += [f"the {feature} published no message" for feature in quiet]
    return out


# -- the raw redis-py reference ----------------------------------------------------------------------
def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class ReferencePublisher:
    """Publishes raw redis-py messages ``{"i", "timestamp"}`` on ``channel`` every ``interval_s``
    (paced against the monotonic clock) until stopped: the same kind of envelope timestamp, taken
    immediately before PUBLISH, as the producers' messages."""

    def __init__(self, client, channel: str = REFERENCE_CHANNEL,
                 interval_s: float = M.ADVANCED_DELIVERY_REFERENCE_INTERVAL_S) -> None:
        self.client = client
        self.channel = channel
        self.interval_s = interval_s
        self.sent = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ReferencePublisher:
        self._thread = threading.Thread(target=self._loop, name="raw-reference", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        wake = time.monotonic()
        try:
            channel = live(self.channel)
            while not self._stop.is_set():
                self.client.publish(channel, json.dumps({"i": self.sent + 1, "timestamp": now_iso()}))
                self.sent += 1
                wake += self.interval_s
                pause = wake - time.monotonic()
                if pause > 0:
                    self._stop.wait(pause)
                else:
                    wake = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - reported by the measurement's problems
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class _Tally:
    """Events per channel the observer has recorded so far (counted incrementally, one thread)."""

    def __init__(self, events: list[RawEvent]) -> None:
        self.events = events
        self.seen = 0
        self.counts: Counter = Counter()

    def update(self) -> Counter:
        n = len(self.events)
        for ev in self.events[self.seen:n]:
            self.counts[ev.channel] += 1
        self.seen = n
        return self.counts

    def produced(self) -> int:
        counts = self.update()
        return sum(counts[c] for c in PRODUCER_CHANNELS)

    def on(self, channel: str) -> int:
        return self.update()[channel]


# -- the measurement ---------------------------------------------------------------------------------
class AdvancedFeaturesDelivery:
    """The advanced features as producer processes, the observer, the reference, and the judgement."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.client = system.redis_client(STREAM_DB)
        self.reference_client = system.redis_client(STREAM_DB)
        self.observer: RawObserver | None = None
        self.tally: _Tally | None = None
        self.expansion: BackgroundCommand | None = None
        self.processor: TickProcessor | None = None
        self.feeder: TickFeeder | None = None
        self.reference: ReferencePublisher | None = None
        self.rate = float(M.REALTIME_TICK_RATE)
        self.loads: list[ProducerRun] = []
        self.detections: list[ProducerRun] = []
        self.worker_error: str | None = None
        self._stop_worker = threading.Event()
        self._worker: threading.Thread | None = None
        self.started_at = 0.0    # wall time the first feature started
        self.stopped_at = 0.0    # wall time the features were told to stop
        self.background_runs: dict[str, ProducerRun | None] = {}
        self._ended_early: set[str] = set()
        self.events: list[RawEvent] = []
        self.judgement: AdvancedDeliveryJudgement | None = None

    # -- Given ---------------------------------------------------------------------------------
    def subscribe(self) -> None:
        """A TickStockApp-side observer on the features' channels and the reference channel."""
        clean_realtime_streams(self.client)
        self.observer = RawObserver(self.system, channels=(*PRODUCER_CHANNELS, REFERENCE_CHANNEL)).start()
        self.tally = _Tally(self.observer.events)

    def start_background(self, producer: ProducerController, rate: float) -> None:
        """ETF universe expansion repeating in its own process (started once its first notification
        arrived), the tick processor, the tick feeder at ``rate`` ticks/s, and the raw reference."""
        self.rate = float(rate)
        safety = f"{M.deadline(M.ADVANCED_DELIVERY_PROCESS_MAX_S):g}"
        self.started_at = time.time()
        self.reference = ReferencePublisher(self.reference_client).start()
        self.expansion = BackgroundCommand(producer, "expand", "--repeat-until-stopped",
                                           "--max-seconds", safety)
        self.expansion.start(lambda: self.tally.on(UNIVERSE_CHANNEL) > 0,
                             f"the background expansion's first notification on {UNIVERSE_CHANNEL}")
        self.processor = TickProcessor(self.system, producer).start()
        tape = TickTape(M.REALTIME_TAPE_SEED, M.REALTIME_SYMBOLS, M.REALTIME_TICKS_PER_MINUTE)
        self.feeder = TickFeeder(tape, redis_sink(self.client, namespaced(TICK_STREAM)), self.rate,
                                 M.REALTIME_BATCH_INTERVAL_S, M.REALTIME_MAX_BATCH,
                                 max_seconds=M.deadline(M.ADVANCED_DELIVERY_PROCESS_MAX_S)).start("advanced")

    # -- When ----------------------------------------------------------------------------------
    def _scenario_work(self, producer: ProducerController) -> None:
        """Scenario load, then the pattern detector over the loaded scenario, back to back."""
        scenario = M.ADVANCED_DELIVERY_SCENARIO
        try:
            while not self._stop_worker.is_set():
                load = producer.load_scenario(scenario)
                self.loads.append(load)
                if load.returncode != 0:
                    return
                detection = producer.run("detect-patterns", "--scenario", scenario)
                self.detections.append(detection)
                if detection.returncode != 0:
                    return
        except Exception as exc:  # noqa: BLE001 - reported by run_until's problems
            self.worker_error = f"{type(exc).__name__}: {exc}"

    def _background(self) -> dict[str, BackgroundCommand | None]:
        return {EXPANSION: self.expansion, TICK_PROCESSOR: self.processor.command if self.processor else None}

    def _broken(self) -> list[str]:
        """Why the features cannot go on: a process or thread of the measurement ended."""
        problems = []
        for what, command in self._background().items():
            if command is not None and not command.running:
                self._ended_early.add(what)
                problems.append(f"the {what} ended early")
        failed = [r for r in (*self.loads, *self.detections) if r.returncode != 0]
        problems += [f"a scenario step failed: {r.describe()}" for r in failed[:1]]
        if self.worker_error:
            problems.append(f"the scenario loads stopped: {self.worker_error}")
        problems += self.feeder.problems() if self.feeder else []
        if self.observer is not None and self.observer.error:
            problems.append(f"the observer lost its connection: {self.observer.error}")
        if self.reference is not None and self.reference.error:
            problems.append(f"the raw redis-py reference publisher failed: {self.reference.error}")
        return problems

    def _enough(self, wanted: int) -> bool:
        return (self.tally.produced() >= wanted and bool(self.detections)
                and self.tally.on(REFERENCE_CHANNEL) >= M.ADVANCED_DELIVERY_REFERENCE_MIN_MESSAGES)

    def _hopeless(self, wanted: int, deadline_s: float) -> bool:
        """After the warm-up: at the rate seen so far the volume cannot arrive within the deadline."""
        elapsed = time.time() - self.started_at
        have = self.tally.produced()
        return (elapsed >= M.ADVANCED_DELIVERY_WARM_UP_S
                and have / elapsed * (deadline_s - elapsed) < wanted - have)

    def run_until(self, producer: ProducerController, wanted: int) -> list[str]:
        """Scenario loads and pattern detection beside the background features until the observer
        has seen ``wanted`` producer messages, a detection has run and the reference has its samples
        (bounded); then stop every feature, wait for what they acknowledged, and judge."""
        self._worker = threading.Thread(target=self._scenario_work, args=(producer,), name="scenario-work",
                                        daemon=True)
        self._worker.start()
        deadline_s = M.deadline(M.ADVANCED_DELIVERY_DEADLINE_S)
        try:
            wait_until(lambda: self._enough(wanted) or self._broken() or self._hopeless(wanted, deadline_s),
                       max(0.0, deadline_s - (time.time() - self.started_at)),
                       f"{wanted} producer messages while the advanced features run")
        except DeadlineExceeded:
            pass  # judged below with what did arrive
        problems = [p for p in self._broken() if not p.endswith(" ended early")]
        self.stop_features()
        problems = self._report_problems() + problems
        self.settle()
        self.judgement = self.judge()
        if problems:  # a feature broke: the volume it then missed is a consequence, not a cause
            return list(dict.fromkeys(problems))
        quiet = [f for f in FEATURES if not self.acknowledged_by_feature(f)]
        problems += volume_problems(self.judgement.acknowledged, wanted, self.seconds, quiet)
        if not self.loads:
            problems.append("no scenario load finished while the features ran")
        return problems

    def stop_features(self) -> None:
        """Stop everything at once: SIGTERM to both background producers (each finishes its round
        and reports), the feeder and the reference stop, and the scenario work ends after its
        current command; then collect the reports."""
        self.stopped_at = time.time()
        self._stop_worker.set()
        commands = self._background()
        for command in commands.values():
            if command is not None:
                command.terminate()
        for part in (self.feeder, self.reference):
            if part is not None:
                part.stop()
        if self._worker is not None:
            self._worker.join(timeout=M.deadline(M.PRODUCER_COMMAND_DEADLINE_S))
        self.background_runs = {what: c.stop() if c is not None else None for what, c in commands.items()}

    def _report_problems(self) -> list[str]:
        problems = [f"the {what} {'ended early' if what in self._ended_early else 'failed'}: {run.describe()}"
                    for what, run in self.background_runs.items()
                    if run is not None and (run.returncode != 0 or what in self._ended_early)]
        problems += [f"the {what}'s report has no producer_id" for what, run in self.background_runs.items()
                     if run is not None and not run.report.get("producer_id")]
        return problems

    @property
    def runs(self) -> list[tuple[str, ProducerRun]]:
        """Every producer run that published (or could have), with the feature it is."""
        out = [(what, run) for what, run in self.background_runs.items() if run is not None]
        out += [(DETECTOR, run) for run in self.detections]
        return out

    def features(self) -> dict[str, str]:
        return {run.report["producer_id"]: what for what, run in self.runs if run.report.get("producer_id")}

    def acknowledged(self) -> dict[str, set[int]]:
        return acknowledged_by(run.report for _, run in self.runs)

    def acknowledged_by_feature(self, feature: str) -> int:
        return sum(int(run.report.get("published_count", 0) or 0) for what, run in self.runs
                   if what == feature)

    @property
    def seconds(self) -> float:
        return max(0.0, self.stopped_at - self.started_at)

    def settle(self) -> None:
        """Wait (bounded) until the observer has as many producer messages as were acknowledged (what
        is still missing then is lost: judged by the success rate), then stop the observer."""
        expected = sum(len(s) for s in self.acknowledged().values())
        try:
            wait_until(lambda: self.tally.produced() >= expected, M.deadline(M.DELIVERY_DEADLINE_S),
                       f"the observer receiving the {expected} messages the producers acknowledged")
        except DeadlineExceeded:
            pass
        self.events = self.observer.stop()
        self.observer = None

    def judge(self) -> AdvancedDeliveryJudgement:
        produced, reference = decode_events(self.events)
        sent = self.reference.sent if self.reference else 0
        return judge(self.acknowledged(), self.features(), produced, reference, sent)

    def close(self) -> None:
        self._stop_worker.set()
        for part in (self.reference, self.feeder):
            if part is not None:
                part.stop()
        for command in self._background().values():
            if command is not None:
                command.stop()
        if self._worker is not None:
            self._worker.join(timeout=M.deadline(M.PRODUCER_COMMAND_DEADLINE_S))
        if self.observer is not None:
            self.observer.stop()
        try:
            clean_realtime_streams(self.client)
        finally:
            self.client.close()
            self.reference_client.close()
