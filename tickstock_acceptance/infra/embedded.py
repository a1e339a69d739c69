"""The run's PostgreSQL and Redis: embedded throwaway servers or external ones.

Embedded servers are started from local binaries on free ports, owned by the run, and stopped at
the end (also on failure and Ctrl-C). ``EmbeddedServer`` holds what both kinds share, written
once: the lifecycle and the fault operations later slices inject through ``faults``: ``stop``
(clean shutdown), ``kill`` (``kill -9`` of every process of the server), ``restart``,
``pause``/``resume`` (SIGSTOP/SIGCONT of every process of the server: it freezes, its connections
stay open). ``restart`` and ``resume`` report the seconds from the request to the
first successful operation (a query for PostgreSQL, a PING for Redis). ``ExternalServer`` stands
for a server the run does not own and refuses every fault in one line.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Self

import port_for
import psutil
from mirakuru import TCPExecutor
from mirakuru.exceptions import AlreadyRunning, ProcessExitedWithError, TimeoutExpired

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.db import DbEndpoint, try_select_one
from tickstock_acceptance.infra.redis_client import RedisEndpoint, try_ping

RUN_DIR_PREFIX = "tickstock-run-"
OWNER_FILE = "owner.pid"
SIGNAL_SETTLE_S = 10.0  # every process of a group has stopped (SIGSTOP) or gone (SIGKILL)


def find_pg_bin_dir(configured: str = "") -> Path:
    """The directory holding initdb and postgres, or SuiteError naming the fix."""
    candidates = [configured] if configured else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for cand in candidates:
        if cand and (Path(cand) / "initdb").exists() and (Path(cand) / "postgres").exists():
            return Path(cand)
    raise SuiteError("PostgreSQL server binaries (initdb, postgres) not found for embedded mode",
                     "install the Debian package postgresql, set -D pg_bin_dir=/path/to/bin, "
                     "or use external mode (TEST_DB_HOST=...)")


def find_redis_server() -> str:
    path = shutil.which("redis-server")
    if not path:
        raise SuiteError("redis-server not found on PATH for embedded mode",
                         "install the Debian package redis-server, or use external mode "
                         "(TEST_REDIS_HOST=...)")
    return path


def _server_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise SuiteError("running as root but there is no 'postgres' OS user to run PostgreSQL",
                         "create it (adduser --system postgres) or run as a normal user") from None


def kill_processes_in(run_dir: str) -> list[int]:
    """SIGKILL every process whose working directory or command line lies in ``run_dir``."""
    killed: list[int] = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        parts = [*(proc.info["cmdline"] or []), proc.info["cwd"] or ""]
        if proc.pid != os.getpid() and any(run_dir in part for part in parts):
            try:
                proc.kill()
                killed.append(proc.pid)
            except psutil.Error:
                pass
    psutil.wait_procs([psutil.Process(p) for p in killed if psutil.pid_exists(p)], timeout=5)
    return killed


def reap_stale_runs(tmp_root: str | None = None) -> list[int]:
    """Kill servers left by earlier runs that died without cleaning up (e.g. SIGKILL)."""
    killed: list[int] = []
    for run_dir in glob.glob(os.path.join(tmp_root or tempfile.gettempdir(), RUN_DIR_PREFIX + "*")):
        owner = Path(run_dir) / OWNER_FILE
        try:
            pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            continue
        if psutil.pid_exists(pid):
            continue
        killed += kill_processes_in(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
    return killed


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def group_members(pgids: int | set[int]) -> list[psutil.Process]:
    """The live processes (zombies excluded) of the process group(s) ``pgids``."""
    wanted = {pgids} if isinstance(pgids, int) else set(pgids)
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) in wanted and _alive(proc):
                members.append(proc)
        except (OSError, psutil.Error):
            continue  # gone meanwhile
    return members


def server_processes(pid: int, pgids: set[int] | None = None) -> list[psutil.Process]:
    """Server ``pid``, its descendants and every process in their process groups (no zombies).

    PostgreSQL's children each call setsid() (InitPostmasterChild), so the postmaster's own
    process group holds the postmaster alone: the server is its process tree, and the groups in
    it catch what a child forked (e.g. an archive or COPY PROGRAM shell). ``pgids`` collects the
    groups seen, so a later call still finds processes orphaned by a dead parent.
    """
    pgids = set() if pgids is None else pgids
    found: dict[int, psutil.Process] = {}
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            found[proc.pid] = proc
    except psutil.Error:
        pass  # the server is gone: its groups may still hold orphans
    for proc in list(found.values()):
        try:
            pgids.add(os.getpgid(proc.pid))
        except OSError:
            continue
    pgids.discard(os.getpgid(0))  # never the suite's own group (mirakuru starts a new session)
    for proc in group_members(pgids):
        found.setdefault(proc.pid, proc)
    return [proc for proc in found.values() if _alive(proc)]


def _send(procs: list[psutil.Process], sig: int) -> None:
    for proc in procs:
        try:
            proc.send_signal(sig)  # psutil refuses a pid that was reused meanwhile
        except psutil.Error:
            continue


def _stopped(proc: psutil.Process) -> bool:
    try:
        return proc.status() in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return True


class RunDir:
    """A private directory for one run's servers, marked with the owning PID for the reaper."""

    def __init__(self) -> None:
        reap_stale_runs()
        self.path = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
        self.path.chmod(0o755)
        (self.path / OWNER_FILE).write_text(str(os.getpid()))

    def remove(self) -> None:
        """Backstop for interrupted starts: no process of this run outlives its directory."""
        kill_processes_in(str(self.path))
        shutil.rmtree(self.path, ignore_errors=True)


