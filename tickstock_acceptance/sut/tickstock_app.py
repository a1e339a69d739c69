"""Controller for the system under test's consumer (TickStockApp), reached only through its boundary.

TickStockApp is a long-running web service. The run starts it when a scenario first needs it
(``tickstock_app_for``) and stops it when the run ends (the ``tickstock_app_of_run`` behave
fixture, wired in ``environment.py``; also on failure and Ctrl-C): ``python -m <tickstock_app>
--port <free port> --instance <name>`` (settings ``tickstock_app`` / ``tickstock_app_command``),
with the consumer identity (``app_readwrite``) and the run's Redis in ``TICKSTOCK_APP_*``
variables and an allowlisted environment (never the admin's or the producer's secrets). Its
working directory is the run's directory when the run owns its servers, so the backstop that kills
whatever a run left behind (``RunDir.remove``, the stale-run reaper) finds it like the servers.
With ``tickstock_app_url`` (external mode) the suite judges a deployed TickStockApp by URL and
starts nothing. The suite imports no module of TickStockApp: it talks to it over HTTP and watches
what it does on the database and on Redis.

Besides the controller, what a scenario watches while TickStockApp works:

- ``enable_consumer_audit``: the embedded PostgreSQL logs every modifying statement of the
  consumer role's sessions (``ALTER ROLE ... SET log_statement = 'mod'``; denied statements are
  logged as errors anyway), with user and application name on every line (see
  ``EmbeddedPostgres.LOG_LINE_PREFIX``); ``server_log`` reads that log.
- ``ProcessWatch``: TickStockApp's sockets and child processes (psutil), and every process of the
  machine holding a connection to TickStockApp's port, sampled while a scenario runs.
- ``RedisCommandWatch``: every publishing command Redis receives (``MONITOR``), with the name of
  the client connection that sent it.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import port_for
import psutil
from behave import fixture
from psycopg2 import sql

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config.paths import ROOT
from tickstock_acceptance.contract.messaging import STREAM_DB
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.embedded import EmbeddedPostgres
from tickstock_acceptance.infra.system import AcceptanceSystem
from tickstock_acceptance.sut.process_env import process_environment

ENV_PREFIX = "TICKSTOCK_APP_"
INSTANCE = "acceptance"                   # its Redis client name is tickstock_app.<instance>
CLIENT_NAME_PREFIX = "tickstock_app"
# Deadlines (seconds, before the timeout multiplier): TickStockApp answers /health after start;
# it exits after SIGTERM (then it is killed); one HTTP request.
APP_START_DEADLINE_S = 30.0
APP_STOP_DEADLINE_S = 10.0
HTTP_TIMEOUT_S = 5.0
WATCH_INTERVAL_S = 0.05                   # how often ProcessWatch samples sockets and processes
PUBLISHING_COMMANDS = ("PUBLISH", "SPUBLISH", "XADD", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX")


class TickStockAppController:
    """Starts, asks and stops TickStockApp (or points at a deployed one by URL)."""

    def __init__(self, system: AcceptanceSystem, instance: str = INSTANCE,
                 redis_port: int | None = None, db_port: int | None = None) -> None:
        self.system = system
        self.instance = instance
        # another way to Redis or PostgreSQL (the suite's fault proxy on 127.0.0.1), else the run's servers
        self.redis_port = redis_port
        self.db_port = db_port
        self.deployed_url = system.settings.tickstock_app_url
        self.base_command = system.settings.tickstock_app_argv()
        self.shown = " ".join("python" if a == sys.executable else a for a in self.base_command)
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._output = None  # one anonymous file for its stdout and stderr (nothing left on disk)
        self.started_at = 0.0

    # -- what it is -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.deployed_url or f"http://127.0.0.1:{self.port}"

    @property
    def started_by_run(self) -> bool:
        return not self.deployed_url

    @property
    def client_name(self) -> str:
        return f"{CLIENT_NAME_PREFIX}.{self.instance}"

    @property
    def running(self) -> bool:
        if self.deployed_url:
            return True
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running and self.proc is not None else None

    def process(self) -> psutil.Process:
        assert self.pid is not None, "TickStockApp was not started by this run: its process is not observable"
        return psutil.Process(self.pid)

    def describe(self) -> str:
        if self.deployed_url:
            return f"TickStockApp at {self.deployed_url}"
        state = ("running" if self.running else f"exited {self.proc.returncode}" if self.proc
                 else "not started")
        return f"TickStockApp `{self.shown}` on port {self.port} ({state})"

    # -- lifecycle --------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        env = process_environment(self.system, "consumer", ENV_PREFIX)
        if self.redis_port is not None:
            env[ENV_PREFIX + "REDIS_HOST"], env[ENV_PREFIX + "REDIS_PORT"] = "127.0.0.1", str(self.redis_port)
        if self.db_port is not None:
            env[ENV_PREFIX + "DB_HOST"], env[ENV_PREFIX + "DB_PORT"] = "127.0.0.1", str(self.db_port)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
        return env

    def start(self) -> TickStockAppController:
        """Start TickStockApp (a no-op while it runs) and wait until /health answers."""
        if self.deployed_url:
            wait_until(lambda: self._answers(), M.deadline(APP_START_DEADLINE_S),
                       f"TickStockApp at {self.deployed_url} answering GET /health")
            return self
        if self.running:
            return self
        enable_consumer_audit(self.system)  # before its first session, so every session is audited
        self.close_output()
        self.port = port_for.select_random()
        self._output = tempfile.TemporaryFile(mode="w+b")
        run_dir = self.system.run_dir.path if self.system.run_dir is not None else ROOT
        argv = [*self.base_command, "--port", str(self.port), "--instance", self.instance]
        self.started_at = time.time()
        try:
            self.proc = subprocess.Popen(argv, cwd=run_dir, env=self.environment(), stdin=subprocess.DEVNULL,
                                         stdout=self._output, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        except OSError as exc:
            raise AssertionError(f"TickStockApp `{self.shown}` cannot be started: {exc}") from None
        try:
            wait_until(lambda: self.proc.poll() is not None or self._answers(),
                       M.deadline(APP_START_DEADLINE_S),
                       f"TickStockApp `{self.shown}` answering GET /health on port {self.port}")
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{exc}; its output: {self.output_tail()}") from None
        if self.proc.poll() is not None:
            raise AssertionError(f"TickStockApp `{self.shown}` exited {self.proc.returncode} before "
                                 f"answering GET /health: {self.output_tail()}")
        return self

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a deadline; its exit code (None if it was not started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=M.deadline(APP_STOP_DEADLINE_S))
            except subprocess.TimeoutExpired:
                self._kill_tree()
                self.proc.wait(timeout=M.deadline(APP_STOP_DEADLINE_S))
        return self.proc.returncode

    def _kill_tree(self) -> None:
        try:
            procs = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                p.kill()
            except psutil.Error:
                continue

    def close(self) -> None:
        """Stop it (when the run started it) and release its output; safe to call twice."""
        self.stop()
        self.close_output()

    def close_output(self) -> None:
        if self._output is not None:
            self._output.close()
            self._output = None

    def require_running(self) -> None:
        """Fail with its exit code and last output when it is no longer running."""
        if not self.running:
            raise AssertionError(f"{self.describe()}: {self.output_tail()}")

    # -- what it said -----------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        for role in ("admin", "consumer", "producer"):
            secret = self.system.endpoint(role).password
            if secret:
                text = text.replace(secret, "***")
        key = getattr(self.system.settings, "market_data_key", None)
        return text.replace(key, "***") if key else text

    def output(self) -> str:
        """Everything it wrote on stdout and stderr so far (secrets redacted)."""
        if self._output is None:
            return ""
        self._output.flush()
        self._output.seek(0)
        text = self._output.read().decode("utf-8", "replace")
        self._output.seek(0, os.SEEK_END)
        return self._redact(text)

    def output_tail(self, lines: int = 5) -> str:
        kept = [ln.strip() for ln in self.output().splitlines() if ln.strip()]
        return " | ".join(kept[-lines:]) if kept else "no output"

    # -- HTTP -------------------------------------------------------------------------------
    def get_json(self, path: str, timeout_s: float = HTTP_TIMEOUT_S) -> tuple[int, object]:
        """GET ``path``: (HTTP status, the JSON body, or the text when it is not JSON)."""
        request = urllib.request.Request(self.url + path, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        text = body.decode("utf-8", "replace")
        try:
            return status, json.loads(text)
        except json.JSONDecodeError:
            return status, text

    def _answers(self) -> bool:
        try:
            return self.get_json("/health", timeout_s=1.0)[0] == 200
        except (OSError, urllib.error.URLError):
            return False

    def health(self) -> dict:
        status, body = self.get_json("/health")
        if status != 200 or not isinstance(body, dict):
            raise AssertionError(f"{self.describe()}: GET /health answered {status}: {str(body)[:300]}")
        return body

    def view(self) -> dict:
        """Its view of the universes (GET /api/view): theme → {symbols, symbol_count, ...}."""
        status, body = self.get_json("/api/view")
        if status != 200 or not isinstance(body, dict):
            raise AssertionError(f"{self.describe()}: GET /api/view answered {status}: {str(body)[:300]}")
        inner = body.get("themes", body.get("view", body))
        return inner if isinstance(inner, dict) else {}


def tickstock_app_for(system: AcceptanceSystem) -> TickStockAppController:
    """The run's TickStockApp, started on first use (one per run; stopped by ``tickstock_app_of_run``)."""
    ctl = getattr(system, "_tickstock_app_controller", None)
    if ctl is None:
        ctl = TickStockAppController(system)
        system._tickstock_app_controller = ctl
    return ctl.start()


