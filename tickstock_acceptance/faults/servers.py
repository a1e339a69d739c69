"""Controller over the run's named servers: generic fault verbs, patroni style.

``ServerFaults(system).apply("pause", "postgres")`` freezes the run's PostgreSQL;
``apply("resume", "postgres")`` thaws it and reports the seconds to the first successful query.
Verbs: ``stop`` (clean shutdown), ``stop_immediate`` (PostgreSQL's ``pg_ctl stop -m immediate``: no
checkpoint, crash recovery at the next start; for Redis a kill), ``kill`` (``kill -9`` of the whole
server process group),
``restart`` (stop if running, then start), ``pause`` (SIGSTOP of the process group), ``resume``
(SIGCONT). ``restart`` and ``resume`` return the seconds from the request to the first successful
operation (a query, a PING); the others return None. The servers are read from the system at each
call, so the controller follows the system's open and close. An unknown server or verb, a system
that is not open, and a server the run does not own (external mode) are refused in one line.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.infra.embedded import EmbeddedServer, ExternalServer, refuse_external

if TYPE_CHECKING:
    from tickstock_acceptance.infra.system import AcceptanceSystem

SERVER_NAMES = ("postgres", "redis")
VERBS = ("stop", "stop_immediate", "kill", "restart", "pause", "resume")
TIMED_VERBS = ("restart", "resume")  # these report seconds to the first successful operation


class HasServers(Protocol):
    """What the controller needs of a system (``AcceptanceSystem`` or a test's stand-in)."""

    postgres: EmbeddedServer | ExternalServer | None
    redis: EmbeddedServer | ExternalServer | None


@dataclass(frozen=True)
class FaultRecord:
    """One fault applied: when (monotonic clock), what, to which server, and the recovery time."""

    at: float
    verb: str
    server: str
    seconds: float | None = None


class ServerFaults:
    """Generic fault verbs over the run's servers by name (``postgres``, ``redis``)."""

    def __init__(self, system: AcceptanceSystem | HasServers) -> None:
        self.system = system
        self.history: list[FaultRecord] = []

    @property
    def names(self) -> tuple[str, ...]:
        return SERVER_NAMES

    def server(self, name: str, verb: str = "inject a fault into") -> EmbeddedServer:
        """The named server if the run owns it; SuiteError (one line) otherwise."""
        if name not in SERVER_NAMES:
            raise SuiteError(f"unknown server {name!r}", f"name one of: {', '.join(SERVER_NAMES)}")
        server = getattr(self.system, name, None)
        if server is None:
            raise SuiteError(f"no {name} server to {verb}: the system is not open",
                             "open the AcceptanceSystem before injecting faults")
        if not getattr(server, "owned", False):
            raise refuse_external(getattr(server, "kind", name), verb)
        return server

    def apply(self, verb: str, name: str) -> float | None:
        """Apply ``verb`` to server ``name``; seconds to the first success for restart/resume."""
        if verb not in VERBS:
            raise SuiteError(f"unknown fault {verb!r}", f"use one of: {', '.join(VERBS)}")
        server = self.server(name, verb)
        at = time.monotonic()
        result = getattr(server, verb)()
        seconds = float(result) if verb in TIMED_VERBS else None
        self.history.append(FaultRecord(at, verb, name, seconds))
        return seconds

    def stop(self, name: str) -> None:
        """Clean shutdown of the named server."""
        self.apply("stop", name)

    def stop_immediate(self, name: str) -> None:
        """The crash-like shutdown: ``pg_ctl stop -m immediate`` for PostgreSQL, a kill for Redis."""
        self.apply("stop_immediate", name)

    def kill(self, name: str) -> None:
        """``kill -9`` of the named server's whole process group; returns when none of it is left."""
        self.apply("kill", name)

    def restart(self, name: str) -> float:
        """(Stop if running, then) start; seconds to the first successful operation."""
        seconds = self.apply("restart", name)
        assert seconds is not None
        return seconds

    def pause(self, name: str) -> None:
        """SIGSTOP the named server's process group: it keeps its connections but answers nothing."""
        self.apply("pause", name)

    def resume(self, name: str) -> float:
        """SIGCONT the named server's process group; seconds to the first successful operation."""
        seconds = self.apply("resume", name)
        assert seconds is not None
        return seconds

    @contextmanager
    def paused(self, name: str) -> Iterator[EmbeddedServer]:
        """``with faults.paused("redis"):`` — frozen inside the block, resumed on the way out."""
        self.pause(name)
        try:
            yield self.server(name)
        finally:
            server = getattr(self.system, name, None)
            if server is not None and server.owned and server.running:
                self.resume(name)
