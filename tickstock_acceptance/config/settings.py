"""One settings object for the whole run.

Sources, later ones winning: defaults → the spec's environment variables → ``behave -D key=value``.
Setting any ``TEST_DB_*`` or ``TEST_REDIS_*`` variable (or ``-D mode=external``, or a ``-D`` key
naming a host, port or user) switches the run from *embedded* (throwaway servers owned by the run)
to *external* (connect to what is configured); ``-D db_name`` alone only renames the embedded
database. Passwords come only from the environment (a ``-D`` value would show in the process
list) and are kept out of ``repr`` and every message, so they never reach a log or report.

External mode has three database identities, as a real deployment does: the consumer
(TickStockApp, ``TEST_DB_USER``), the producer (TickStockPL, ``TEST_DB_PRODUCER_USER``) and the
administrator used for validation and cleanup (``TEST_DB_ADMIN_USER``); the last two default to
the consumer's credentials.

The optional market-data check of ETF-2 reads Massive's (formerly Polygon.io) reference data:
its key, ``MASSIVE_API_KEY``, is a secret like the passwords (environment only, kept out of
``repr``); its base URL is ``MASSIVE_API_URL`` or ``-D market_data_url`` (our own tests point it
at a local stub). Without a key the check is skipped, with that reason in the sign-off.

TickStockApp, the consumer the service-boundary and resilience items judge, is chosen like the
producer: ``tickstock_app`` is the module run as ``python -m <module> --port N --instance NAME``
(default ``tickstock_app``, the reference; ``-D tickstock_app=tests.broken.<name>`` plugs in a
deliberately broken one), ``tickstock_app_command`` (``TICKSTOCK_APP_COMMAND``) any executable that
takes the same options and wins over the module. Either is started by the run on a free port when a
scenario first needs it, with the consumer identity in ``TICKSTOCK_APP_*`` variables, and stopped at
the end. ``tickstock_app_url`` (``TICKSTOCK_APP_URL``, external mode only) judges a TickStockApp
already deployed against the external database and Redis: nothing is started, and what only a
process the run started can show (its sockets, its child processes, the database server's log) is
not run, with that reason.

Redis may be a **Redis Cluster** (``TEST_REDIS_CLUSTER=1`` or ``-D redis_cluster=yes``, external mode
only): ``TEST_REDIS_HOST:PORT`` is one of its nodes.
A cluster has only database 0, so the run then keeps everything in a **channel namespace**
(``TEST_REDIS_NAMESPACE`` / ``-D redis_namespace``, default ``test_acceptance:`` on a cluster): every
channel, stream and key of the run, the producer's and TickStockApp's included, starts with it, and
cleanup deletes the namespace's keys instead of flushing databases. A namespace also isolates runs
that share one standalone Redis (parallel workers, a staging TickStockApp): pub-sub ignores the
logical database. Namespaces start with ``test_`` so cleanup by key pattern touches test data only.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from tickstock_acceptance.config.measurement import timeout_multiplier
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.core.guard import UNSAFE_OVERRIDE_ENV, UNSAFE_OVERRIDE_KEY

ENV_VARS = {
    "TEST_DB_HOST": "db_host",
    "TEST_DB_NAME": "db_name",
    "TEST_DB_USER": "db_user",
    "TEST_DB_PASSWORD": "db_password",
    "TEST_DB_PORT": "db_port",
    "TEST_REDIS_HOST": "redis_host",
    "TEST_REDIS_PORT": "redis_port",
    "TEST_REDIS_CLUSTER": "redis_cluster",
    "TEST_REDIS_NAMESPACE": "redis_namespace",
    "TEST_DB_PRODUCER_USER": "producer_db_user",
    "TEST_DB_PRODUCER_PASSWORD": "producer_db_password",
    "TEST_DB_ADMIN_USER": "admin_db_user",
    "TEST_DB_ADMIN_PASSWORD": "admin_db_password",
}
SECRET_KEYS = {"db_password": "TEST_DB_PASSWORD", "producer_db_password": "TEST_DB_PRODUCER_PASSWORD",
               "admin_db_password": "TEST_DB_ADMIN_PASSWORD", "market_data_key": "MASSIVE_API_KEY"}
# Settings read from TEST_* variables that do not by themselves switch the run to external mode.
MODE_NEUTRAL_KEYS = ("redis_cluster", "redis_namespace")
EXTERNAL_KEYS = ("db_host", "db_port", "db_user", "redis_host", "redis_port", "producer_db_user",
                 "admin_db_user")
PRODUCER_COMMAND_ENV = "TICKSTOCK_PRODUCER_COMMAND"
APP_COMMAND_ENV = "TICKSTOCK_APP_COMMAND"
APP_URL_ENV = "TICKSTOCK_APP_URL"
# Massive's reference data (ETF-2's optional check); neither switches the run to external mode.
MARKET_DATA_KEY_ENV = "MASSIVE_API_KEY"
MARKET_DATA_URL_ENV = "MASSIVE_API_URL"
MARKET_DATA_DEFAULT_URL = "https://api.massive.com"  # the official client's default (massive.rest.BASE)
URL_PATTERN = re.compile(r"^https?://[^/\s]+(/\S*)?$")
MODES = ("embedded", "external")
DB_NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
RESERVED_DB_NAMES = ("postgres", "template0", "template1")
PRODUCER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")
# A namespace starts with test_ (cleanup deletes its keys) and ends with '.' or ':' as the reference
# components' TICKSTOCK_PL/APP_CHANNEL_PREFIX must (at most 32 characters).
NAMESPACE_PATTERN = re.compile(r"^test_[a-z0-9_]{0,26}[.:]$")
CLUSTER_NAMESPACE = "test_acceptance:"


@dataclass(frozen=True)
class Settings:
    """Where the run's PostgreSQL and Redis are, and how the run may treat them."""

    mode: str = "embedded"
    db_host: str = "localhost"
    db_port: int = 5432
    db_name: str = "tickstock_test"
    db_user: str = "app_readwrite"
    db_password: str | None = field(default=None, repr=False)
    producer_db_user: str = ""  # empty: same as db_user
    producer_db_password: str | None = field(default=None, repr=False)
    admin_db_user: str = ""  # empty: same as db_user
    admin_db_password: str | None = field(default=None, repr=False)
    redis_host: str = "localhost"
    redis_port: int = 6379
    redis_cluster: bool = False
    redis_namespace: str = ""  # '' = the spec's channel names (standalone Redis only)
    pg_bin_dir: str = ""
    # The system under test's producer: a module exposing the reference TickStockPL components.
    # The project's own tests point it at deliberately broken variants to show scenarios fail.
    producer: str = "tickstock_producer"
    # Any executable answering the producer's subcommands (a team's adapter script); wins over
    # ``producer``. Default: ``python -m <producer>`` with this Python.
    producer_command: str = ""
    # The system under test's consumer (TickStockApp): a module run as ``python -m <module>``, any
    # executable taking the same options (wins over the module), or the URL of a deployed one
    # (external mode; nothing started).
    tickstock_app: str = "tickstock_app"
    tickstock_app_command: str = ""
    tickstock_app_url: str = ""
    UNSAFE_allow_non_test_target: bool = False
    # Massive's reference-tickers API for ETF-2's optional market-data check; no key: not run.
    market_data_url: str = MARKET_DATA_DEFAULT_URL
    market_data_key: str | None = field(default=None, repr=False)

    def producer_argv(self) -> list[str]:
        """The producer under test as an argv prefix: ``producer_command``, else ``python -m <producer>``."""
        if self.producer_command:
            return shlex.split(self.producer_command)
        return [sys.executable, "-m", self.producer]

    def tickstock_app_argv(self) -> list[str]:
        """TickStockApp as an argv prefix: ``tickstock_app_command``, else ``python -m <tickstock_app>``."""
        if self.tickstock_app_command:
            return shlex.split(self.tickstock_app_command)
        return [sys.executable, "-m", self.tickstock_app]

    def credentials(self, role: str) -> tuple[str, str | None]:
        """(user, password) for ``consumer``, ``producer`` or ``admin`` in external mode."""
        if role == "producer" and self.producer_db_user:
            return self.producer_db_user, self.producer_db_password
        if role == "admin" and self.admin_db_user:
            return self.admin_db_user, self.admin_db_password
        return self.db_user, self.db_password

    @property
    def external(self) -> bool:
        return self.mode == "external"

    def describe(self) -> str:
        """A one-line, secret-free description for logs and reports."""
        cluster = " Cluster" if self.redis_cluster else ""
        space = f" (namespace {self.redis_namespace})" if self.redis_namespace else ""
        if not self.external:
            return f"embedded throwaway PostgreSQL and Redis{cluster}{space}"
        return (
            f"external PostgreSQL {self.db_user}@{self.db_host}:{self.db_port}/{self.db_name}, "
            f"Redis{cluster} {self.redis_host}:{self.redis_port}{space}"
        )