def stop_tickstock_app(system: AcceptanceSystem) -> None:
    """Stop the run's TickStockApp if one runs (a scenario needs it elsewhere); the next use starts it."""
    ctl = getattr(system, "_tickstock_app_controller", None)
    if ctl is not None:
        ctl.close()
        system._tickstock_app_controller = None


@fixture
def tickstock_app_of_run(context, system: AcceptanceSystem):
    """Stop the run's TickStockApp, if a scenario started one, when the run ends (before its servers)."""
    try:
        yield
    finally:
        ctl = getattr(system, "_tickstock_app_controller", None)
        if ctl is not None:
            ctl.close()
            system._tickstock_app_controller = None


# -- the database server's own record of the consumer role's writes --------------------------------
def audit_available(system: AcceptanceSystem) -> bool:
    """The run owns the PostgreSQL server, so it can read its log (embedded mode)."""
    return isinstance(system.postgres, EmbeddedPostgres)


def enable_consumer_audit(system: AcceptanceSystem) -> bool:
    """Log every modifying statement of the consumer role's sessions (new sessions; idempotent).
    Only on a server the run owns; False when the log is not the run's to read."""
    if not audit_available(system):
        return False
    if getattr(system, "_consumer_audit_enabled", False):
        return True
    role = system.endpoint("consumer").user
    with system.session("admin") as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("ALTER ROLE {} SET log_statement = 'mod'").format(sql.Identifier(role)))
    system._consumer_audit_enabled = True
    return True


