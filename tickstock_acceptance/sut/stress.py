"""Load and resource use of the running system: mixed operations, constrained producers, psutil samples.

* **Operations** (``Operation``, ``run_together``): one call each into the system under test, of a
  named kind — an ETF universe query on the database as TickStockApp's role, an
  ``update_etf_universe`` on a ``test_`` universe as the producer's role, a TickStockApp HTTP
  query, or a producer command (e.g. ``expand --themes X``, which publishes). Each operation
  prepares what it needs first (its database connection), then every operation waits at one
  barrier and starts together; each records its own wall-clock start and end, whether it
  succeeded and why not, so "in flight at the same time" is measured from those times, never
  assumed from the number of threads started.
* **Constraints** (``Constraints``, ``ConstrainedProducer``): the producer's commands started
  through a small exec trampoline (the same Python, stdlib only, no root) that lowers its own
  priority (``os.nice``), pins itself to a CPU core (``os.sched_setaffinity``) and caps its address
  space and file size (``resource.setrlimit``) before it ``exec``s the producer command, so the
  producer runs constrained from its first instruction and its children inherit the limits.
  TickStockApp, a process the run shares between scenarios, is only pinned (``pin``): its CPU
  affinity can be restored afterwards without privileges, its priority could not.
* **Resource samples** (``ResourceSampler``): every ~100 ms the resident memory (RSS) and CPU
  time (user + system) of TickStockApp's process and of every producer process of the run (the
  suite's child processes running the producer command, found anew at every sample, so short-lived
  commands are sampled too), with the producer's subcommand as the label. ``children_cpu_s``
  reads the CPU time of every child process the suite has waited for (``RUSAGE_CHILDREN``): the
  exact CPU of producer commands that ran and ended inside a window, however short they were.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil
import psycopg2
from psycopg2.extras import Json

from tickstock_acceptance.core.errors import first_line
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.etf_universes import is_test_theme
from tickstock_acceptance.sut.producer import ProducerController
from tickstock_acceptance.sut.tickstock_app import TickStockAppController

MB = 1024 * 1024


# -- operations started together --------------------------------------------------------------------
@dataclass
class OperationResult:
    kind: str
    what: str
    started_at: float = 0.0    # wall clock, epoch s (taken after the barrier)
    finished_at: float = 0.0
    ok: bool = False
    error: str = ""

    @property
    def ms(self) -> float:
        return max(0.0, self.finished_at - self.started_at) * 1000.0


class Operation:
    """One call into the system: ``prepare`` before the barrier, ``perform`` after it (raises or
    returns an error text on failure, "" on success), ``release`` at the end."""

    kind = "operation"

    def __init__(self, what: str) -> None:
        self.result = OperationResult(self.kind, what)

    def prepare(self) -> None:
        pass

    def perform(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def release(self) -> None:
        pass


class DatabaseOperation(Operation):
    """An operation on a database connection of its own, opened before the barrier as ``role``."""

    role = "consumer"

    def __init__(self, system: AcceptanceSystem, what: str) -> None:
        super().__init__(what)
        self.system, self.conn = system, None

    def prepare(self) -> None:
        self.conn = self.system.connect(self.role)

    def release(self) -> None:
        if self.conn is not None:
            self.conn.close()


class DatabaseQuery(DatabaseOperation):
    """``get_etf_universe(theme, true)`` on a connection of its own, as TickStockApp's role."""

    kind = "ETF universe query (database, TickStockApp's role)"
    role = "consumer"

    def __init__(self, system: AcceptanceSystem, theme: str) -> None:
        super().__init__(system, f"get_etf_universe({theme!r}, true)")
        self.theme = theme

    def perform(self) -> str:
        with self.conn.cursor() as cur:
            cur.execute("SELECT get_etf_universe(%s, true)", (self.theme,))
            value = cur.fetchone()[0]
        if not isinstance(value, dict) or "error" in value or not isinstance(value.get("symbols"), list):
            return f"answered {str(value)[:120]}"
        return ""


class UniverseUpdate(DatabaseOperation):
    """``update_etf_universe`` of a ``test_`` universe as the producer's role (TickStockPL's write)."""

    kind = "universe update (update_etf_universe, producer's role)"
    role = "producer"

    def __init__(self, system: AcceptanceSystem, theme: str, symbols: list[str]) -> None:
        if not is_test_theme(theme):
            raise ValueError("the suite writes only test_ themes")
        super().__init__(system, f"update_etf_universe({theme!r}, {len(symbols)} symbols)")
        self.theme, self.symbols = theme, symbols

    def perform(self) -> str:
        with self.conn.cursor() as cur:
            cur.execute("SELECT update_etf_universe(%s, %s, %s)",
                        (self.theme, Json(self.symbols), Json({"focus": "RES load"})))
            value = cur.fetchone()[0]
        if not isinstance(value, dict) or value.get("action") not in ("created", "updated"):
            return f"answered {str(value)[:120]}"
        return ""


