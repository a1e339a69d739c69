"""Resident memory and CPU of the producer and of TickStockApp through a stress profile (RES-3).

**The profile** (``MemoryUnderStress.run_profile``), all at once for ``RES_STRESS_SECONDS``: the tick
processor (``process-ticks``) fed by the tick feeder at ``REALTIME_TICK_RATE``; ETF universe
expansion repeating in a background producer process (``expand --repeat-until-stopped``); bursts of
producer expansions (``RES_STRESS_BURST_SIZE`` processes started together, ``RES_STRESS_BURSTS``
times on a schedule); UI clients querying TickStockApp's HTTP API back to back; and one scenario
load (``load-history --scenario RES_STRESS_SCENARIO``); the bursts and the load are awaited
(bounded) before the profile ends.

**Memory** is psutil's RSS, sampled every ``RES_SAMPLE_INTERVAL_MS`` (``sut.stress.ResourceSampler``).
It is judged per *long-running* process, where a leak accumulates: TickStockApp (baseline: the
median of its samples in the quiet ``RES_STRESS_BASELINE_S`` before the profile), the background
expander and the tick processor (baseline: their first sample once each showed its first effect,
so the interpreter's start-up is not counted as growth). Growth = the highest RSS seen from the
baseline on, minus the baseline. *Short-lived* producer commands (a burst's ``expand``, the
scenario load) start and end inside the profile: there is no "before" for them to grow from and
their memory goes back to the system when they exit, so they are reported (the peak RSS seen per
command kind), not judged; the same expansion code is judged where it repeats in one process, the
background expander.

**CPU** is the CPU time (user + system) the system under test used during the profile's window:
TickStockApp's (psutil, start and end of the window) plus every producer process that ran in it
(``RUSAGE_CHILDREN``: the exact CPU of each command the suite started and waited for, however
short it lived). It is normalised to the machine: CPU seconds / (window seconds × the CPU cores
this run may use) × 100, so 100 % means every core busy for the whole window, and the spec's 80 %
line is 80 % of the machine's capacity (on 2 cores: 1.6 cores' worth). Per process it is also
reported in % of one core.

Redis's ``used_memory`` (INFO memory) before and after the profile is reported (the tick stream
and the event streams grow by design; they are removed when the scenario ends).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config.targets import Target
from tickstock_acceptance.contract.messaging import STREAM_DB, TICK_STREAM, namespaced
from tickstock_acceptance.core.waiting import DeadlineExceeded, wait_until
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.etf_universes import EtfUniverseStore
from tickstock_acceptance.sut.producer import BackgroundCommand, ProducerRun, producer_for
from tickstock_acceptance.sut.realtime_processing import TickProcessor, clean_realtime_streams
from tickstock_acceptance.sut.stress import (
    MB,
    AppQueryLoop,
    ProcessSample,
    ResourceSampler,
    Samples,
    children_cpu_s,
    process_cpu_s,
    redis_used_memory,
    usable_cores,
)
from tickstock_acceptance.sut.tick_feeder import TickFeeder, TickTape, redis_sink
from tickstock_acceptance.sut.tickstock_app import TickStockAppController

APP = "TickStockApp"
EXPANDER = "background expander"
PROCESSOR = "tick processor"


# -- judging (pure: no servers) ----------------------------------------------------------------------
@dataclass
class Growth:
    """One long-running process's resident memory: baseline, peak after it, last sample."""

    name: str
    pid: int
    baseline: int           # bytes
    peak: int
    final: int
    samples: int

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / MB

    def describe(self) -> str:
        return (f"{self.name} (pid {self.pid}): {self.baseline / MB:.1f} MB → peak {self.peak / MB:.1f} MB, "
                f"last {self.final / MB:.1f} MB over {self.samples} samples")


def growth_of(name: str, samples: Sequence[ProcessSample], pid: int, baseline_until: float | None = None,
              since: float | None = None) -> Growth | None:
    """``pid``'s growth: baseline = median RSS of the samples up to ``baseline_until`` (a quiet window
    before the profile), or else its first sample at or after ``since``; peak = the highest RSS from
    the baseline on. None without samples to judge."""
    mine = sorted((s for s in samples if s.pid == pid), key=lambda s: s.at)
    if baseline_until is not None:
        quiet = [s.rss for s in mine if s.at <= baseline_until]
        if not quiet:
            return None
        base, later = int(statistics.median(quiet)), [s for s in mine if s.at > baseline_until]
    else:
        later = [s for s in mine if since is None or s.at >= since]
        if not later:
            return None
        base = later[0].rss
    if not later:
        return None
    return Growth(name, pid, base, max(base, *(s.rss for s in later)), later[-1].rss, len(later))


