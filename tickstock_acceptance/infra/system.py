"""The system the run validates: its PostgreSQL, its Redis, and who may connect as what.

``AcceptanceSystem.open()`` brings services up (embedded) or connects to them (external), passes
the guard before any write, then migrates (owned database) or validates (external) the schema.
``close()`` cleans only test data and stops only servers the run started.
"""

from __future__ import annotations

import contextlib
import json
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
from psycopg2 import sql

from tickstock_acceptance.config import measurement as M
from tickstock_acceptance.config.paths import REPORTS_DIR, ROOT
from tickstock_acceptance.config.settings import Settings
from tickstock_acceptance.contract.database import CONSUMER_ROLE, PRODUCER_ROLE
from tickstock_acceptance.contract.identities import WHAT_FOR, identity_needs, judged_as
from tickstock_acceptance.contract.messaging import REDIS_TEST_DBS, namespace_key_patterns, use_namespace
from tickstock_acceptance.core import guard
from tickstock_acceptance.core.errors import SuiteError, first_line
from tickstock_acceptance.infra.db import DbEndpoint, connect, session
from tickstock_acceptance.infra.embedded import EmbeddedPostgres, EmbeddedRedis, ExternalServer, RunDir
from tickstock_acceptance.infra.migrations import apply_migrations, require_schema
from tickstock_acceptance.infra.redis_client import (
    RedisEndpoint,
    checked_client,
    checked_cluster_client,
    client,
    cluster_client,
)

SCRATCH_ROOT = REPORTS_DIR / "run-files"  # files a run writes for the producer, removed at close


@dataclass
class RunFacts:
    """Facts of the run for report headers (no secrets)."""

    mode: str
    started_at: str
    suite_commit: str
    python: str
    postgresql: str = "?"
    redis: str = "?"
    target: str = ""
    cleanup: dict = field(default_factory=dict)  # external mode: what cleanup removed, or what it left where
    extra: dict = field(default_factory=dict)


