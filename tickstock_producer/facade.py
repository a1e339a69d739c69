"""The producer facade: how the CLI obtains the wired TickStockPL components.

The acceptance suite never imports this package: it runs the producer as a command
(``python -m tickstock_producer`` by default) and talks to it through that command, the database
and Redis. A producer *variant* (the project's tests keep deliberately broken ones in
``tests/broken/``) is a module that exposes ``create_producer(config)`` and optionally
``deploy(admin_conn)`` (what deploying that version puts into a database the suite owns; the
reference needs nothing beyond ``sql/``) and runs ``cli.main(factory=..., deploy=...)`` under
``python -m <module>``; the suite's ``deploy`` subcommand call reaches that hook.

Configuration comes from the environment (``TICKSTOCK_PL_*``), so the password never appears on
a command line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import psycopg2
import redis

from .etf_universe import EtfUniverseManager, Theme, load_source
from .events import CHANNELS, REDIS_DB_FLOWS, EventPublisher
from .historical_loader import HistoricalLoader

ENV_PREFIX = "TICKSTOCK_PL_"


@dataclass(frozen=True)
class ProducerConfig:
    db_host: str = "localhost"
    db_port: int = 5432
    db_name: str = "tickstock_test"
    db_user: str = "tickstock_producer"
    db_password: str | None = field(default=None, repr=False)
    redis_host: str = "localhost"
    redis_port: int = 6379
    redis_db: int = REDIS_DB_FLOWS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProducerConfig:
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = int(raw) if f.type == "int" else raw
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name))
                for f in fields(self) if getattr(self, f.name) is not None}


class Producer:
    """The reference TickStockPL components, wired to one database and one Redis."""

    service = "tickstock_pl"

    def __init__(self, config: ProducerConfig, source: dict[str, Theme] | None = None) -> None:
        self.config = config
        self.redis = redis.Redis(host=config.redis_host, port=config.redis_port, db=config.redis_db,
                                 socket_connect_timeout=3, socket_timeout=10)
        self.publisher = self.make_publisher()
        self.etf_manager = self.make_etf_manager(source)
        self.loader = HistoricalLoader(self.connect)

    def connect(self):
        c = self.config
        conn = psycopg2.connect(host=c.db_host, port=c.db_port, dbname=c.db_name, user=c.db_user,
                                password=c.db_password, connect_timeout=5,
                                application_name="tickstock_pl")
        return conn

    # Variants override the factories below.
    def make_publisher(self) -> EventPublisher:
        return EventPublisher(self.redis, "tickstock_pl.etf_universe_manager")

    def make_etf_manager(self, source: dict[str, Theme] | None) -> EtfUniverseManager:
        return EtfUniverseManager(self.connect, self.publisher,
                                  source if source is not None else load_source())

    def channels(self) -> dict[str, str]:
        """The pub-sub channels this producer is configured with (name → channel)."""
        return dict(CHANNELS)

    def close(self) -> None:
        self.redis.close()


def create_producer(config: ProducerConfig, source: dict[str, Theme] | None = None) -> Producer:
    return Producer(config, source)


def deploy(admin_conn) -> None:
    """The reference producer needs nothing in the database beyond ``sql/``."""