KNOWN_KEYS = tuple(f.name for f in fields(Settings))


def _coerce(key: str, raw: str):
    kind = {f.name: f.type for f in fields(Settings)}[key]
    if kind == "int":
        try:
            value = int(raw)
        except ValueError:
            raise SuiteError(f"setting {key} must be a port number, got {raw!r}",
                             f"give a whole number, e.g. {key}=5432") from None
        if not 0 < value < 65536:
            raise SuiteError(f"setting {key}={value} is not a valid port", "use 1-65535")
        return value
    if kind == "bool":
        word = str(raw).strip().lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise SuiteError(f"setting {key} must be yes or no, got {raw!r}",
                             f"give e.g. {key}=yes (1/true/yes/on) or {key}=no")
        return word in TRUE_WORDS
    return raw


def load_settings(environ: Mapping[str, str] | None = None,
                  userdata: Mapping[str, str] | None = None) -> Settings:
    """Build the run's settings; unknown ``-D`` keys and malformed values raise SuiteError."""
    environ = os.environ if environ is None else environ
    userdata = userdata or {}
    values: dict[str, object] = {}
    external = False
    for var, key in ENV_VARS.items():
        if environ.get(var):
            values[key] = _coerce(key, environ[var])
            external = external or key not in MODE_NEUTRAL_KEYS
    if environ.get(PRODUCER_COMMAND_ENV):
        values["producer_command"] = environ[PRODUCER_COMMAND_ENV]
    if environ.get(APP_COMMAND_ENV):
        values["tickstock_app_command"] = environ[APP_COMMAND_ENV]
    if environ.get(APP_URL_ENV):
        values["tickstock_app_url"] = environ[APP_URL_ENV]
    if environ.get(MARKET_DATA_KEY_ENV):
        values["market_data_key"] = environ[MARKET_DATA_KEY_ENV]
    if environ.get(MARKET_DATA_URL_ENV):
        values["market_data_url"] = environ[MARKET_DATA_URL_ENV]
    if environ.get(UNSAFE_OVERRIDE_ENV):
        values[UNSAFE_OVERRIDE_KEY] = _coerce(UNSAFE_OVERRIDE_KEY, environ[UNSAFE_OVERRIDE_ENV])
    for key, raw in userdata.items():
        if key in SECRET_KEYS:
            what = "API keys" if key == "market_data_key" else "passwords"
            raise SuiteError(f"{what} are not accepted as -D {key} (the process list would show it)",
                             f"set {SECRET_KEYS[key]} in the environment instead")
        if key not in KNOWN_KEYS:
            raise SuiteError(f"unknown setting -D {key}",
                             f"use one of: {', '.join(k for k in KNOWN_KEYS if k not in SECRET_KEYS)}")
        values[key] = _coerce(key, raw)
        if key in EXTERNAL_KEYS:
            external = True
    timeout_multiplier(environ)  # a bad multiplier is one line before anything starts
    values.setdefault("mode", "external" if external else "embedded")
    name = str(values.get("db_name", Settings.db_name))
    if not DB_NAME_PATTERN.match(name):
        raise SuiteError(f"database name {name!r} is not a plain lower-case identifier",
                         "use letters, digits and _ (e.g. tickstock_test)")
    if values["mode"] == "embedded" and name in RESERVED_DB_NAMES:
        raise SuiteError(f"database name {name!r} is reserved by PostgreSQL",
                         "the embedded run creates its own database: pick another name (e.g. tickstock_test)")
    producer = str(values.get("producer", Settings.producer))
    if not PRODUCER_PATTERN.match(producer):
        raise SuiteError(f"producer {producer!r} is not a Python module path",
                         "give a module such as tickstock_producer or tests.broken.wrong_summary")
    try:
        if not shlex.split(str(values.get("producer_command", ""))) and values.get("producer_command"):
            raise ValueError("empty")
    except ValueError as exc:
        raise SuiteError(f"producer command {values.get('producer_command')!r} cannot be read: {exc}",
                         "give a command line, e.g. -D producer_command='./bin/pl-adapter'") from None
    app = str(values.get("tickstock_app", Settings.tickstock_app))
    if not PRODUCER_PATTERN.match(app):
        raise SuiteError(f"tickstock_app {app!r} is not a Python module path",
                         "give a module such as tickstock_app or tests.broken.app_triggers_analysis")
    app_command = str(values.get("tickstock_app_command", ""))
    try:
        if app_command and not shlex.split(app_command):
            raise ValueError("empty")
    except ValueError as exc:
        raise SuiteError(f"TickStockApp command {app_command!r} cannot be read: {exc}",
                         "give a command line, e.g. -D tickstock_app_command='./bin/app-adapter'") from None
    app_url = str(values.get("tickstock_app_url", "")).rstrip("/")
    if app_url and not URL_PATTERN.match(app_url):
        raise SuiteError(f"TickStockApp URL {app_url!r} is not an http(s) URL",
                         "give its base URL, e.g. -D tickstock_app_url=http://app.staging.internal:8000")
    if app_url and values["mode"] != "external":
        raise SuiteError("tickstock_app_url judges a deployed TickStockApp, which cannot reach the embedded "
                         "servers of this run",
                         "use it in external mode (TEST_DB_*/TEST_REDIS_* naming the servers that "
                         "TickStockApp uses), or leave it unset to have the run start TickStockApp")
    values["tickstock_app_url"] = app_url
    url = str(values.get("market_data_url", Settings.market_data_url)).rstrip("/")
    if not URL_PATTERN.match(url):
        raise SuiteError(f"market data URL {url!r} is not an http(s) URL",
                         f"give a base URL, e.g. -D market_data_url={MARKET_DATA_DEFAULT_URL}")
    values["market_data_url"] = url
    namespace = str(values.get("redis_namespace", ""))
    if values.get("redis_cluster") and not namespace:
        values["redis_namespace"] = namespace = CLUSTER_NAMESPACE  # a cluster has database 0 only
    if namespace and not NAMESPACE_PATTERN.match(namespace):
        raise SuiteError(f"Redis namespace {namespace!r} is not test_<a-z, 0-9, _> ending in '.' or ':'",
                         "give e.g. -D redis_namespace=test_w1: (it must start with test_, so cleanup "
                         "deletes only test keys; at most 32 characters)")
    if values.get("redis_cluster") and values["mode"] != "external":
        raise SuiteError("an embedded run starts a standalone Redis of its own; a Redis Cluster is judged in "
                         "external mode",
                         "set TEST_REDIS_HOST/TEST_REDIS_PORT to one of the cluster's nodes "
                         "(and TEST_DB_* to its test database)")
    if values["mode"] not in MODES:
        raise SuiteError(f"unknown mode {values['mode']!r}", "use -D mode=embedded or -D mode=external")
    return replace(Settings(), **values)