def suite_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "uncommitted"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class AcceptanceSystem:
    """Controller for the run's services; steps and fixtures call its methods."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.run_dir: RunDir | None = None
        self.postgres: EmbeddedPostgres | ExternalServer | None = None
        self.redis: EmbeddedRedis | ExternalServer | None = None
        self.database_created_by_run = False
        self.opened = False
        self._endpoints: dict[str, DbEndpoint] = {}
        self._scratch: Path | None = None
        self._redis_endpoint: RedisEndpoint | None = None
        self.facts = RunFacts(mode=settings.mode,
                              started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                              suite_commit=suite_commit(), python=platform.python_version(),
                              target=settings.describe())

    # -- bring up -------------------------------------------------------------------------
    def open(self) -> AcceptanceSystem:
        require_producer_command(self.settings)
        use_namespace(self.settings.redis_namespace)  # the run's channels and keys (contract.messaging)
        try:
            if self.settings.external:
                self._open_external()
            else:
                self._open_embedded()
            self.clean_test_redis()
            self.opened = True
        except BaseException:
            self.close()
            raise
        return self

    def _open_embedded(self) -> None:
        self.run_dir = RunDir()
        pg = self.postgres = EmbeddedPostgres(self.run_dir.path, self.settings.pg_bin_dir)
        rd = self.redis = EmbeddedRedis(self.run_dir.path)
        pg.start()
        rd.start()
        name = self.settings.db_name
        with session(pg.admin_endpoint()) as admin:
            with admin.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.database_created_by_run = True
        self._endpoints["admin"] = pg.admin_endpoint(name)
        self.require_test_database()
        with session(self._endpoints["admin"], autocommit=False) as conn:
            apply_migrations(conn)
        for key, role in (("consumer", CONSUMER_ROLE), ("producer", PRODUCER_ROLE)):
            password = secrets.token_urlsafe(18)
            with session(self._endpoints["admin"]) as conn, conn.cursor() as cur:
                cur.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD %s")
                            .format(sql.Identifier(role)), (password,))
            self._endpoints[key] = DbEndpoint(pg.host, pg.port, name, role, password)
        self._redis_endpoint = rd.endpoint()
        self.facts.postgresql = pg.version()
        self.facts.redis = rd.version()

    def _open_external(self) -> None:
        s = self.settings
        self.postgres = ExternalServer("PostgreSQL")
        self.redis = ExternalServer("Redis")
        for key in ("admin", "consumer", "producer"):
            self._endpoints[key] = DbEndpoint(s.db_host, s.db_port, s.db_name, *s.credentials(key))
        endpoint = self._endpoints["admin"]
        with session(endpoint) as conn:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                self.facts.postgresql = cur.fetchone()[0].split()[0]
            self.require_test_database()
            # Validate, never migrate, what the run does not own: the CLI preflight refuses a schema
            # that differs from the contract; the environment validation feature (ENV-1) reports it.
        self._redis_endpoint = RedisEndpoint(s.redis_host, s.redis_port)
        if s.redis_cluster:
            rc = checked_cluster_client(self._redis_endpoint)
            info = rc.info("server", target_nodes=rc.get_default_node())
            primaries = len(rc.get_primaries())
            self.facts.redis = f"{info.get('redis_version', '?')} (cluster of {primaries} primaries)"
            rc.close()
        else:
            info = checked_client(self._redis_endpoint, REDIS_TEST_DBS[0]).info("server")
            self.facts.redis = str(info.get("redis_version", "?"))

    # -- guard ----------------------------------------------------------------------------
    def require_test_database(self) -> None:
        guard.require_test_database(self.settings.db_name, self.database_created_by_run,
                                    self.settings.UNSAFE_allow_non_test_target)

    # -- access ---------------------------------------------------------------------------
    def endpoint(self, role: str = "consumer") -> DbEndpoint:
        """Connection facts for ``admin``, ``consumer`` (TickStockApp) or ``producer`` (TickStockPL)."""
        return self._endpoints[role]

    def connect(self, role: str = "consumer", autocommit: bool = True):
        return connect(self.endpoint(role), autocommit=autocommit)

    def session(self, role: str = "consumer", autocommit: bool = True):
        """A connection as ``role`` that closes itself (use in ``with``)."""
        return session(self.endpoint(role), autocommit=autocommit)

    @property
    def redis_endpoint(self) -> RedisEndpoint:
        assert self._redis_endpoint is not None, "system not open"
        return self._redis_endpoint

    def redis_client(self, db: int, **kwargs):
        """A client for logical database ``db`` (one of the contract's 13–15); on a Redis Cluster, which
        has database 0 only, a cluster client: the run's keys are told apart by its namespace there."""
        if self.settings.redis_cluster:
            return cluster_client(self.redis_endpoint, **kwargs)
        return client(self.redis_endpoint, db, **kwargs)

    def redis_servers(self) -> list[RedisEndpoint]:
        """Every Redis server the run's keys and connections may reach: the one server, or every node
        of a cluster (as the cluster announces them)."""
        if not self.settings.redis_cluster:
            return [self.redis_endpoint]
        rc = cluster_client(self.redis_endpoint)
        try:
            return [RedisEndpoint(n.host, n.port) for n in rc.get_nodes()]
        finally:
            rc.close()

    @property
    def redis_databases(self) -> tuple[int, ...]:
        """The databases the run's keys live in: 13–15, or a cluster's only one (0)."""
        return (0,) if self.settings.redis_cluster else REDIS_TEST_DBS

    # -- cleanup --------------------------------------------------------------------------
    def clean_test_redis(self) -> None:
        """Before and after runs. Without a namespace the spec flushes the test databases (13–15 only,
        guarded); with one (a cluster, a parallel worker, a Redis shared with a staging TickStockApp)
        only the namespace's keys go: ``test_…*`` and ``stream:test_…*``, in every primary of a cluster."""
        patterns = namespace_key_patterns()
        for db in self.redis_databases:
            if not patterns:
                guard.require_test_redis_db(db, REDIS_TEST_DBS, self.settings.UNSAFE_allow_non_test_target)
                checked_client(self.redis_endpoint, db).flushdb()
                continue
            r = self.redis_client(db)
            try:
                keys = [k for pattern in patterns for k in r.scan_iter(match=pattern, count=1000)]
                for i in range(0, len(keys), 500):
                    r.delete(*keys[i:i + 500])
            finally:
                r.close()

    def clean_test_data(self) -> dict:
        """Remove the test data of an external run; when a step fails, say what was left where (the
        summary and the sign-off show it) instead of stopping the rest of the cleanup."""
        report: dict = {"removed": {}, "problems": [], "left": {}}
        try:
            report["removed"] = self.delete_test_rows()
        except Exception as exc:  # noqa: BLE001 - reported, with what is left
            who = self.endpoint("admin").user
            report["problems"].append(f"deleting test rows as {who}: {first_line(exc)}")
            report["left"].update(self.test_rows_left())
        try:
            self.clean_test_redis()
        except Exception as exc:  # noqa: BLE001 - reported, with what is left
            space = self.settings.redis_namespace
            what = (f"deleting the namespace {space}'s keys" if space
                    else f"flushing Redis databases {list(REDIS_TEST_DBS)}")
            report["problems"].append(f"{what}: {first_line(exc)}")
            report["left"].update(self.test_keys_left())
        return report

    def test_rows_left(self) -> dict[str, int]:
        """Test rows still in the database, counted as the consumer (which may read everything)."""
        left = {}
        queries = {"symbols": r"SELECT count(*) FROM symbols WHERE symbol LIKE 'TEST\_%'",
                   "ohlcv_daily": r"SELECT count(*) FROM ohlcv_daily WHERE symbol LIKE 'TEST\_%'",
                   "cache_entries": r"SELECT count(*) FROM cache_entries WHERE key LIKE 'test\_%' "
                                    r"OR name LIKE 'test\_%'"}
        try:
            with self.session("consumer") as conn, conn.cursor() as cur:
                for table, query in queries.items():
                    cur.execute(query)
                    left[f"{self.settings.db_name}.{table}"] = cur.fetchone()[0]
        except Exception as exc:  # noqa: BLE001 - counting is best effort
            left[self.settings.db_name] = f"not counted: {first_line(exc)}"
        return left

    def test_keys_left(self) -> dict[str, int]:
        left = {}
        patterns = namespace_key_patterns()
        for db in self.redis_databases:
            where = f"Redis db {db}" + (f" namespace {self.settings.redis_namespace}" if patterns else "")
            try:
                r = self.redis_client(db)
                left[where] = (sum(1 for p in patterns for _ in r.scan_iter(match=p, count=1000)) if patterns
                               else int(r.dbsize()))
                r.close()
            except Exception as exc:  # noqa: BLE001 - counting is best effort
                left[where] = f"not counted: {first_line(exc)}"
        return left

    def delete_test_rows(self) -> dict[str, int]:
        """Remove rows the tests wrote: ``TEST_`` symbols and ``test_`` cache entries only."""
        self.require_test_database()
        deleted = {}
        statements = {
            "ohlcv_daily": r"DELETE FROM ohlcv_daily WHERE symbol LIKE 'TEST\_%'",
            "symbols": r"DELETE FROM symbols WHERE symbol LIKE 'TEST\_%'",
            "cache_entries": r"DELETE FROM cache_entries WHERE key LIKE 'test\_%' OR name LIKE 'test\_%'",
        }
        # The cache synchronizer's runs in the suite's scopes (test_ universe prefixes; sql/006); their
        # change log goes with them (ON DELETE CASCADE).
        statements["cache_sync_runs"] = r"DELETE FROM cache_sync_runs WHERE scope LIKE 'test\_%'"
        # Synthetic scenario data (its own schema, sql/005): only TEST_ symbols, only where the schema exists.
        statements.update({
            "synthetic.ohlcv_daily": r"DELETE FROM synthetic.ohlcv_daily WHERE symbol LIKE 'TEST\_%'",
            "synthetic.scenario_outcomes":
                r"DELETE FROM synthetic.scenario_outcomes WHERE symbol LIKE 'TEST\_%'",
            "synthetic.symbols": r"DELETE FROM synthetic.symbols WHERE symbol LIKE 'TEST\_%'",
        })
        with session(self.endpoint("admin")) as conn, conn.cursor() as cur:
            for table, statement in statements.items():
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
                if cur.fetchone()[0]:
                    cur.execute(statement)
                    deleted[table] = cur.rowcount
        return deleted

    def close(self) -> None:
        """Clean test data (external) and stop what the run owns; safe to call twice."""
        if self.opened and self.settings.external:
            self.facts.cleanup = self.clean_test_data()
        self.opened = False
        for server in (self.redis, self.postgres):
            if server is not None and server.owned:
                server.close()
        self.redis = self.postgres = None
        use_namespace("")
        if self.run_dir is not None:
            self.run_dir.remove()
            self.run_dir = None
        self._remove_scratch()

    def scratch_file(self, prefix: str, data: dict) -> Path:
        """Write ``data`` as a JSON file the run owns (e.g. a source for the producer); it is
        removed when the run closes. The files live in a folder of their own under the reports
        folder, never loose in the machine's temporary directory."""
        if self._scratch is None:
            SCRATCH_ROOT.mkdir(parents=True, exist_ok=True)
            self._scratch = Path(tempfile.mkdtemp(prefix="run-", dir=SCRATCH_ROOT))
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".json", dir=self._scratch)
        with open(fd, "w") as fh:
            json.dump(data, fh)
        return Path(name)

    def _remove_scratch(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
            with contextlib.suppress(OSError):
                SCRATCH_ROOT.rmdir()  # only when no other run still has files there

    def write_facts(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.facts.__dict__, indent=2))


