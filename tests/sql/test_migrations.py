"""Tests of the SQL migrations in ``sql/`` against a real, throwaway PostgreSQL.

A module-scoped fixture runs ``initdb`` + ``pg_ctl`` from the local PostgreSQL binaries on a
free port (as the ``postgres`` OS user when running as root, because the server refuses to run
as root) and removes everything on teardown. The machine's own server is never touched.

Each migration file is applied the way the project's runner applies it: the whole file in one
``cursor.execute`` inside one transaction.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from datetime import datetime
from pathlib import Path

import pytest

from tickstock_acceptance.core.waiting import wait_until

psycopg2 = pytest.importorskip("psycopg2")
pg_errors = pytest.importorskip("psycopg2.errors")
pg_extras = pytest.importorskip("psycopg2.extras")

# SQL_MIGRATIONS_DIR lets a deliberately broken copy of sql/ be tested (the tests must fail).
SQL_DIR = Path(os.environ.get("SQL_MIGRATIONS_DIR")
               or Path(__file__).resolve().parents[2] / "sql")
# Every migration in order (001 base schema, 002 Phase 3 columns, 003 ETF functions, 004 roles,
# 005 the synthetic-data schema): the second application of all of them must change nothing.
MIGRATIONS = sorted(p.name for p in SQL_DIR.glob("[0-9][0-9][0-9]_*.sql"))
READ_FUNCS = ("get_etf_universe", "get_etf_universes_summary", "validate_etf_universe_symbols")
ALL_FUNCS = (*READ_FUNCS, "update_etf_universe")

LEGACY_SELECT = (
    "SELECT id, type, name, key, value, environment, created_at, updated_at "
    "FROM cache_entries WHERE type = %s AND name = %s AND key = %s"
)
LEGACY_KEY = ("market_leaders", "top_10", "leaders")


# --------------------------------------------------------------------------------------------
# Throwaway server
# --------------------------------------------------------------------------------------------


def _pg_bindir() -> str | None:
    env = os.environ.get("PG_BINDIR")
    if env and Path(env, "initdb").exists():
        return env
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return str(Path(candidates[-1]).parent)
    found = shutil.which("initdb")
    return str(Path(found).parent) if found else None


def _free_port() -> int:
    try:
        import port_for
    except ImportError:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    return port_for.select_random()


@pytest.fixture(scope="module")
def pg_server():
    """Start a private PostgreSQL; yield its connection parameters; stop and delete it."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; set PG_BINDIR")

    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' OS user to run the server")
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root and 'runuser' is not available to drop privileges")
        prefix = [runuser, "-u", "postgres", "--"]

    base = tempfile.mkdtemp(prefix="sqlmig-")
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    os.chmod(base, 0o700)
    data = os.path.join(base, "data")
    log = os.path.join(base, "server.log")
    port = _free_port()

    def pg(tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*prefix, os.path.join(bindir, tool), *args],
            capture_output=True, text=True, check=check, timeout=60,
        )

    started = False
    try:
        pg("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
           "--no-sync", "--locale=C")
        opts = (f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        res = pg("pg_ctl", "-D", data, "-l", log, "-o", opts, "-w", "-t", "30", "start",
                 check=False)
        if res.returncode != 0:
            tail = Path(log).read_text() if Path(log).exists() else ""
            pytest.fail(f"pg_ctl start failed: {res.stdout}{res.stderr}\n{tail}")
        started = True
        yield {"host": "127.0.0.1", "port": port, "user": "postgres"}
    finally:
        if started:
            pg("pg_ctl", "-D", data, "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)


def _connect(server: dict, dbname: str, autocommit: bool = False):
    conn = psycopg2.connect(dbname=dbname, connect_timeout=10, **server)
    conn.autocommit = autocommit
    return conn


def _apply(conn, filename: str) -> None:
    """Apply one migration file as the runner does: whole file, one execute, one transaction."""
    text = (SQL_DIR / filename).read_text()
    try:
        with conn.cursor() as cur:
            cur.execute(text)
        conn.commit()
    except Exception:
        conn.rollback()
        raise


# --------------------------------------------------------------------------------------------
# Catalog snapshot (for the "second application changes nothing" check)
# --------------------------------------------------------------------------------------------

SNAPSHOT_QUERIES = {
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length,
               numeric_precision, numeric_scale, is_nullable, column_default
          FROM information_schema.columns WHERE table_schema = 'public'
         ORDER BY table_name, ordinal_position""",
    "constraints": """
        SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid)
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = 'public' ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
         WHERE schemaname = 'public' ORDER BY 1, 2""",
    "relations": """
        SELECT c.relname, c.relkind, c.relacl::text
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' ORDER BY 1""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid),
               md5(p.prosrc), p.provolatile, p.prosecdef, p.proacl::text,
               obj_description(p.oid, 'pg_proc')
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public' ORDER BY 1, 2""",
    "schema_acl": "SELECT nspacl::text FROM pg_namespace WHERE nspname = 'public'",
    "database_acl": "SELECT datacl::text FROM pg_database WHERE datname = current_database()",
    "roles": """
        SELECT rolname, rolcanlogin, rolsuper, rolinherit, rolcreaterole, rolcreatedb
          FROM pg_roles WHERE rolname IN ('app_readwrite', 'tickstock_producer') ORDER BY 1""",
    "data": """
        SELECT id, type, name, key, value, environment, created_at, updated_at,
               universe_category, liquidity_filter, universe_metadata, last_universe_update
          FROM cache_entries ORDER BY id""",
}


def _snapshot(conn) -> dict:
    out = {}
    with conn.cursor() as cur:
        for name, q in SNAPSHOT_QUERIES.items():
            cur.execute(q)
            out[name] = cur.fetchall()
    conn.rollback()
    return out


# --------------------------------------------------------------------------------------------
# The migrated database used by every test
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def migrated(pg_server):
    """Create a database, apply 001, write a legacy row, apply the rest, then all of them again.

    Yields a dict with the server params, the db name, the legacy reads taken after 001,
    after 002-004, and after the second application, and the catalog snapshots before and
    after the second application.
    """
    admin = _connect(pg_server, "postgres", autocommit=True)
    dbname = "migtest"
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {dbname}")
        cur.execute(f"CREATE DATABASE {dbname}")
    conn = _connect(pg_server, dbname)
    try:
        _apply(conn, MIGRATIONS[0])
        with conn.cursor() as cur:
            # Legacy writes, as pre-Phase-3 code issued them (named and positional columns).
            cur.execute(
                "INSERT INTO cache_entries (type, name, key, value) VALUES (%s, %s, %s, %s)",
                (*LEGACY_KEY, pg_extras.Json({"stocks": ["AAPL", "MSFT"], "n": 2})),
            )
            cur.execute(
                "INSERT INTO cache_entries VALUES (DEFAULT, 'stock_universe', 'sp500', "
                "'all', '{\"symbols\": [\"AAPL\"]}', 'DEFAULT', now(), now())"
            )
        conn.commit()
        legacy_after_001 = _legacy_read(conn)

        for f in MIGRATIONS[1:]:
            _apply(conn, f)
        legacy_after_004 = _legacy_read(conn)

        before = _snapshot(conn)
        for f in MIGRATIONS:
            _apply(conn, f)
        after = _snapshot(conn)
        legacy_after_rerun = _legacy_read(conn)
    finally:
        conn.close()

    yield {
        "server": pg_server,
        "dbname": dbname,
        "legacy": (legacy_after_001, legacy_after_004, legacy_after_rerun),
        "snapshots": (before, after),
    }
    admin.close()


def _legacy_read(conn):
    with conn.cursor() as cur:
        cur.execute(LEGACY_SELECT, LEGACY_KEY)
        rows = cur.fetchall()
    conn.rollback()
    return rows


@pytest.fixture
def db(migrated):
    """An autocommit connection to the migrated database; ETF test rows removed afterwards."""
    conn = _connect(migrated["server"], migrated["dbname"], autocommit=True)
    yield conn
    with contextlib.suppress(Exception):
        conn.rollback()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("RESET ROLE")
        cur.execute("DELETE FROM cache_entries WHERE type = 'etf_universe'")
        cur.execute("DELETE FROM symbols WHERE symbol LIKE 'TEST\\_%'")
        cur.execute("DELETE FROM app_user_preferences WHERE user_id LIKE 'test\\_%'")
    conn.close()


def _one(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def _rows(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def _update(conn, theme, symbols, metadata=None):
    J = pg_extras.Json
    if metadata is None:
        return _one(conn, "SELECT update_etf_universe(%s, %s)", (theme, J(symbols)))
    return _one(conn, "SELECT update_etf_universe(%s, %s, %s)", (theme, J(symbols), J(metadata)))


def _get(conn, theme, apply_filter=None):
    if apply_filter is None:
        return _one(conn, "SELECT get_etf_universe(%s)", (theme,))
    return _one(conn, "SELECT get_etf_universe(%s, %s)", (theme, apply_filter))


# --------------------------------------------------------------------------------------------
# Migrations: idempotency and backward compatibility
# --------------------------------------------------------------------------------------------


def test_second_application_changes_nothing(migrated):
    before, after = migrated["snapshots"]
    for part in SNAPSHOT_QUERIES:
        assert after[part] == before[part], f"re-applying the migrations changed {part}"
    # and the snapshot is not vacuous
    assert {r[0] for r in before["functions"]} >= set(ALL_FUNCS)
    assert {r[1] for r in before["indexes"]} >= {"idx_cache_entries_category",
                                                  "idx_cache_entries_updated"}
    assert len(before["roles"]) == 2 and all(r[1] for r in before["roles"])  # LOGIN roles


def test_phase3_columns_and_indexes_match_spec(db):
    cols = dict(_rows(db, """
        SELECT column_name, data_type || coalesce('(' || character_maximum_length || ')', '')
               || coalesce(' default ' || column_default, '')
          FROM information_schema.columns
         WHERE table_name = 'cache_entries' AND ordinal_position > 8"""))
    assert cols == {
        "universe_category": "character varying(50)",
        "liquidity_filter": "jsonb",
        "universe_metadata": "jsonb",
        "last_universe_update": "timestamp without time zone default CURRENT_TIMESTAMP",
    }
    idx = dict(_rows(db, "SELECT indexname, indexdef FROM pg_indexes "
                         "WHERE tablename = 'cache_entries' AND indexname LIKE 'idx_%'"))
    assert set(idx) == {"idx_cache_entries_category", "idx_cache_entries_updated"}
    assert idx["idx_cache_entries_category"].endswith("(universe_category)")
    assert idx["idx_cache_entries_updated"].endswith("(last_universe_update DESC)")


def test_legacy_row_reads_identically_after_phase3(migrated, db):
    after_001, after_004, after_rerun = migrated["legacy"]
    assert len(after_001) == 1
    assert after_001[0][4] == {"stocks": ["AAPL", "MSFT"], "n": 2}
    assert after_004 == after_001
    assert after_rerun == after_001
    assert _rows(db, LEGACY_SELECT, LEGACY_KEY) == after_001
    # legacy writes (named and positional) still work after Phase 3
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO cache_entries (type, name, key, value) VALUES ('test_legacy', 'n', 'k', "
            "'{\"a\": 1}') ON CONFLICT (type, name, key, environment) "
            "DO UPDATE SET value = EXCLUDED.value"
        )
        cur.execute("INSERT INTO cache_entries VALUES (DEFAULT, 'test_legacy', 'n2', 'k2', '{}', "
                    "'DEFAULT', now(), now())")
        cur.execute("SELECT value FROM cache_entries WHERE type = 'test_legacy' AND name = 'n' "
                    "AND key = 'k'")
        assert cur.fetchone()[0] == {"a": 1}
        cur.execute("DELETE FROM cache_entries WHERE type = 'test_legacy'")


def test_base_schema_constraints(db):
    with pytest.raises(pg_errors.CheckViolation):
        _one(db, "INSERT INTO symbols (symbol, type) VALUES ('TEST_BAD', 'BOND') RETURNING 1")
    _one(db, "INSERT INTO symbols (symbol) VALUES ('TEST_OK') RETURNING 1")
    assert _one(db, "SELECT type FROM symbols WHERE symbol = 'TEST_OK'") == "CS"
    with pytest.raises(pg_errors.CheckViolation):  # high below close
        _one(db, "INSERT INTO ohlcv_daily VALUES ('TEST_OK', '2024-01-02', 10, 10.5, 9, 11, 100) "
                 "RETURNING 1")
    _one(db, "INSERT INTO ohlcv_daily VALUES ('TEST_OK', '2024-01-02', 10, 11, 9, 10.5, 100) "
             "RETURNING 1")
    _one(db, "DELETE FROM symbols WHERE symbol = 'TEST_OK' RETURNING 1")  # cascades
    assert _one(db, "SELECT count(*) FROM ohlcv_daily WHERE symbol = 'TEST_OK'") == 0


# --------------------------------------------------------------------------------------------
# update_etf_universe
# --------------------------------------------------------------------------------------------


def test_update_create_then_update_diff(db):
    created = _update(db, "growth", ["qqq", "VUG", " spy ", "QQQ"],
                      {"focus": "growth", "criteria": "large growth"})
    assert created["action"] == "created"
    assert created["cache_key"] == "etf_growth"
    assert created["symbols_count"] == 3
    assert created["added_count"] == 3 and created["symbols_added"] == ["QQQ", "SPY", "VUG"]
    assert created["removed_count"] == 0 and created["symbols_removed"] == []
    assert isinstance(created["timestamp"], str)
    assert datetime.fromisoformat(created["timestamp"]).tzinfo is not None

    row = _rows(db, """SELECT type, name, key, environment, universe_category, value,
                              liquidity_filter, universe_metadata, last_universe_update
                         FROM cache_entries WHERE key = 'etf_growth'""")
    assert len(row) == 1
    typ, name, key, env, cat, value, lf, meta, last = row[0]
    assert (typ, name, key, env, cat) == ("etf_universe", "growth", "etf_growth", "DEFAULT", "ETF")
    assert value == {"symbols": ["QQQ", "SPY", "VUG"]}
    assert lf is None
    assert meta == {"focus": "growth", "criteria": "large growth"}
    assert last is not None

    updated = _update(db, "growth", ["VUG", "IWF", "ARKK", "QQQ"],
                      {"liquidity_filter": {"min_aum": 1e9}})
    assert updated["action"] == "updated"
    assert updated["cache_key"] == "etf_growth"
    assert updated["symbols_count"] == 4
    assert updated["symbols_added"] == ["ARKK", "IWF"] and updated["added_count"] == 2
    assert updated["symbols_removed"] == ["SPY"] and updated["removed_count"] == 1
    value, lf, meta, last2 = _rows(db, "SELECT value, liquidity_filter, universe_metadata, "
                                       "last_universe_update FROM cache_entries "
                                       "WHERE key = 'etf_growth'")[0]
    assert value == {"symbols": ["ARKK", "IWF", "QQQ", "VUG"]}
    assert lf == {"min_aum": 1e9}
    assert meta == {"liquidity_filter": {"min_aum": 1e9}}
    assert last2 >= last

    same = _update(db, "growth", ["ARKK", "IWF", "QQQ", "VUG"])
    assert same["action"] == "updated"
    assert (same["added_count"], same["removed_count"]) == (0, 0)
    assert _one(db, "SELECT liquidity_filter IS NULL AND universe_metadata = '{}' "
                    "FROM cache_entries WHERE key = 'etf_growth'") is True
    assert _one(db, "SELECT count(*) FROM cache_entries WHERE type = 'etf_universe'") == 1


@pytest.mark.parametrize(
    ("theme", "symbols", "metadata", "fragment"),
    [
        ("Growth", ["SPY"], None, "invalid theme"),
        ("1growth", ["SPY"], None, "invalid theme"),
        ("grow-th", ["SPY"], None, "invalid theme"),
        (None, ["SPY"], None, "invalid theme"),
        ("growth", {"symbols": ["SPY"]}, None, "JSON array"),
        ("growth", "SPY", None, "JSON array"),
        ("growth", ["SPY", ""], None, "non-empty strings"),
        ("growth", ["SPY", "  "], None, "non-empty strings"),
        ("growth", ["SPY", 3], None, "non-empty strings"),
        ("growth", ["SPY", None], None, "non-empty strings"),
        ("growth", ["SPY"], {"liquidity_filter": {"min_aum": "big"}}, "JSON numbers"),
        ("growth", ["SPY"], {"liquidity_filter": [1]}, "JSON object"),
        ("growth", ["SPY"], [1], "metadata must be a JSON object"),
    ],
)
def test_update_rejects_invalid_input(db, theme, symbols, metadata, fragment):
    with pytest.raises(pg_errors.InvalidParameterValue) as exc:
        _update(db, theme, symbols, metadata)
    assert fragment in str(exc.value)
    assert _one(db, "SELECT count(*) FROM cache_entries WHERE type = 'etf_universe'") == 0


def _wait_until_blocked(server, dbname, pid, deadline_s=10.0):
    watcher = _connect(server, dbname, autocommit=True)
    try:
        wait_until(lambda: _one(watcher, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                                (pid,)) == "Lock",
                   deadline_s, f"backend {pid} blocked on a lock")
    finally:
        watcher.close()


def _concurrent_pair(migrated, first_symbols, second_symbols, theme):
    """First call runs in an open transaction; second call (another session) must block,
    then succeed once the first commits. Returns both results."""
    server, dbname = migrated["server"], migrated["dbname"]
    a = _connect(server, dbname)
    b = _connect(server, dbname, autocommit=True)
    result: dict = {}
    try:
        first = _update(a, theme, first_symbols)

        def run():
            try:
                result["value"] = _update(b, theme, second_symbols)
            except Exception as e:  # reported by the assertion below
                result["error"] = e

        t = threading.Thread(target=run)
        t.start()
        _wait_until_blocked(server, dbname, b.get_backend_pid())
        a.commit()
        t.join(timeout=10)
        assert not t.is_alive(), "second update never finished"
        assert "error" not in result, f"concurrent update failed: {result.get('error')!r}"
        return first, result["value"]
    finally:
        a.close()
        b.close()


def test_concurrent_create_of_same_theme(migrated, db):
    first, second = _concurrent_pair(migrated, ["AAA", "BBB"], ["BBB", "CCC"], "conc")
    assert first["action"] == "created"
    assert second["action"] == "updated"  # diffed against the row the first call committed
    assert second["symbols_added"] == ["CCC"] and second["symbols_removed"] == ["AAA"]
    assert _get(db, "conc")["symbols"] == ["BBB", "CCC"]
    assert _one(db, "SELECT count(*) FROM cache_entries WHERE key = 'etf_conc'") == 1


def test_concurrent_update_diffs_against_locked_row(migrated, db):
    _update(db, "conc", ["AAA"])
    first, second = _concurrent_pair(migrated, ["AAA", "BBB"], ["CCC"], "conc")
    assert first["action"] == "updated" and first["symbols_added"] == ["BBB"]
    assert second["action"] == "updated"
    assert second["symbols_removed"] == ["AAA", "BBB"] and second["symbols_added"] == ["CCC"]


# --------------------------------------------------------------------------------------------
# get_etf_universe
# --------------------------------------------------------------------------------------------


def test_get_not_found_shape(db):
    assert _get(db, "nope") == {"error": "Universe not found: nope"}
    assert _get(db, "nope", True) == {"error": "Universe not found: nope"}


FACTS = {
    "BIG": {"aum": 5e9, "avg_volume": 2_000_000},
    "LOWAUM": {"aum": 2e8, "avg_volume": 5_000_000},  # below min_aum
    "LOWVOL": {"aum": 3e9, "avg_volume": 50_000},  # below min_avg_volume
    "EDGE": {"aum": 1e9, "avg_volume": 100_000},  # exactly at both thresholds
    "HALF": {"aum": 4e9},  # avg_volume fact missing
    # "NOFACTS" has no entry at all
}
MEMBERS = ["BIG", "LOWAUM", "LOWVOL", "EDGE", "HALF", "NOFACTS"]
FILTER = {"min_aum": 1e9, "min_avg_volume": 100000}


def test_get_returns_all_without_filter(db):
    meta = {"focus": "liquid", "liquidity_filter": FILTER, "symbol_facts": FACTS}
    _update(db, "liquid", MEMBERS, meta)
    everything = sorted(MEMBERS)
    for flag in (None, False):
        got = _get(db, "liquid", flag)
        assert got["cache_key"] == "etf_liquid" and got["theme"] == "liquid"
        assert got["symbols"] == everything and got["symbol_count"] == 6
        assert got["filtered"] is False
        assert got["filtered_out"] == [] and got["filtered_out_count"] == 0
        assert got["metadata"] == meta
        assert got["liquidity_filter"] == FILTER
        datetime.fromisoformat(got["last_updated"])
    assert set(got) == {"cache_key", "theme", "symbols", "symbol_count", "metadata",
                        "liquidity_filter", "last_updated", "filtered", "filtered_out",
                        "filtered_out_count"}


def test_get_applies_liquidity_filter(db):
    _update(db, "liquid", MEMBERS, {"liquidity_filter": FILTER, "symbol_facts": FACTS})
    got = _get(db, "liquid", True)
    assert got["filtered"] is True
    assert got["symbols"] == ["BIG", "EDGE"]
    assert got["symbol_count"] == 2
    assert got["filtered_out"] == ["HALF", "LOWAUM", "LOWVOL", "NOFACTS"]
    assert got["filtered_out_count"] == 4


def test_get_filter_checks_only_thresholds_present(db):
    _update(db, "liquid", MEMBERS,
            {"liquidity_filter": {"min_aum": 1e9}, "symbol_facts": FACTS})
    got = _get(db, "liquid", True)
    assert got["symbols"] == ["BIG", "EDGE", "HALF", "LOWVOL"]
    assert got["filtered_out"] == ["LOWAUM", "NOFACTS"]


def test_get_filter_requested_but_none_stored(db):
    _update(db, "plain", ["B", "A"], {"symbol_facts": FACTS})
    got = _get(db, "plain", True)
    assert got["filtered"] is False
    assert got["symbols"] == ["A", "B"] and got["symbol_count"] == 2
    assert got["filtered_out"] == [] and got["filtered_out_count"] == 0
    assert got["liquidity_filter"] is None


def test_get_filter_without_any_facts_excludes_everything(db):
    _update(db, "nofacts", ["A", "B"], {"liquidity_filter": FILTER})
    got = _get(db, "nofacts", True)
    assert got["filtered"] is True
    assert got["symbols"] == [] and got["symbol_count"] == 0
    assert got["filtered_out"] == ["A", "B"]


# --------------------------------------------------------------------------------------------
# summary and validation
# --------------------------------------------------------------------------------------------


def test_summary_counts_and_samples(db):
    big = [f"S{i:03d}" for i in range(230)]  # 200+ symbols, counted exactly
    _update(db, "technology", list(reversed(big)), {"focus": "tech", "criteria": "cap > 1B"})
    _update(db, "bonds", ["TLT", "AGG", "BND"], {"focus": "fixed income"})
    _update(db, "sectors", [])
    rows = _rows(db, "SELECT * FROM get_etf_universes_summary()")
    assert [r[0] for r in rows] == ["bonds", "sectors", "technology"]
    by_theme = {r[0]: r for r in rows}
    assert by_theme["technology"][1] == 230
    assert by_theme["technology"][3:] == ("tech", "cap > 1B", big[:5])
    assert by_theme["bonds"][1] == 3
    assert by_theme["bonds"][3:] == ("fixed income", None, ["AGG", "BND", "TLT"])
    assert by_theme["sectors"][1] == 0 and by_theme["sectors"][5] == []
    assert all(isinstance(r[2], datetime) for r in rows)
    # legacy / non-ETF rows never appear
    assert "top_10" not in by_theme


def test_validate_rows(db):
    with db.cursor() as cur:
        cur.execute("INSERT INTO symbols (symbol, type, active) VALUES "
                    "('TEST_ETF1', 'ETF', true), ('TEST_ETF2', 'ETF', false), "
                    "('TEST_CS1', 'CS', true)")
    _update(db, "alpha", ["TEST_ETF2", "TEST_ETF1", "TEST_MISSING"])
    _update(db, "beta", ["TEST_CS1"])
    rows = _rows(db, "SELECT * FROM validate_etf_universe_symbols()")
    assert rows == [
        ("etf_alpha", "TEST_ETF1", True, "ETF", True),
        ("etf_alpha", "TEST_ETF2", True, "ETF", False),
        ("etf_alpha", "TEST_MISSING", False, None, None),
        ("etf_beta", "TEST_CS1", True, "CS", True),
    ]


# --------------------------------------------------------------------------------------------
# Role boundary
# --------------------------------------------------------------------------------------------


def _as_role(conn, role, sql, args=None):
    """Run one statement as `role` inside a transaction that is always rolled back."""
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute(f"SET LOCAL ROLE {role}")
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.rollback()
        conn.autocommit = True


DENIED = pg_errors.InsufficientPrivilege


def test_function_acl_exact(db):
    rows = _rows(db, """
        SELECT p.proname,
               has_function_privilege('app_readwrite', p.oid, 'EXECUTE'),
               has_function_privilege('tickstock_producer', p.oid, 'EXECUTE'),
               EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                        WHERE a.grantee = 0)  -- PUBLIC
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public' AND p.proname LIKE '%etf_universe%' ORDER BY 1""")
    assert {r[0]: r[1:] for r in rows} == {
        "get_etf_universe": (True, True, False),
        "get_etf_universes_summary": (True, True, False),
        "update_etf_universe": (False, True, False),
        "validate_etf_universe_symbols": (True, True, False),
    }


def test_consumer_boundary(db):
    _update(db, "growth", ["QQQ"])
    role = "app_readwrite"
    # allowed: read every table, the three read functions, its own table
    for table in ("symbols", "cache_entries", "ohlcv_daily", "app_user_preferences"):
        _as_role(db, role, f"SELECT count(*) FROM {table}")
    assert _as_role(db, role, "SELECT get_etf_universe('growth', true)")[0][0]["symbols"] == [
        "QQQ"]
    _as_role(db, role, "SELECT * FROM get_etf_universes_summary()")
    _as_role(db, role, "SELECT * FROM validate_etf_universe_symbols()")
    _as_role(db, role, "INSERT INTO app_user_preferences VALUES ('test_u', 'theme', '\"dark\"')")
    _as_role(db, role, "UPDATE app_user_preferences SET value = '1' WHERE user_id = 'test_u'")
    _as_role(db, role, "DELETE FROM app_user_preferences WHERE user_id = 'test_u'")
    # forbidden: any write to producer-owned data, the write function
    forbidden = [
        "INSERT INTO cache_entries (type, name, key) VALUES ('test_x', 'n', 'k')",
        "UPDATE cache_entries SET value = '{}'",
        "DELETE FROM cache_entries",
        "TRUNCATE cache_entries",
        "INSERT INTO symbols (symbol) VALUES ('TEST_C')",
        "UPDATE symbols SET active = false",
        "DELETE FROM ohlcv_daily",
        "INSERT INTO ohlcv_daily VALUES ('TEST_C', '2024-01-02', 1, 1, 1, 1, 1)",
        "SELECT nextval('cache_entries_id_seq')",
        "SELECT update_etf_universe('growth', '[\"EVIL\"]'::jsonb)",
        "SELECT update_etf_universe('newtheme', '[\"EVIL\"]'::jsonb, '{}'::jsonb)",
    ]
    for sql in forbidden:
        with pytest.raises(DENIED):
            _as_role(db, role, sql)
    assert _get(db, "growth")["symbols"] == ["QQQ"]


def test_producer_boundary(db):
    role = "tickstock_producer"
    # allowed: its tables, sequences (via the function's INSERT), all four functions
    res = _as_role(db, role, "SELECT update_etf_universe('prodtheme', '[\"SPY\"]'::jsonb)")
    assert res[0][0]["action"] == "created"
    _as_role(db, role, "INSERT INTO symbols (symbol, type) VALUES ('TEST_P', 'TEST')")
    _as_role(db, role, "WITH s AS (INSERT INTO symbols (symbol) VALUES ('TEST_P2') RETURNING 1) "
                       "INSERT INTO ohlcv_daily SELECT 'TEST_P2', '2024-01-02', 1, 2, 1, 1, 10 "
                       "FROM s")
    _as_role(db, role, "UPDATE cache_entries SET value = value WHERE false")
    _as_role(db, role, "DELETE FROM ohlcv_daily WHERE false")
    _as_role(db, role, "SELECT nextval('cache_entries_id_seq')")
    for fn in ("get_etf_universe('x')", "* FROM get_etf_universes_summary()",
               "* FROM validate_etf_universe_symbols()"):
        _as_role(db, role, f"SELECT {fn}")
    # forbidden: the consumer's table
    for sql in (
        "INSERT INTO app_user_preferences VALUES ('test_p', 'k', '1')",
        "UPDATE app_user_preferences SET value = '1'",
        "DELETE FROM app_user_preferences",
        "TRUNCATE app_user_preferences",
    ):
        with pytest.raises(DENIED):
            _as_role(db, role, sql)


def test_synthetic_schema_boundary(db):
    """Synthetic scenario data: the producer writes it, TickStockApp cannot even read it, and the
    staging bars table takes a row the production table would refuse (the suite judges rows)."""
    producer = "tickstock_producer"
    # Each statement runs in its own rolled-back transaction: the symbol comes with its bar.
    _as_role(db, producer, "WITH s AS (INSERT INTO synthetic.symbols (symbol, scenario) "
                           "VALUES ('TEST_SYN', 'crash_2020') RETURNING 1) "
                           "INSERT INTO synthetic.ohlcv_daily "
                           "SELECT 'TEST_SYN', '2024-01-02', 5, 4, 1, 6, 10 FROM s")
    _as_role(db, producer, "SELECT count(*) FROM synthetic.scenario_outcomes")
    for sql in ("INSERT INTO synthetic.symbols (symbol, scenario) VALUES ('AAPL', 'x')",
                "INSERT INTO synthetic.symbols (symbol, type, scenario) VALUES ('TEST_CS', 'CS', 'x')"):
        with pytest.raises(pg_errors.CheckViolation):
            _as_role(db, producer, sql)
    for sql in ("SELECT count(*) FROM synthetic.symbols", "SELECT count(*) FROM synthetic.ohlcv_daily",
                "SELECT count(*) FROM synthetic.scenario_outcomes",
                "INSERT INTO synthetic.symbols (symbol, scenario) VALUES ('TEST_APP', 'x')"):
        with pytest.raises(DENIED):
            _as_role(db, "app_readwrite", sql)