class SessionTCPExecutor(TCPExecutor):
    """mirakuru's TCPExecutor, its server started in a new session by ``start_new_session`` instead of
    ``preexec_fn=os.setsid``: with a ``preexec_fn`` the forked child runs Python's after-fork hooks, and a
    Ctrl-C arriving in that instant prints an "Exception ignored ... Traceback" from the child into
    the run's output (seen when Ctrl-C came while Redis was being started)."""

    @property
    def _popen_kwargs(self) -> dict:
        kwargs = dict(super()._popen_kwargs)
        kwargs.pop("preexec_fn", None)
        kwargs["start_new_session"] = True
        return kwargs


class EmbeddedServer(ABC):
    """A throwaway server on a free port, owned by the run: lifecycle and fault operations.

    mirakuru starts the server in a new session (its process group id is its pid). ``kill``,
    ``pause`` and ``resume`` signal every process of the server: its process tree and the process
    groups in it (``server_processes``): PostgreSQL's backends are children of the postmaster but
    each leads a session of its own, so signalling the postmaster's group alone would miss them.
    A subclass says how to build the executor (``_new_executor``) and what one successful
    operation is (``answers``).
    """

    owned = True
    kind = "server"
    first_operation = "operation"

    def __init__(self, base: Path, log_path: Path, start_timeout_s: float | None) -> None:
        self.base = base
        self.log_path = log_path
        self.host = "127.0.0.1"
        self.port = port_for.select_random()
        # Start, restart and resume wait this long for the first success (scaled by the timeout multiplier).
        self.start_timeout_s = start_timeout_s or M.deadline(M.SERVER_START_DEADLINE_S)
        self._executor: TCPExecutor | None = None
        self._paused = False
        self._log: IO[str] | None = None

    # -- what a subclass says -------------------------------------------------------------
    @abstractmethod
    def _new_executor(self) -> TCPExecutor:
        """The mirakuru executor that starts the server (called on every start)."""

    @abstractmethod
    def answers(self) -> bool:
        """True when a fresh client gets one successful operation through (a liveness probe)."""

    @abstractmethod
    def version(self) -> str:
        """The server's version, as its binary reports it."""

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Self:
        """Start (a no-op when running) and wait for the first successful operation."""
        if self.running:
            return self
        self._executor = self._new_executor()
        try:
            self._executor.start()
        except AlreadyRunning:
            self._executor = None
            raise SuiteError(f"port {self.port} of the embedded {self.kind} is taken by another process",
                             "run again (free ports are picked at random)") from None
        except (TimeoutExpired, ProcessExitedWithError):
            self._executor = None
            raise SuiteError(f"the embedded {self.kind} did not start",
                             f"see its log at {self.log_path}") from None
        self._paused = False
        self._wait_answering("after start")
        return self

    def stop(self) -> None:
        """Clean shutdown (a paused server is resumed first so it can honour the request)."""
        if self._executor is None:
            return
        if self._paused:
            self._thaw()
        try:
            self._executor.stop()
        except ProcessExitedWithError:
            pass
        self._forget()

    def kill(self) -> None:
        """Crash: SIGKILL every process of the server at once; returns when none of them is left."""
        if self._executor is None:
            return
        pid = self.pid()
        pgids: set[int] = set()
        victims: list[psutil.Process] = []
        if pid is not None:
            _send(server_processes(pid, pgids), signal.SIGSTOP)  # freeze first: nobody forks or exits
            victims = server_processes(pid, pgids)
            _send(victims, signal.SIGKILL)
        self._executor.kill(sig=signal.SIGKILL)  # reaps the server; kills what mirakuru marked
        self._forget()

        def none_left() -> bool:
            left = [p for p in victims if _alive(p)] + group_members(pgids)
            _send(left, signal.SIGKILL)
            return not left

        wait_until(none_left, SIGNAL_SETTLE_S, f"every process of the killed {self.kind} gone")

    def stop_immediate(self) -> None:
        """The server's crash-like shutdown; a server without a gentler one than a crash is killed."""
        self.kill()

    def restart(self) -> float:
        """(Stop if running, then) start again; seconds from the request to the first success."""
        t0 = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - t0

    def pause(self) -> None:
        """Freeze the server: SIGSTOP all its processes (connections stay open, unanswered)."""
        pid = self._require_running("pause")
        if self._paused:
            return
        self._paused = True
        _send([psutil.Process(pid)], signal.SIGSTOP)  # the postmaster first: it forks no more

        def frozen() -> bool:
            running = [p for p in server_processes(pid) if not _stopped(p)]
            _send(running, signal.SIGSTOP)
            return not running

        wait_until(frozen, SIGNAL_SETTLE_S, f"every process of the paused {self.kind} stopped")

    def resume(self) -> float:
        """SIGCONT all the server's processes; seconds from the request to the first success."""
        self._require_running("resume")
        t0 = time.monotonic()
        self._thaw()
        self._wait_answering("after resume")
        return time.monotonic() - t0

    def processes(self) -> list[psutil.Process]:
        """Every live process of the server (see ``server_processes``); empty when not running."""
        pid = self.pid()
        return server_processes(pid) if pid is not None and self.running else []

    @property
    def running(self) -> bool:
        """The server process exists (it may be paused)."""
        return self._executor is not None and self._executor.running()

    @property
    def paused(self) -> bool:
        return self.running and self._paused

    def pid(self) -> int | None:
        return self._executor.process.pid if self._executor and self._executor.process else None

    def close(self) -> None:
        """Stop the server and release its log; safe to call twice."""
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- helpers --------------------------------------------------------------------------
    def _forget(self) -> None:
        self._executor = None
        self._paused = False

    def _require_running(self, verb: str) -> int:
        pid = self.pid()
        if not self.running or pid is None:
            raise SuiteError(f"cannot {verb} the embedded {self.kind}: it is not running",
                             f"restart it before you {verb} it")
        return pid

    def _thaw(self) -> None:
        pid = self.pid()
        if pid is not None:
            procs = server_processes(pid)
            _send([p for p in procs if p.pid != pid], signal.SIGCONT)
            _send([p for p in procs if p.pid == pid], signal.SIGCONT)  # the postmaster last
        self._paused = False

    def _wait_answering(self, when: str) -> None:
        wait_until(self.answers, self.start_timeout_s,
                   f"embedded {self.kind} answering a {self.first_operation} {when}")

    def _open_log(self) -> IO[str]:
        if self._log is None or self._log.closed:
            self._log = open(self.log_path, "a")  # kept open for the server's life (restarts append)
        return self._log


