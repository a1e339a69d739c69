"""The run's PostgreSQL and Redis: embedded throwaway servers or external ones.

Embedded servers are started from local binaries on free ports, owned by the run, and stopped at
the end (also on failure and Ctrl-C). They also serve fault injection: ``stop`` (clean shutdown),
``kill`` (``kill -9`` of the whole server process group) and ``start``; ``restart`` reports the
time from the restart request to the first successful operation.
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
from pathlib import Path

import port_for
import psutil
from mirakuru import TCPExecutor
from mirakuru.exceptions import ProcessExitedWithError, TimeoutExpired

from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.core.waiting import wait_until
from tickstock_acceptance.infra.db import DbEndpoint, try_select_one
from tickstock_acceptance.infra.redis_client import RedisEndpoint, try_ping

RUN_DIR_PREFIX = "tickstock-run-"
OWNER_FILE = "owner.pid"


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


class EmbeddedPostgres:
    """A throwaway PostgreSQL cluster with password (SCRAM) auth over TCP, owned by the run."""

    owned = True
    kind = "PostgreSQL"

    def __init__(self, run_dir: Path, bin_dir: str = "", start_timeout_s: float = 60) -> None:
        self.bin_dir = find_pg_bin_dir(bin_dir)
        self.user = _server_user()
        self.base = run_dir / "pg"
        self.data = self.base / "data"
        self.port = port_for.select_random()
        self.host = "127.0.0.1"
        self.superuser = "postgres"
        self.superuser_password = secrets.token_urlsafe(18)
        self.start_timeout_s = start_timeout_s
        self.log_path = self.base / "postgres.log"
        self._executor: TCPExecutor | None = None
        self._log = None

    # -- lifecycle ------------------------------------------------------------------------
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

    def start(self) -> EmbeddedPostgres:
        if not self.data.exists():
            self.init()
        self._log = open(self.log_path, "a")
        self._executor = TCPExecutor(
            [str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.base), "-c", f"listen_addresses={self.host}",
             "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
             "-c", "shared_buffers=64MB"],
            host=self.host, port=self.port, timeout=self.start_timeout_s,
            stop_signal=signal.SIGINT, expected_returncode=0,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            popen_kwargs=self._popen_user(), cwd=str(self.base))
        try:
            self._executor.start()
        except (TimeoutExpired, ProcessExitedWithError):
            raise SuiteError("the embedded PostgreSQL did not start",
                             f"see its log at {self.log_path}") from None
        wait_until(lambda: try_select_one(self.admin_endpoint()), self.start_timeout_s,
                   "embedded PostgreSQL accepting queries")
        return self

    def stop(self) -> None:
        """Clean (fast) shutdown."""
        if self._executor is not None:
            try:
                self._executor.stop()
            except ProcessExitedWithError:
                pass
            self._executor = None

    def kill(self) -> None:
        """Crash: SIGKILL the postmaster and all its backends at once."""
        if self._executor is not None:
            self._executor.kill(sig=signal.SIGKILL)
            self._executor = None

    def restart(self) -> float:
        """(Stop if running, then) start again; seconds from the request to the first successful query."""
        t0 = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - t0

    @property
    def running(self) -> bool:
        return self._executor is not None and self._executor.running()

    def pid(self) -> int | None:
        return self._executor.process.pid if self._executor and self._executor.process else None

    def close(self) -> None:
        self.stop()
        if self._log:
            self._log.close()

    # -- endpoints ------------------------------------------------------------------------
    def admin_endpoint(self, dbname: str = "postgres") -> DbEndpoint:
        return DbEndpoint(self.host, self.port, dbname, self.superuser, self.superuser_password)

    def version(self) -> str:
        out = subprocess.run([str(self.bin_dir / "postgres"), "--version"], capture_output=True,
                             text=True).stdout
        found = re.search(r"\(PostgreSQL\) (\S+)", out)
        return found.group(1) if found else "?"


class EmbeddedRedis:
    """A throwaway Redis server on a free port, owned by the run."""

    owned = True
    kind = "Redis"

    def __init__(self, run_dir: Path, durable: bool = False, start_timeout_s: float = 30) -> None:
        self.binary = find_redis_server()
        self.base = run_dir / "redis"
        self.base.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port_for.select_random()
        self.durable = durable
        self.start_timeout_s = start_timeout_s
        self.log_path = self.base / "redis.log"
        self._executor: TCPExecutor | None = None

    def start(self) -> EmbeddedRedis:
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.durable
                       else ["--appendonly", "no"])
        self._executor = TCPExecutor(
            [self.binary, "--port", str(self.port), "--bind", self.host, "--save", "",
             "--dir", str(self.base), "--databases", "16", "--protected-mode", "no",
             "--logfile", str(self.log_path), "--daemonize", "no", *persistence],
            host=self.host, port=self.port, timeout=self.start_timeout_s,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=str(self.base))
        try:
            self._executor.start()
        except (TimeoutExpired, ProcessExitedWithError):
            raise SuiteError("the embedded Redis did not start",
                             f"see its log at {self.log_path}") from None
        wait_until(lambda: try_ping(self.endpoint()), self.start_timeout_s, "embedded Redis PING")
        return self

    def stop(self) -> None:
        if self._executor is not None:
            try:
                self._executor.stop()
            except ProcessExitedWithError:
                pass
            self._executor = None

    def kill(self) -> None:
        if self._executor is not None:
            self._executor.kill(sig=signal.SIGKILL)
            self._executor = None

    def restart(self) -> float:
        """(Stop if running, then) start again; seconds from the request to the first PING."""
        t0 = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - t0

    @property
    def running(self) -> bool:
        return self._executor is not None and self._executor.running()

    def pid(self) -> int | None:
        return self._executor.process.pid if self._executor and self._executor.process else None

    def close(self) -> None:
        self.stop()

    def endpoint(self) -> RedisEndpoint:
        return RedisEndpoint(self.host, self.port)

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True).stdout
        for part in out.split():
            if part.startswith("v="):
                return part[2:]
        return "?"


class ExternalServer:
    """A server the run does not own: connect only; faults cannot be injected into it."""

    owned = False

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def _refuse(self, *_args) -> None:
        raise SuiteError(f"cannot stop, kill or restart the external {self.kind}",
                         "fault scenarios need embedded services (unset TEST_DB_*/TEST_REDIS_*)")

    stop = kill = start = restart = _refuse

    def close(self) -> None:
        """Nothing to do: the run leaves external servers as it found them."""
