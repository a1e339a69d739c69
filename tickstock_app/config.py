"""The app's configuration: ``TICKSTOCK_APP_*`` environment variables (never the command line).

``DB_HOST``, ``DB_PORT``, ``DB_NAME``, ``DB_USER``, ``DB_PASSWORD``, ``REDIS_HOST``,
``REDIS_PORT``, ``REDIS_DB`` (default 14, the flows database, where the producer's streams live),
``CHANNEL_PREFIX`` (a namespace before every channel, stream and dead-letter stream name, the
producer's ``TICKSTOCK_PL_CHANNEL_PREFIX``, e.g. ``w1.``; empty, the default: the spec's names),
``REDIS_CLUSTER`` (1: ``REDIS_HOST:REDIS_PORT`` is a node of a Redis Cluster; ``REDIS_DB`` unused).
The password is read from the environment only and never printed: ``repr`` leaves it out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

ENV_PREFIX = "TICKSTOCK_APP_"
REDIS_DB_FLOWS = 14  # contract/messaging.json redis_databases.flows
DEFAULT_INSTANCE = "main"
INSTANCE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
CHANNEL_PREFIX_PATTERN = re.compile(r"^[a-z0-9_]{1,32}[.:]$")


@dataclass(frozen=True)
class AppConfig:
    db_host: str = "localhost"
    db_port: int = 5432
    db_name: str = "tickstock_test"
    db_user: str = "app_readwrite"
    db_password: str | None = field(default=None, repr=False)
    redis_host: str = "localhost"
    redis_port: int = 6379
    redis_db: int = REDIS_DB_FLOWS
    channel_prefix: str = ""
    redis_cluster: int = 0  # 1: REDIS_HOST:REDIS_PORT is a node of a Redis Cluster (database 0 only)
    instance: str = DEFAULT_INSTANCE  # from --instance: consumer name and Redis client name suffix

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> AppConfig:
        """Read ``TICKSTOCK_APP_*``; raises ValueError (one line, no secret) for a bad value."""
        environ = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            if f.name == "instance":
                continue
            name = ENV_PREFIX + f.name.upper()
            raw = environ.get(name)
            if raw is None or raw == "":
                continue
            if f.type == "int":
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ValueError(f"{name} must be an integer, got {raw!r}") from None
            else:
                values[f.name] = raw
        config = replace(cls(**values), **overrides)
        config.check()
        return config

    def check(self) -> None:
        for name in ("db_port", "redis_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be a port (1-65535), got {port}")
        if not 0 <= self.redis_db <= 15:
            raise ValueError(f"{ENV_PREFIX}REDIS_DB must be 0-15, got {self.redis_db}")
        for name in ("db_host", "db_name", "db_user", "redis_host"):
            value = getattr(self, name)
            if not value.strip() or any(c in value for c in "\r\n\0"):
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be a non-empty single line")
        if self.channel_prefix and not CHANNEL_PREFIX_PATTERN.match(self.channel_prefix):
            raise ValueError(f"{ENV_PREFIX}CHANNEL_PREFIX must be up to 32 of a-z, 0-9, _ ending in '.' "
                             f"or ':' (e.g. w1.), got {self.channel_prefix!r}")
        if not INSTANCE_PATTERN.match(self.instance):
            raise ValueError(f"--instance must be 1-64 characters of letters, digits, '_', '.', '-', "
                             f"got {self.instance!r}")

    @property
    def redis_client_name(self) -> str:
        return f"tickstock_app.{self.instance}"

    def describe(self) -> str:
        """Where the app connects (no password), for its start-up line."""
        return (f"database {self.db_user}@{self.db_host}:{self.db_port}/{self.db_name}, "
                f"redis {self.redis_host}:{self.redis_port}/{self.redis_db}")