def server_log(system: AcceptanceSystem) -> str:
    """The embedded PostgreSQL's log, as written so far."""
    assert audit_available(system), "the database server's log is readable only when the run owns the server"
    return system.postgres.log_path.read_text(errors="replace")


# -- TickStockApp's sockets and processes ---------------------------------------------------------
@dataclass(frozen=True)
class Socket:
    kind: str            # tcp, udp, ...
    local: str           # host:port
    remote: str          # host:port, "" when not connected
    status: str
    pid: int

    @property
    def remote_port(self) -> int | None:
        return int(self.remote.rsplit(":", 1)[1]) if self.remote else None

    @property
    def local_port(self) -> int:
        return int(self.local.rsplit(":", 1)[1])


@dataclass
class ProcessObservations:
    app_pid: int
    app_port: int
    samples: int = 0
    sockets: set[Socket] = field(default_factory=set)            # of TickStockApp and its children
    children: dict[int, str] = field(default_factory=dict)         # pid → command line
    children_before: dict[int, str] = field(default_factory=dict)
    clients: dict[int, str] = field(default_factory=dict)          # other processes connected to its port
    errors: list[str] = field(default_factory=list)


def _addr(a) -> str:
    return f"{a.ip}:{a.port}" if a else ""


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline()) or proc.name()
    except psutil.Error:
        return "?"


def _command_of(pid: int) -> str:
    try:
        return _cmdline(psutil.Process(pid))
    except psutil.Error:
        return "a process that has ended"


class ProcessWatch:
    """Samples, until stopped: TickStockApp's sockets and child processes, and which processes of the
    machine hold a connection to its port (the suite's own process excluded)."""

    def __init__(self, app: TickStockAppController) -> None:
        assert app.pid is not None and app.port is not None, "TickStockApp is not a process of this run"
        self.app = app
        self.seen = ProcessObservations(app.pid, app.port)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def of_process(cls, pid: int) -> ProcessWatch:
        """A watch of any process the run started (its sockets and children; it serves no port)."""
        watch = cls.__new__(cls)
        watch.app = None
        watch.seen = ProcessObservations(pid, -1)
        watch._stop = threading.Event()
        watch._thread = None
        return watch

    def start(self) -> ProcessWatch:
        self.seen.children_before = self._children()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="tickstock-app-watch", daemon=True)
        self._thread.start()
        return self

    def _children(self) -> dict[int, str]:
        try:
            return {c.pid: _cmdline(c) for c in psutil.Process(self.seen.app_pid).children(recursive=True)}
        except psutil.Error:
            return {}

    def _sample(self) -> None:
        seen = self.seen
        children = self._children()
        seen.children.update(children)
        for pid in (seen.app_pid, *children):
            try:
                for c in psutil.Process(pid).net_connections("inet"):
                    seen.sockets.add(Socket("tcp" if c.type == socket.SOCK_STREAM else "udp",
                                            _addr(c.laddr), _addr(c.raddr), c.status, pid))
            except psutil.Error:
                continue
        mine = {os.getpid(), seen.app_pid, *children}
        try:
            for c in psutil.net_connections("tcp"):
                # A socket without a process is a closed connection's end (TIME_WAIT), the suite's
                # own HTTP requests among them: only a process holding a connection counts.
                if c.raddr and c.raddr.port == seen.app_port and c.pid is not None and c.pid not in mine:
                    seen.clients.setdefault(c.pid, _command_of(c.pid))
        except (psutil.Error, OSError) as exc:
            if len(seen.errors) < 3:
                seen.errors.append(f"{type(exc).__name__}: {exc}")
        seen.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_S):
            self._sample()

    def stop(self) -> ProcessObservations:
        if self._thread is not None and not self._stop.is_set():
            self._stop.set()
            self._thread.join(timeout=5)
            self._sample()
        return self.seen


