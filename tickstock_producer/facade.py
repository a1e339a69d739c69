"""The producer facade: how the CLI obtains the wired TickStockPL components.

The acceptance suite never imports this package: it runs the producer as a command
(``python -m tickstock_producer`` by default) and talks to it through that command, the database
and Redis. A producer *variant* (the project's tests keep deliberately broken ones in
``tests/broken/``) is a module that exposes ``create_producer(config)`` and optionally
``deploy(admin_conn)`` (what deploying that version puts into a database the suite owns; the
reference needs nothing beyond ``sql/``) and runs ``cli.main(factory=..., deploy=...)`` under
``python -m <module>``; the suite's ``deploy`` subcommand call reaches that hook.

Factories a variant overrides: ``make_publisher`` and ``make_etf_manager`` (ETF universes),
``make_scenario_loader`` (the historical loader's scenario mode), ``make_pattern_detector`` and
``make_tick_processor`` (their modules are imported when first used), and for the cache sync
``make_cache_synchronizer(universe_prefix, symbol_prefix)`` (a ``cache_sync.CacheSynchronizer``,
publishing as ``tickstock_pl.cache_synchronizer``), ``make_eod_job()`` (``tickstock_pl.eod_job``)
and ``make_ipo_monitor()`` (``tickstock_pl.ipo_monitor``).

Configuration comes from the environment (``TICKSTOCK_PL_*``), so the password never appears on
a command line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import psycopg2
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from .etf_universe import EtfUniverseManager, Theme, load_source
from .events import CHANNELS, REDIS_DB_FLOWS, EventPublisher, check_channel_prefix
from .historical_loader import HistoricalLoader

ENV_PREFIX = "TICKSTOCK_PL_"
TICK_SOCKET_TIMEOUT_S = 60.0  # the tick reader's socket timeout, far above its XREAD BLOCK


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
    # ``TICKSTOCK_PL_CHANNEL_PREFIX``: a namespace before every channel and stream name (e.g. ``w1.``);
    # empty (the default) keeps the spec's channel names.
    channel_prefix: str = ""
    # ``TICKSTOCK_PL_REDIS_CLUSTER=1``: REDIS_HOST:REDIS_PORT is a node of a Redis Cluster (redis-py's
    # RedisCluster finds the others; a cluster has only database 0, so REDIS_DB is not used).
    redis_cluster: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProducerConfig:
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = int(raw) if f.type == "int" else raw
        config = cls(**values)
        check_channel_prefix(config.channel_prefix)
        return config

    def to_env(self) -> dict[str, str]:
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name))
                for f in fields(self) if getattr(self, f.name) is not None}


class Producer:
    """The reference TickStockPL components, wired to one database and one Redis."""

    service = "tickstock_pl"

    def __init__(self, config: ProducerConfig, source: dict[str, Theme] | None = None) -> None:
        self.config = config
        # No transport-level retries (redis-py retries by default): a publish is PUBLISH + XADD in one
        # MULTI/EXEC, not idempotent, so resending it after a lost reply (Redis applied it, then died)
        # would put the message on the stream twice. A send that raises is reported instead (its
        # sequence number is indeterminate) and the caller decides what to do next.
        self.redis = self.redis_client(socket_timeout=10, retry=Retry(NoBackoff(), 0))
        self.publisher = self.make_publisher()
        self.etf_manager = self.make_etf_manager(source)
        self.loader = HistoricalLoader(self.connect)
        self._extra_clients: list[redis.Redis] = []

    def connect(self):
        c = self.config
        conn = psycopg2.connect(host=c.db_host, port=c.db_port, dbname=c.db_name, user=c.db_user,
                                password=c.db_password, connect_timeout=5,
                                application_name="tickstock_pl")
        return conn

    # Variants override the factories below.
    def make_publisher(self) -> EventPublisher:
        return self.event_publisher("tickstock_pl.etf_universe_manager")

    def event_publisher(self, service: str) -> EventPublisher:
        """A publisher for one of this producer's services, in its channel namespace."""
        return EventPublisher(self.redis, service, channel_prefix=self.config.channel_prefix)

    def make_etf_manager(self, source: dict[str, Theme] | None) -> EtfUniverseManager:
        return EtfUniverseManager(self.connect, self.publisher,
                                  source if source is not None else load_source())

    def make_scenario_loader(self) -> HistoricalLoader:
        return self.loader

    def make_pattern_detector(self):
        from .patterns import PatternDetector

        return PatternDetector(self.connect, self.event_publisher("tickstock_pl.pattern_detector"))

    def make_tick_processor(self, threshold_step: float):
        from .realtime import TICK_STREAM, TickProcessor

        # the tick input in the channel namespace too (``<prefix>ticks:realtime``)
        return TickProcessor(self.tick_redis(), self.event_publisher("tickstock_pl.tick_processor"),
                             threshold_step, stream=self.config.channel_prefix + TICK_STREAM)

    synchronizer_class = None  # a variant's CacheSynchronizer subclass (default: the reference)

    def make_cache_synchronizer(self, universe_prefix: str = "", symbol_prefix: str = ""):
        from .cache_sync import SERVICE, CacheSynchronizer

        cls = self.synchronizer_class or CacheSynchronizer
        return cls(self.connect, self.redis, self.event_publisher(SERVICE), universe_prefix,
                   symbol_prefix)

    def make_eod_job(self):
        from .automation import EOD_SERVICE, EodJob

        return EodJob(self.connect, self.event_publisher(EOD_SERVICE))

    def make_ipo_monitor(self):
        from .automation import IPO_SERVICE, IpoMonitor

        return IpoMonitor(self.connect, self.event_publisher(IPO_SERVICE))

    def tick_redis(self) -> redis.Redis:
        """A Redis client of its own for reading the tick stream: XREAD BLOCK waits on the socket,
        so its timeout must be longer than any BLOCK (the facade's client allows 10 s)."""
        client = self.redis_client(socket_timeout=TICK_SOCKET_TIMEOUT_S)
        self._extra_clients.append(client)
        return client

    def redis_client(self, **options):
        """A client of the configured Redis: one server (its flows database) or a Redis Cluster."""
        c = self.config
        if c.redis_cluster:
            return RedisCluster(host=c.redis_host, port=c.redis_port, socket_connect_timeout=3, **options)
        return redis.Redis(host=c.redis_host, port=c.redis_port, db=c.redis_db, socket_connect_timeout=3,
                           **options)

    def channels(self) -> dict[str, str]:
        """The pub-sub channels this producer is configured with (name → channel), in its namespace."""
        return {name: self.config.channel_prefix + channel for name, channel in CHANNELS.items()}

    def close(self) -> None:
        for client in self._extra_clients:
            client.close()
        self.redis.close()


def create_producer(config: ProducerConfig, source: dict[str, Theme] | None = None) -> Producer:
    return Producer(config, source)


def deploy(admin_conn) -> None:
    """The reference producer needs nothing in the database beyond ``sql/``."""