class EmbeddedPostgres(EmbeddedServer):
    """A throwaway PostgreSQL cluster with password (SCRAM) auth over TCP, owned by the run.

    As root it runs as the ``postgres`` OS user (PostgreSQL refuses to run as root).

    Its log (``log_path``) is evidence, not only for people: every line of a session carries the
    session's process, user and application name (``LOG_LINE_PREFIX``: ``<time> [<pid>]
    <user|application>``), so the service-boundary checks can tell who wrote and who was denied
    (errors are logged with their statement, ``log_min_error_statement`` = error by default).
    Which statements are logged is set per role, where a role needs it
    (``ALTER ROLE ... SET log_statement = 'mod'`` for TickStockApp's role): never server-wide, where
    the run's own ``ALTER ROLE ... PASSWORD`` would put a password into the log.
    """

    LOG_LINE_PREFIX = "%m [%p] %q<%u|%a> "

    kind = "PostgreSQL"
    first_operation = "query"

    def __init__(self, run_dir: Path, bin_dir: str = "", start_timeout_s: float | None = None) -> None:
        base = run_dir / "pg"
        super().__init__(base, base / "postgres.log", start_timeout_s)
        self.bin_dir = find_pg_bin_dir(bin_dir)
        self.user = _server_user()
        self.data = self.base / "data"
        self.superuser = "postgres"
        self.superuser_password = secrets.token_urlsafe(18)

    def _popen_user(self) -> dict:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _chown(self, path: Path) -> None:
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def init(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self._chown(self.base)
        pwfile = self.base / "pw"
        pwfile.write_text(self.superuser_password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            result = subprocess.run(
                [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", self.superuser,
                 f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
                 "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
                capture_output=True, text=True, cwd=self.base, **self._popen_user())
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
            raise SuiteError(f"initdb failed for the embedded PostgreSQL: {tail[0]}",
                             "check the PostgreSQL installation and free disk space")

    def _new_executor(self) -> TCPExecutor:
        if not self.data.exists():
            self.init()
        log = self._open_log()
        return SessionTCPExecutor(
            [str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.base), "-c", f"listen_addresses={self.host}",
             "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
             "-c", "shared_buffers=64MB", "-c", f"log_line_prefix={self.LOG_LINE_PREFIX}"],
            host=self.host, port=self.port, timeout=self.start_timeout_s,
            stop_signal=signal.SIGINT, expected_returncode=0,  # SIGINT: fast shutdown
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            popen_kwargs=self._popen_user(), cwd=str(self.base))

    def answers(self) -> bool:
        return try_select_one(self.admin_endpoint())

    def stop_immediate(self) -> None:
        """``pg_ctl stop -m immediate``: the postmaster makes every server process quit at once, with
        no checkpoint, so the next start runs crash recovery from the WAL (what a crash leaves)."""
        if self._executor is None:
            return
        if self._paused:
            self._thaw()
        result = subprocess.run([str(self.bin_dir / "pg_ctl"), "stop", "-m", "immediate", "-w",
                                 "-t", f"{SIGNAL_SETTLE_S:g}", "-D", str(self.data)],
                                capture_output=True, text=True, cwd=self.base, **self._popen_user())
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
            self.kill()  # the run must not keep a half-stopped server
            raise SuiteError(f"pg_ctl stop -m immediate failed for the embedded PostgreSQL: {tail[0]}",
                             f"see its log at {self.log_path}")
        self._executor.kill()  # reaps the postmaster (already gone) and forgets it
        self._forget()

    # -- endpoints ------------------------------------------------------------------------
    def admin_endpoint(self, dbname: str = "postgres") -> DbEndpoint:
        return DbEndpoint(self.host, self.port, dbname, self.superuser, self.superuser_password)

    def version(self) -> str:
        out = subprocess.run([str(self.bin_dir / "postgres"), "--version"], capture_output=True,
                             text=True).stdout
        found = re.search(r"\(PostgreSQL\) (\S+)", out)
        return found.group(1) if found else "?"


class EmbeddedRedis(EmbeddedServer):
    """A throwaway Redis server on a free port, owned by the run (``durable``: AOF, fsync always)."""

    kind = "Redis"
    first_operation = "PING"

    def __init__(self, run_dir: Path, durable: bool = False, start_timeout_s: float | None = None) -> None:
        base = run_dir / "redis"
        super().__init__(base, base / "redis.log", start_timeout_s)
        self.binary = find_redis_server()
        self.base.mkdir(parents=True, exist_ok=True)
        self.durable = durable

    def _new_executor(self) -> TCPExecutor:
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.durable
                       else ["--appendonly", "no"])
        return SessionTCPExecutor(
            [self.binary, "--port", str(self.port), "--bind", self.host, "--save", "",
             "--dir", str(self.base), "--databases", "16", "--protected-mode", "no",
             "--logfile", str(self.log_path), "--daemonize", "no", *persistence],
            host=self.host, port=self.port, timeout=self.start_timeout_s,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=str(self.base))

    def answers(self) -> bool:
        return try_ping(self.endpoint())

    def endpoint(self) -> RedisEndpoint:
        return RedisEndpoint(self.host, self.port)

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True).stdout
        for part in out.split():
            if part.startswith("v="):
                return part[2:]
        return "?"