# -- who publishes on Redis -------------------------------------------------------------------------
@dataclass(frozen=True)
class RedisCommand:
    at: float           # Redis's timestamp (epoch seconds)
    db: int
    client: str         # host:port of the sending connection
    args: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.args[0].upper() if self.args else ""


_MONITOR_LINE = re.compile(r'^\+?(?P<at>[0-9.]+) \[(?P<db>\d+) (?P<client>[^\]]+)\] (?P<args>.*)$')
_MONITOR_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')


def parse_monitor_line(line: str) -> RedisCommand | None:
    """One line of Redis's MONITOR output (``1700000000.1 [14 127.0.0.1:5555] "PUBLISH" "ch" "x"``)."""
    m = _MONITOR_LINE.match(line.strip())
    if not m:
        return None
    args = tuple(codecs.escape_decode(a.encode("latin-1", "backslashreplace"))[0].decode("utf-8", "replace")
                 for a in _MONITOR_ARG.findall(m["args"]))
    return RedisCommand(float(m["at"]), int(m["db"]), m["client"], args)


class RedisCommandWatch:
    """Every publishing command the run's Redis receives (``MONITOR``, on a connection of its own),
    and the client name of each connection that sent one (``CLIENT SETNAME`` as seen, and
    ``CLIENT LIST`` whenever an unnamed connection publishes, and when the watch stops)."""

    def __init__(self, system: AcceptanceSystem) -> None:
        self.system = system
        self.commands: list[RedisCommand] = []
        self.names: dict[str, str] = {}          # client host:port → client name
        self.lines = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        endpoint = system.redis_endpoint
        self.sock = socket.create_connection((endpoint.host, endpoint.port), timeout=M.deadline(5))

    def start(self) -> RedisCommandWatch:
        self._refresh_names()
        self.sock.sendall(b"MONITOR\r\n")
        buffer = b""
        while b"\r\n" not in buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError("Redis closed the MONITOR connection (is MONITOR allowed?)")
            buffer += chunk
        first, _, rest = buffer.partition(b"\r\n")
        if not first.startswith(b"+OK"):
            raise AssertionError(f"Redis refused MONITOR: {first.decode(errors='replace')}")
        self.sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._loop, args=(rest,), name="redis-monitor", daemon=True)
        self._thread.start()
        return self

    def _loop(self, buffer: bytes) -> None:
        while not self._stop.is_set():
            while b"\r\n" in buffer:
                line, _, buffer = buffer.partition(b"\r\n")
                self._take(line.decode("utf-8", "replace"))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            buffer += chunk

    def _take(self, line: str) -> None:
        command = parse_monitor_line(line)
        self.lines += 1
        if command is None:
            return
        if command.name == "CLIENT" and len(command.args) >= 3 and command.args[1].upper() == "SETNAME":
            with self._lock:
                self.names[command.client] = command.args[2]
        elif command.name == "HELLO" and "SETNAME" in (a.upper() for a in command.args):
            args = [a.upper() for a in command.args]
            with self._lock:
                self.names[command.client] = command.args[args.index("SETNAME") + 1]
        elif command.name in PUBLISHING_COMMANDS:
            with self._lock:
                self.commands.append(command)
                known = command.client in self.names
            if not known:
                self._refresh_names()

    def _refresh_names(self) -> None:
        admin = self.system.redis_client(STREAM_DB)
        try:
            for c in admin.client_list():
                if c.get("name"):
                    with self._lock:
                        self.names.setdefault(c["addr"], c["name"])
        except Exception:  # noqa: BLE001 - naming is best effort; unnamed clients stay unnamed
            pass
        finally:
            admin.close()

    def snapshot(self) -> tuple[list[RedisCommand], dict[str, str]]:
        with self._lock:
            return list(self.commands), dict(self.names)

    def stop(self) -> tuple[list[RedisCommand], dict[str, str]]:
        if not self._stop.is_set():
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self.sock.close()
            self._refresh_names()
        return self.snapshot()