class AppQuery(Operation):
    """One GET on TickStockApp's HTTP API (a universe by theme, or the view)."""

    kind = "TickStockApp HTTP query"

    def __init__(self, app: TickStockAppController, path: str, timeout_s: float) -> None:
        super().__init__(f"GET {path}")
        self.app, self.path, self.timeout_s = app, path, timeout_s

    def perform(self) -> str:
        status, body = self.app.get_json(self.path, timeout_s=self.timeout_s)
        if status != 200 or not isinstance(body, dict):
            return f"HTTP {status}: {str(body)[:120]}"
        if self.path.startswith("/api/universes/") and not isinstance(body.get("symbols"), list):
            return f"HTTP {status} without symbols: {str(body)[:120]}"
        return ""


class ProducerCommand(Operation):
    """A producer command in its own process (e.g. ``expand --themes X``, which publishes); it
    succeeds when it exits 0 with a JSON report, and for a publishing command when that report
    acknowledges at least one published message."""

    kind = "producer command"

    def __init__(self, producer: ProducerController, args: tuple[str, ...], timeout_s: float,
                 publishes: bool = False, kind: str | None = None) -> None:
        super().__init__(" ".join(args))
        if kind:
            self.kind = self.result.kind = kind
        self.producer, self.args, self.timeout_s, self.publishes = producer, args, timeout_s, publishes
        self.run = None

    def perform(self) -> str:
        proc, started = self.producer.start(*self.args)
        self.run = self.producer.finish(proc, started, self.args, self.timeout_s)
        if self.run.returncode != 0:
            return self.run.describe()
        if not self.run.report:
            return f"`{' '.join(self.args)}` printed no JSON report"
        if self.publishes and not published(self.run.report):
            return f"`{' '.join(self.args)}` acknowledged no published message"
        return ""


def published(report: dict) -> int:
    """How many messages a producer report acknowledges: ``published_count``, or the message ids an
    expansion lists under ``published``."""
    return int(report.get("published_count") or 0) or len(report.get("published") or [])


def _perform(op: Operation, barrier: threading.Barrier, wait_s: float, deadline_s: float | None) -> None:
    r = op.result
    try:
        op.prepare()
    except Exception as exc:  # noqa: BLE001 - an operation that cannot even prepare is a failed one
        r.error = f"prepare: {first_line(exc)}"
        barrier.abort()
        return
    try:
        try:
            barrier.wait(timeout=wait_s)
        except threading.BrokenBarrierError:
            r.error = r.error or "not every operation was ready to start together"
            return
        r.started_at = time.time()
        try:
            error = op.perform()
        except (psycopg2.Error, OSError, urllib.error.URLError, AssertionError, ValueError) as exc:
            error = first_line(exc)
        r.finished_at = time.time()
        if not error and deadline_s is not None and r.ms > deadline_s * 1000.0:
            error = f"took {r.ms / 1000.0:.2f} s, over its {deadline_s:g} s deadline"
        r.ok, r.error = not error, error
    finally:
        op.release()


def run_together(operations: list[Operation], ready_s: float, join_s: float,
                 deadline_s: float | None = None) -> tuple[list[OperationResult], float]:
    """Prepare every operation, start them together (one barrier), wait for all; their results and
    the wall time from the barrier's release to the last one's end. ``deadline_s``: an operation
    that took longer counts as failed (a client would have given up)."""
    barrier = threading.Barrier(len(operations))
    threads = [threading.Thread(target=_perform, args=(op, barrier, ready_s, deadline_s),
                                name=f"operation-{i}", daemon=True) for i, op in enumerate(operations)]
    for t in threads:
        t.start()
    stop_at = time.monotonic() + join_s
    for t in threads:
        t.join(timeout=max(0.0, stop_at - time.monotonic()))
    results = [op.result for op in operations]
    for t, r in zip(threads, results, strict=True):
        if t.is_alive() and not r.error:
            r.error = f"still running after {join_s:g} s"
    started = [r.started_at for r in results if r.started_at]
    finished = [r.finished_at for r in results if r.finished_at]
    elapsed = (max(finished) - min(started)) if started and finished else 0.0
    return results, elapsed