class EmbeddedRedisClusterNode(EmbeddedRedis):
    """One node of ``EmbeddedRedisCluster``: cluster mode on, its bus on a port of its own (the
    default, port + 10000, can exceed 65535 for a random port)."""

    kind = "Redis cluster node"

    def __init__(self, base: Path, start_timeout_s: float | None = None) -> None:
        EmbeddedServer.__init__(self, base, base / "redis.log", start_timeout_s)
        self.binary = find_redis_server()
        self.base.mkdir(parents=True, exist_ok=True)
        self.durable = False
        self.bus_port = port_for.select_random(exclude_ports=[self.port])

    def _new_executor(self) -> TCPExecutor:
        return SessionTCPExecutor(
            [self.binary, "--port", str(self.port), "--bind", self.host, "--save", "", "--appendonly", "no",
             "--dir", str(self.base), "--protected-mode", "no", "--logfile", str(self.log_path),
             "--daemonize", "no", "--cluster-enabled", "yes", "--cluster-port", str(self.bus_port),
             "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"],
            host=self.host, port=self.port, timeout=self.start_timeout_s,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=str(self.base))


class EmbeddedRedisCluster:
    """A throwaway Redis Cluster of ``size`` primaries (no replicas) owned by the caller: the nodes
    meet each other (CLUSTER MEET) and share the 16,384 slots in even ranges (CLUSTER ADDSLOTSRANGE);
    ``start`` returns once every node reports ``cluster_state:ok``. For the project's tests of the
    Redis message flows against a cluster (redis-py's ``RedisCluster`` starts from ``startup_nodes``)."""

    SLOTS = 16384

    def __init__(self, run_dir: Path, size: int = 3, start_timeout_s: float | None = None) -> None:
        self.nodes = [EmbeddedRedisClusterNode(run_dir / "redis-cluster" / f"node-{i}", start_timeout_s)
                      for i in range(size)]

    def start(self) -> EmbeddedRedisCluster:
        import redis

        try:
            for node in self.nodes:
                node.start()
            clients = [redis.Redis(host=n.host, port=n.port, socket_timeout=5) for n in self.nodes]
            share = self.SLOTS // len(self.nodes)
            for i, client in enumerate(clients):
                last = self.SLOTS - 1 if i == len(clients) - 1 else (i + 1) * share - 1
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, last)
            for node in self.nodes[1:]:
                clients[0].execute_command("CLUSTER", "MEET", node.host, node.port, node.bus_port)

            def every_node_ok() -> bool:
                return all(c.execute_command("CLUSTER", "INFO").decode().startswith("cluster_state:ok")
                           for c in clients)

            wait_until(every_node_ok, M.deadline(M.SERVER_START_DEADLINE_S), "the Redis cluster's state ok")
            for client in clients:
                client.close()
        except BaseException:
            self.close()
            raise
        return self

    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(n.host, n.port) for n in self.nodes]

    def close(self) -> None:
        for node in self.nodes:
            node.close()


def refuse_external(kind: str, verb: str) -> SuiteError:
    """The one-line refusal of a fault on a server the run does not own."""
    return SuiteError(f"cannot {verb} the external {kind}: the run does not own it",
                      "fault scenarios need embedded services (unset TEST_DB_*/TEST_REDIS_*)")


def _refusing(verb: str):
    def refuse(self: ExternalServer, *_args) -> None:
        raise refuse_external(self.kind, verb)

    refuse.__name__ = verb
    refuse.__doc__ = f"Refused: the run does not {verb} servers it does not own."
    return refuse


class ExternalServer:
    """A server the run does not own: connect only; faults cannot be injected into it."""

    owned = False

    def __init__(self, kind: str) -> None:
        self.kind = kind

    start = _refusing("start")
    stop = _refusing("stop")
    kill = _refusing("kill")
    stop_immediate = _refusing("stop_immediate")
    restart = _refusing("restart")
    pause = _refusing("pause")
    resume = _refusing("resume")

    def close(self) -> None:
        """Nothing to do: the run leaves external servers as it found them."""