def preflight(settings: Settings) -> None:
    """Check everything a run needs before behave starts; raise SuiteError with one line.

    Embedded: server binaries and the OS user to run PostgreSQL. External: the database answers
    with these credentials, is a test target, and carries the schema; Redis answers.
    """
    from tickstock_acceptance.infra.embedded import _server_user, find_pg_bin_dir, find_redis_server

    require_producer_command(settings)
    if not settings.external:
        find_pg_bin_dir(settings.pg_bin_dir)
        find_redis_server()
        _server_user()
        return
    # Reachability first (every identity connects, the guard passes, Redis answers), then what the
    # identities may do (the clearest message for an identity left out), then the whole contract.
    endpoints = {role: DbEndpoint(settings.db_host, settings.db_port, settings.db_name,
                                  *settings.credentials(role)) for role in ("consumer", "producer", "admin")}
    for endpoint in endpoints.values():
        with session(endpoint):
            guard.require_test_database(settings.db_name, False, settings.UNSAFE_allow_non_test_target)
    redis_endpoint = RedisEndpoint(settings.redis_host, settings.redis_port)
    if settings.redis_cluster:
        checked_cluster_client(redis_endpoint).close()
    else:
        checked_client(redis_endpoint, REDIS_TEST_DBS[0]).close()
    require_identity_rights(settings)
    with session(endpoints["admin"]) as conn:
        require_schema(conn, endpoints["admin"].where(), identity_roles(settings))