# -- constraints -------------------------------------------------------------------------------------
# The trampoline: applies the limits to itself, then becomes the producer command (exec).
_TRAMPOLINE = ("import os, resource, sys\n"
               "nice, core, as_mb, fsize_mb = (int(x) for x in sys.argv[1:5])\n"
               "os.nice(nice)\n"
               "os.sched_setaffinity(0, {core})\n"
               "for limit, mb in ((resource.RLIMIT_AS, as_mb), (resource.RLIMIT_FSIZE, fsize_mb)):\n"
               "    cap, hard = mb * 1024 * 1024, resource.getrlimit(limit)[1]\n"
               "    hard = cap if hard == resource.RLIM_INFINITY else min(cap, hard)\n"
               "    resource.setrlimit(limit, (min(cap, hard), hard))\n"
               "os.execvp(sys.argv[5], sys.argv[5:])\n")


def usable_cores() -> list[int]:
    """The CPU cores this run may use (its affinity; a container's limit shows here too)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return list(range(psutil.cpu_count() or 1))


@dataclass(frozen=True)
class Constraints:
    """A constrained profile: priority (niceness), one CPU core, address-space and file-size caps."""

    nice: int
    core: int
    address_space_mb: int
    file_size_mb: int

    def describe(self) -> str:
        return (f"nice {self.nice}, pinned to CPU core {self.core}, address space capped at "
                f"{self.address_space_mb} MB, file size capped at {self.file_size_mb} MB")

    def wrap(self, argv: list[str]) -> list[str]:
        return [sys.executable, "-c", _TRAMPOLINE, str(self.nice), str(self.core), str(self.address_space_mb),
                str(self.file_size_mb), *argv]


class ConstrainedProducer(ProducerController):
    """The run's producer, every command started under ``constraints``."""

    def __init__(self, system: AcceptanceSystem, constraints: Constraints) -> None:
        super().__init__(system)
        self.deployed = True  # the run's producer controller deployed it (call producer_for first)
        self.constraints = constraints

    def command(self, *args: str) -> list[str]:
        return self.constraints.wrap(super().command(*args))