def memory_problems(growths: Sequence[Growth | None], names: Sequence[str], target: Target) -> list[str]:
    """Each long-running process was sampled and grew by less than ``target`` (MB)."""
    out = []
    seen = {g.name for g in growths if g is not None}
    out += [f"{name}: no resident memory samples to judge" for name in names if name not in seen]
    for g in growths:
        if g is not None and not g.growth_mb < target.limit:
            out.append(f"{g.name} grew by {g.growth_mb:.1f} MB, not less than {target.limit:g} MB: "
                       f"{g.describe()}")
    return out


def cpu_share(cpu_s: float, seconds: float, cores: int) -> float:
    """CPU seconds as a percentage of the machine's capacity over ``seconds`` (100 = every core busy)."""
    return 100.0 * cpu_s / (seconds * cores) if seconds > 0 and cores > 0 else 0.0


def cpu_problems(share: float, target: Target, seconds: float) -> list[str]:
    if seconds <= 0:
        return ["the profile's window has no length: no CPU to judge"]
    return [] if target.met_by(share) else [
        f"the system under test used {share:.1f} % of the machine's CPU on average over {seconds:.1f} s, "
        f"over {target.limit:g} %"]


def peak_by_label(samples: Sequence[ProcessSample], exclude: set[int]) -> dict[str, tuple[int, int]]:
    """label → (highest RSS seen, processes sampled) of the processes not in ``exclude``."""
    out: dict[str, tuple[int, set[int]]] = {}
    for s in samples:
        if s.pid in exclude:
            continue
        peak, pids = out.get(s.label, (0, set()))
        out[s.label] = (max(peak, s.rss), pids | {s.pid})
    return {label: (peak, len(pids)) for label, (peak, pids) in out.items()}


def sampling_problems(samples: Samples, seconds: float, interval_s: float, share: float) -> list[str]:
    wanted = seconds / interval_s
    out = [f"the sampler failed: {e}" for e in samples.errors]
    if samples.ticks < wanted * share:
        out.append(f"{samples.ticks} resource samples in {seconds:.1f} s, need at least {wanted * share:.0f} "
                   f"(every {interval_s * 1000:.0f} ms)")
    return out