IDENTITY_VARS = {"consumer": "TEST_DB_USER", "producer": "TEST_DB_PRODUCER_USER",
                 "admin": "TEST_DB_ADMIN_USER"}


PRIVILEGE_CHECKS = {"table": "has_table_privilege", "sequence": "has_sequence_privilege",
                    "function": "has_function_privilege"}


def missing_rights(conn, identity: str) -> list[str]:
    """What the connection's own user lacks of ``identity``'s needs (``INSERT on cache_entries``)."""
    lacking = []
    with conn.cursor() as cur:
        for kind, name, privilege in identity_needs(identity):
            try:
                cur.execute(f"SELECT {PRIVILEGE_CHECKS[kind]}(%s, %s)", (name, privilege))
                granted = cur.fetchone()[0]
            except psycopg2.Error:  # the object is missing: the schema check names it, not this one
                conn.rollback()
                continue
            if not granted:
                lacking.append(f"{privilege} on {name}")
    return lacking


def identity_roles(settings: Settings) -> dict[str, str]:
    """The contract's roles mapped to the configured identities that play them (external mode)."""
    return judged_as(settings.credentials("consumer")[0], settings.credentials("producer")[0])


def require_identity_rights(settings: Settings) -> None:
    """Each external identity can do what its role needs; one line naming the identity and the right."""
    for role in ("consumer", "producer", "admin"):
        user, password = settings.credentials(role)
        endpoint = DbEndpoint(settings.db_host, settings.db_port, settings.db_name, user, password)
        with session(endpoint) as conn:
            lacking = missing_rights(conn, role)
        if not lacking:
            continue
        var = IDENTITY_VARS[role]
        defaulted = (f" ({var} is unset, so it is the consumer's identity)"
                     if role != "consumer" and user == settings.db_user else "")
        raise SuiteError(
            f"the {role} identity {user!r}{defaulted} cannot do what {WHAT_FOR[role]} needs: lacks "
            f"{', '.join(lacking)}",
            f"set {var} (and its password variable) to a role with these rights, or grant them "
            "(sql/004_roles.sql shows the reference grants)")


def require_producer_command(settings: Settings) -> None:
    """The producer under test must run: ``<command> --help`` exits 0 (asked through its boundary)."""
    argv = settings.producer_argv()
    shown = " ".join("python" if a == sys.executable else a for a in argv)
    fix = ("set -D producer=<module> or -D producer_command='<executable> [args]' "
           "(default: python -m tickstock_producer)")
    try:
        proc = subprocess.run([*argv, "--help"], cwd=ROOT, capture_output=True, text=True,
                              timeout=M.deadline(M.PRODUCER_COMMAND_DEADLINE_S))
    except (OSError, subprocess.SubprocessError) as exc:
        raise SuiteError(f"the producer command `{shown}` cannot be run: {first_line(exc)}", fix) from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise SuiteError(f"the producer command `{shown} --help` exited {proc.returncode}: "
                         f"{lines[-1] if lines else 'no output'}", fix)