def observed_limits(pid: int) -> dict:
    """What the kernel says a process runs with: niceness, CPU affinity, address-space cap (MB)."""
    p = psutil.Process(pid)
    soft = p.rlimit(psutil.RLIMIT_AS)[0]
    return {"nice": p.nice(), "cores": sorted(p.cpu_affinity()),
            "address_space_mb": None if soft == psutil.RLIM_INFINITY else soft // MB}


class Pinned:
    """A running process pinned to some cores until ``restore`` (its affinity is given back)."""

    def __init__(self, pid: int, cores: list[int]) -> None:
        self.process = psutil.Process(pid)
        self.before = self.process.cpu_affinity()
        self.process.cpu_affinity(cores)

    def restore(self) -> None:
        try:
            self.process.cpu_affinity(self.before)
        except psutil.Error:
            pass  # it has ended: nothing to give back


# -- resource samples ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProcessSample:
    at: float          # wall clock, epoch s
    label: str         # "TickStockApp", "producer expand", ...
    pid: int
    rss: int           # bytes
    cpu_s: float       # user + system CPU seconds of the process so far


@dataclass
class Samples:
    samples: list[ProcessSample] = field(default_factory=list)
    ticks: int = 0
    errors: list[str] = field(default_factory=list)

    def of(self, pid: int) -> list[ProcessSample]:
        return [s for s in self.samples if s.pid == pid]

    def pids(self) -> dict[int, str]:
        return {s.pid: s.label for s in self.samples}


def children_cpu_s() -> float:
    """User + system CPU seconds of every child process the suite has waited for, so far."""
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def process_cpu_s(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def _subcommand(cmdline: list[str], base: list[str]) -> str | None:
    """The producer subcommand when ``cmdline`` runs the producer command ``base``, else None."""
    n = len(base)
    for i in range(0, max(1, len(cmdline) - n + 1)):
        if cmdline[i:i + n] == base:
            rest = [a for a in cmdline[i + n:] if a != "--json"]
            return rest[0] if rest else ""
    return None


class ResourceSampler:
    """Samples RSS and CPU time of TickStockApp and of the run's producer processes until stopped."""

    def __init__(self, app_pid: int, producer_command: list[str], interval_s: float,
                 discover_every: int = 1) -> None:
        self.app_pid = app_pid
        self.base = list(producer_command)
        self.interval_s = interval_s
        self.discover_every = discover_every  # look for new producer processes every n-th sample
        self.me = psutil.Process(os.getpid())
        self.data = Samples()
        self.lock = threading.Lock()
        self._known: dict[int, tuple[psutil.Process, str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ResourceSampler:
        self._known[self.app_pid] = (psutil.Process(self.app_pid), "TickStockApp")
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)
        self._thread.start()
        return self

    def track(self, pid: int, label: str) -> None:
        """Sample ``pid`` under ``label`` from now on (a process started by the caller)."""
        try:
            self._known[pid] = (psutil.Process(pid), label)
        except psutil.Error:
            pass

    def discover(self) -> dict[int, str]:
        """pid → label of every producer process of the run seen so far (still running ones are
        added at each call; a constrained command counts once its trampoline has exec'd it)."""
        try:
            children = self.me.children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            if child.pid in self._known:
                continue
            try:
                cmdline = child.cmdline()
            except psutil.Error:
                continue
            if cmdline[1:2] == ["-c"]:
                continue  # the constraints' trampoline, not exec'd into the producer yet
            sub = _subcommand(cmdline, self.base)
            if sub is not None:
                self._known[child.pid] = (child, f"producer {sub}".strip())
        return {pid: label for pid, (_, label) in self._known.items() if pid != self.app_pid}

    def sample(self) -> None:
        if self.data.ticks % self.discover_every == 0:
            self.discover()
        now = time.time()
        taken = []
        for pid, (proc, label) in list(self._known.items()):
            try:
                with proc.oneshot():
                    if proc.status() == psutil.STATUS_ZOMBIE:
                        continue
                    rss = proc.memory_info().rss
                    t = proc.cpu_times()
                taken.append(ProcessSample(now, label, pid, rss, t.user + t.system))
            except psutil.Error:
                self._known.pop(pid, None)  # it has ended
        with self.lock:
            self.data.samples.extend(taken)
            self.data.ticks += 1

    def _loop(self) -> None:
        wake = time.monotonic()
        while not self._stop.is_set():
            wake += self.interval_s
            pause = wake - time.monotonic()
            if pause > 0 and self._stop.wait(pause):
                break
            if pause <= 0:
                wake = time.monotonic()
            try:
                self.sample()
            except Exception as exc:  # noqa: BLE001 - reported with the evidence, sampling goes on
                with self.lock:
                    if len(self.data.errors) < 3:
                        self.data.errors.append(f"{type(exc).__name__}: {exc}")

    def snapshot(self) -> Samples:
        with self.lock:
            return Samples(list(self.data.samples), self.data.ticks, list(self.data.errors))

    def stop(self) -> Samples:
        if self._thread is not None and not self._stop.is_set():
            self._stop.set()
            self._thread.join(timeout=5)
            self.sample()
        return self.snapshot()


def redis_used_memory(client) -> int:
    """Redis's ``used_memory`` (bytes), from INFO memory."""
    return int(client.info("memory")["used_memory"])


# -- load that runs until stopped ---------------------------------------------------------------------
class AppQueryLoop:
    """A TickStockApp UI client querying its HTTP API every ``interval_s`` (paced against the monotonic
    clock; back to back when it falls behind) until stopped; counts answers."""

    def __init__(self, app: TickStockAppController, paths: list[str], timeout_s: float,
                 interval_s: float = 0.0) -> None:
        self.app, self.paths, self.timeout_s, self.interval_s = app, paths, timeout_s, interval_s
        self.answered = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AppQueryLoop:
        self._thread = threading.Thread(target=self._loop, name="app-query-loop", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        i = 0
        wake = time.monotonic()
        while not self._stop.is_set():
            wake += self.interval_s
            pause = wake - time.monotonic()
            if pause > 0 and self._stop.wait(pause):
                break
            if pause <= 0:
                wake = time.monotonic()
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                status, _ = self.app.get_json(path, timeout_s=self.timeout_s)
            except (OSError, urllib.error.URLError) as exc:
                self.errors.append(f"GET {path}: {first_line(exc)}")
                continue
            if status == 200:
                self.answered += 1
            else:
                self.errors.append(f"GET {path}: HTTP {status}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def repeat_in_thread(work: Callable[[], object], stop: threading.Event, name: str) -> threading.Thread:
    """Run ``work`` again and again in a daemon thread until ``stop`` is set."""

    def loop() -> None:
        while not stop.is_set():
            work()

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
