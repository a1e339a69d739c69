"""Loose coupling, the spec's first principle: TickStockApp and TickStockPL meet only through
PostgreSQL and Redis.

Judged by the operating system (psutil), sampled while the scenario runs: every socket of
TickStockApp (and of any process it started) is connected to the database's or Redis's port, or is
its own listening port (and the connections accepted on it); and no process but the suite holds a
connection to TickStockApp's port (the producer never talks to TickStockApp directly).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tickstock_acceptance.sut.tickstock_app import Socket


def socket_problems(sockets: Iterable[Socket], own_port: int, servers: Mapping[int, str]) -> list[str]:
    """Sockets of TickStockApp that go anywhere but ``servers`` (port → what it is) or its own port."""
    problems = set()
    for s in sockets:
        if s.local_port == own_port:
            continue  # its listening socket and the connections accepted on it
        if not s.remote:
            problems.add(f"{s.kind} socket {s.local} ({s.status or 'unconnected'}) "
                         f"that is not its own port {own_port}")
        elif s.remote_port not in servers:
            problems.add(f"{s.kind} {s.local} → {s.remote} ({s.status}): neither "
                         f"{' nor '.join(f'{what} ({port})' for port, what in sorted(servers.items()))}")
    return sorted(problems)


def redis_addresses(sockets: Iterable[Socket], redis_port: int) -> set[str]:
    """TickStockApp's ends of its Redis connections, as Redis names its clients (host:port)."""
    return {s.local for s in sockets if s.remote_port == redis_port}


def foreign_client_problems(clients: Mapping[int, str]) -> list[str]:
    """Processes other than the suite that connected to TickStockApp's port."""
    return [f"pid {pid} ({cmd}) connected to TickStockApp" for pid, cmd in sorted(clients.items())]