def rss_curves(samples: Sequence[ProcessSample], pids: dict[int, str], t0: float) -> dict[str, list[tuple]]:
    """name → [(seconds since ``t0``, RSS MB)] of the named processes."""
    out: dict[str, list[tuple]] = {name: [] for name in pids.values()}
    for s in sorted(samples, key=lambda s: s.at):
        if s.pid in pids:
            out[pids[s.pid]].append((s.at - t0, s.rss / MB))
    return out


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def rss_chart_svg(curves: dict[str, list[tuple]], title: str, width: int = 720, height: int = 300) -> str:
    """A line chart of RSS (MB) over time (s), one line per process, as a standalone SVG document."""
    left, right, top, bottom = 60, 170, 30, 40
    points = [p for c in curves.values() for p in c]
    t_max = max((t for t, _ in points), default=1.0) or 1.0
    y_max = max((mb for _, mb in points), default=1.0) * 1.1 or 1.0
    w, h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + w * t / t_max

    def y(mb: float) -> float:
        return top + h * (1 - mb / y_max)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="13">{escape(title)}</text>',
           f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" stroke="black"/>']
    for i in range(5):
        mb, t = y_max * i / 4, t_max * i / 4
        out.append(f'<text x="{left - 6}" y="{y(mb) + 4:.1f}" text-anchor="end">{mb:.0f}</text>')
        out.append(f'<line x1="{left}" y1="{y(mb):.1f}" x2="{left + w}" y2="{y(mb):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{x(t):.1f}" y="{top + h + 16}" text-anchor="middle">{t:.1f}</text>')
    out.append(f'<text x="{left + w / 2}" y="{height - 6}" text-anchor="middle">seconds</text>')
    out.append(f'<text x="14" y="{top + h / 2}" transform="rotate(-90 14 {top + h / 2})" '
               f'text-anchor="middle">RSS (MB)</text>')
    for i, (name, curve) in enumerate(curves.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        if curve:
            pts = " ".join(f"{x(t):.1f},{y(mb):.1f}" for t, mb in curve)
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"/>')
        ly = top + 14 + 16 * i
        out.append(f'<line x1="{left + w + 10}" y1="{ly - 4}" x2="{left + w + 28}" y2="{ly - 4}" '
                   f'stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{left + w + 32}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


# -- the measurement ---------------------------------------------------------------------------------
@dataclass
class StressFigures:
    """What the profile measured; the judgement reads this."""

    growths: list[Growth] = field(default_factory=list)
    long_running: dict[int, str] = field(default_factory=dict)   # pid → name
    window_s: float = 0.0
    cores: int = 0
    app_cpu_s: float = 0.0
    producer_cpu_s: float = 0.0
    redis_before: int = 0
    redis_after: int = 0
    samples: Samples = field(default_factory=Samples)
    started_at: float = 0.0

    @property
    def cpu_s(self) -> float:
        return self.app_cpu_s + self.producer_cpu_s

    @property
    def cpu_share(self) -> float:
        return cpu_share(self.cpu_s, self.window_s, self.cores)


class MemoryUnderStress:
    """The stress profile, the sampler, and what they measured."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.client = system.redis_client(STREAM_DB)
        self.store = EtfUniverseStore(system)
        self.app: TickStockAppController | None = None
        self.sampler: ResourceSampler | None = None
        self.interval_s = M.RES_SAMPLE_INTERVAL_MS / 1000.0
        self.figures = StressFigures()
        self.processor: TickProcessor | None = None
        self.expander: BackgroundCommand | None = None
        self.feeder: TickFeeder | None = None
        self.clients: list[AppQueryLoop] = []
        self.bursts: list[ProducerRun] = []
        self.loads: list[ProducerRun] = []
        self.background_runs: dict[str, ProducerRun | None] = {}
        self.worker_errors: list[str] = []
        self._baseline_until = 0.0
        self._early: list[str] = []
        self._themes: list[str] = []
        self._started: dict[str, float] = {}
        self._threads: list[threading.Thread] = []

    def watch(self, app: TickStockAppController) -> None:
        """Start sampling TickStockApp and the run's producer processes; its quiet baseline first."""
        assert app.pid is not None, "TickStockApp is not a process of this run: its memory is not observable"
        self.app = app
        clean_realtime_streams(self.client)
        self.figures.redis_before = redis_used_memory(self.client)
        command = producer_for(self.system).base_command
        self.sampler = ResourceSampler(app.pid, command, self.interval_s, M.RES_SAMPLE_DISCOVER_EVERY).start()
        self.figures.started_at = time.time()
        time.sleep(M.RES_STRESS_BASELINE_S)  # the quiet window the baseline is the median of
        self._baseline_until = time.time()

    # -- When ----------------------------------------------------------------------------------
    def run_profile(self) -> list[str]:
        producer = producer_for(self.system)
        self.figures.cores = len(usable_cores())
        self._themes = self.store.themes()
        cpu_children, cpu_app, t0 = children_cpu_s(), process_cpu_s(self.app.pid), time.monotonic()
        try:
            self._start_background(producer)
            self.clients = [AppQueryLoop(self.app, self._paths(i), M.deadline(M.RES_HTTP_TIMEOUT_S),
                                         M.RES_STRESS_APP_QUERY_INTERVAL_S).start()
                            for i in range(M.RES_STRESS_APP_CLIENTS)]
            self._threads.append(self._thread(self._scenario_load, producer, "stress-scenario-load"))
            pause = M.RES_STRESS_SECONDS / M.RES_STRESS_BURSTS
            self._threads += [self._thread(lambda p, b=b: self._burst(p, b, b * pause), producer,
                                           f"stress-burst-{b}") for b in range(M.RES_STRESS_BURSTS)]
            self._wait(t0)
            self._early = self._broken()  # before the stop, which ends the background processes
        finally:
            self.stop_profile()
            self.figures.window_s = time.monotonic() - t0
            self.figures.producer_cpu_s = children_cpu_s() - cpu_children
            if self.app.running:
                self.figures.app_cpu_s = process_cpu_s(self.app.pid) - cpu_app
        time.sleep(2 * self.interval_s)  # the samples after the profile, then the judgement's figures
        self.figures.samples = self.sampler.stop()
        self.figures.redis_after = redis_used_memory(self.client)
        self.figures.growths = self._growths()
        return self.profile_problems()

    def _paths(self, i: int) -> list[str]:
        themes = self._themes or ["sectors"]
        paths = [f"/api/universes/{themes[(i + k) % len(themes)]}?filtered=true" for k in range(3)]
        return [*paths, "/api/view"]

    def _thread(self, target, producer, name: str) -> threading.Thread:
        def run() -> None:
            try:
                target(producer)
            except Exception as exc:  # noqa: BLE001 - reported by profile_problems
                self.worker_errors.append(f"{name}: {type(exc).__name__}: {exc}")

        t = threading.Thread(target=run, name=name, daemon=True)
        t.start()
        return t

    def _start_background(self, producer) -> None:
        safety = f"{M.deadline(M.RES_STRESS_PROCESS_MAX_S):g}"
        self.processor = TickProcessor(self.system, producer).start()
        self._started[PROCESSOR] = time.time()
        self.sampler.track(self.processor.command.proc.pid, PROCESSOR)
        tape = TickTape(M.REALTIME_TAPE_SEED, M.REALTIME_SYMBOLS, M.REALTIME_TICKS_PER_MINUTE)
        sink = redis_sink(self.client, namespaced(TICK_STREAM))
        self.feeder = TickFeeder(tape, sink, float(M.REALTIME_TICK_RATE),
                                 M.REALTIME_BATCH_INTERVAL_S, M.REALTIME_MAX_BATCH,
                                 max_seconds=M.deadline(M.RES_STRESS_PROCESS_MAX_S)).start("stress")
        mark = self.store.db_now()
        self.expander = BackgroundCommand(producer, "expand", "--repeat-until-stopped",
                                          "--max-seconds", safety)
        self.expander.start(lambda: bool(self.store.universes_updated_since(mark)),
                            "the background expander's first universe written")
        self._started[EXPANDER] = time.time()
        self.sampler.track(self.expander.proc.pid, EXPANDER)

    def _scenario_load(self, producer) -> None:
        self.loads.append(producer.load_scenario(M.RES_STRESS_SCENARIO))

    def _burst(self, producer, b: int, after_s: float) -> None:
        """Burst ``b``: ``RES_STRESS_BURST_SIZE`` expansions started together, ``after_s`` into the
        profile (the bursts are on a schedule: one does not wait for the one before)."""
        time.sleep(after_s)
        themes = self._themes or ["sectors"]
        size = M.RES_STRESS_BURST_SIZE
        burst = [themes[(b * size + i) % len(themes)] for i in range(size)]
        started = [(theme, *producer.start("expand", "--themes", theme)) for theme in burst]
        for theme, proc, at in started:
            self.bursts.append(producer.finish(proc, at, ("expand", "--themes", theme),
                                               M.deadline(M.PRODUCER_COMMAND_DEADLINE_S)))

    def _background(self) -> dict[str, BackgroundCommand | None]:
        return {EXPANDER: self.expander, PROCESSOR: self.processor.command if self.processor else None}

    def _broken(self) -> list[str]:
        out = [f"the {what} ended early" for what, c in self._background().items()
               if c is not None and not c.running]
        out += self.feeder.problems() if self.feeder else []
        out += self.worker_errors
        return out

    def _wait(self, t0: float) -> None:
        """Until the profile's time has passed and its scenario load and bursts are done (bounded), or
        something of it broke."""
        try:
            wait_until(lambda: self._broken() or (time.monotonic() - t0 >= M.RES_STRESS_SECONDS
                                                  and not any(t.is_alive() for t in self._threads)),
                       M.deadline(M.RES_STRESS_DEADLINE_S), "the stress profile's scenario load and bursts")
        except DeadlineExceeded:
            pass  # reported by profile_problems (a worker still running)

    def stop_profile(self) -> None:
        """The feeder and the clients stop; each background producer gets one SIGTERM and reports (one
        after the other: a second SIGTERM while a producer is exiting would find Python's default
        handler back in place and kill it)."""
        for part in (self.feeder, *self.clients):
            if part is not None:
                part.stop()
        self.background_runs = {what: c.stop() if c is not None else None
                                for what, c in self._background().items()}
        for t in self._threads:
            t.join(timeout=M.deadline(M.PRODUCER_COMMAND_DEADLINE_S))

    def _growths(self) -> list[Growth]:
        samples = self.figures.samples.samples
        long_running = {self.app.pid: APP}
        out = [growth_of(APP, samples, self.app.pid, baseline_until=self._baseline_until)]
        for name, command in self._background().items():
            if command is not None and command.proc is not None:
                long_running[command.proc.pid] = name
                out.append(growth_of(name, samples, command.proc.pid, since=self._started.get(name)))
        self.figures.long_running = long_running
        return [g for g in out if g is not None]

    def profile_problems(self) -> list[str]:
        """The profile ran as designed: every part worked (else its figures are no evidence)."""
        out = list(self._early) + self.worker_errors + (self.feeder.problems() if self.feeder else [])
        out += [f"the {what} failed: {run.describe()}" for what, run in self.background_runs.items()
                if run is not None and run.returncode != 0]
        out += [f"a burst expansion failed: {r.describe()}" for r in self.bursts if r.returncode != 0][:2]
        out += [f"the scenario load failed: {r.describe()}" for r in self.loads if r.returncode != 0]
        if not self.loads:
            out.append("the scenario load did not finish within the profile")
        if len(self.bursts) < M.RES_STRESS_BURSTS * M.RES_STRESS_BURST_SIZE:
            out.append(f"{len(self.bursts)} of {M.RES_STRESS_BURSTS * M.RES_STRESS_BURST_SIZE} burst "
                       "expansions finished")
        # Failed queries are in the evidence (describe_profile): RES-2 judges errors, RES-3 the memory
        # and CPU of a profile that ran; a TickStockApp that answered nothing gave it no load.
        if not sum(c.answered for c in self.clients):
            out.append("TickStockApp answered no query during the profile")
        out += sampling_problems(self.figures.samples, self.figures.window_s, self.interval_s,
                                 M.RES_STRESS_MIN_SAMPLE_SHARE)
        return list(dict.fromkeys(out))

    # -- what it measured, for the evidence ------------------------------------------------------
    def describe_profile(self) -> str:
        """What ran in the profile, in one line."""
        loads = "; ".join(f"{r.describe()} in {r.wall_s:.1f} s (inside it {r.report.get('elapsed_s', '?')} s)"
                          for r in self.loads) or "none"
        background = "; ".join(f"{what}: {run.describe()} after {run.wall_s:.1f} s"
                               for what, run in self.background_runs.items() if run is not None)
        errors = [e for c in self.clients for e in c.errors]
        return (f"{len(self.bursts)} burst expansions; scenario load {loads}; "
                f"{sum(c.answered for c in self.clients)} TickStockApp queries answered, {len(errors)} failed"
                f"{f' (e.g. {errors[0]})' if errors else ''}; "
                f"{self.feeder.sent if self.feeder else 0} ticks fed; {self.figures.samples.ticks} samples; "
                f"background: {background}")

    def short_lived_peaks(self) -> dict[str, tuple[int, int]]:
        return peak_by_label(self.figures.samples.samples, set(self.figures.long_running))

    def per_process_cpu(self) -> dict[str, float]:
        """name → % of one core over the window, from the first and last sample of each long-running
        process (psutil)."""
        out = {}
        for pid, name in self.figures.long_running.items():
            mine = sorted(self.figures.samples.of(pid), key=lambda s: s.at)
            if len(mine) >= 2 and mine[-1].at > mine[0].at:
                out[name] = 100.0 * (mine[-1].cpu_s - mine[0].cpu_s) / (mine[-1].at - mine[0].at)
        return out

    def chart(self) -> str:
        curves = rss_curves(self.figures.samples.samples, self.figures.long_running, self.figures.started_at)
        title = f"Resident memory every {M.RES_SAMPLE_INTERVAL_MS} ms through the stress profile"
        return rss_chart_svg(curves, title)

    def close(self) -> None:
        try:
            self.stop_profile()
        finally:
            if self.sampler is not None:
                self.sampler.stop()
            try:
                clean_realtime_streams(self.client)
            finally:
                self.client.close()
