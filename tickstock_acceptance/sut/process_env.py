"""The environment a system-under-test process (the producer's commands, TickStockApp) starts with.

Least privilege: the identity it runs as (``<PREFIX>DB_*``) and the run's Redis (flows database) in
its own variables, plus what a process needs to run (an allowlist) — never the suite's other
secrets (other identities' passwords, API keys, PG* variables).
"""

from __future__ import annotations

import os

from tickstock_acceptance.contract.messaging import STREAM_DB, namespace
from tickstock_acceptance.infra.system import AcceptanceSystem

PASSED_ENV = ("PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR", "VIRTUAL_ENV", "SYSTEMROOT")


def process_environment(system: AcceptanceSystem, role: str, prefix: str) -> dict[str, str]:
    """``role``'s database identity and the run's Redis as ``prefix`` variables, plus the allowlist."""
    db = system.endpoint(role)
    rd = system.redis_endpoint
    env = {k: v for k, v in os.environ.items() if k in PASSED_ENV or k.startswith(("LC_", "PYTHON"))}
    env.update({
        prefix + "DB_HOST": db.host, prefix + "DB_PORT": str(db.port),
        prefix + "DB_NAME": db.dbname, prefix + "DB_USER": db.user,
        prefix + "REDIS_HOST": rd.host, prefix + "REDIS_PORT": str(rd.port),
        prefix + "REDIS_DB": str(STREAM_DB),
    })
    # The reference components' settings for a Redis Cluster and for the run's channel namespace.
    if system.settings.redis_cluster:
        env[prefix + "REDIS_CLUSTER"] = "1"
    if namespace():
        env[prefix + "CHANNEL_PREFIX"] = namespace()
    if db.password:
        env[prefix + "DB_PASSWORD"] = db.password
    return env
