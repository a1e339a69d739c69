"""The reference producer's cache synchronization: market, rules, messages, and one real run.

Pure parts: the deterministic market (a digest pins its first rows), the tier and universe-name
rules against ``contract/reference/cache_sync.json``, the correlation rule against a direct
computation, every message the synchronizer builds against its JSON Schema (the suite's own
validator), and the publisher's ALSO_PUBLISHED_ON delivery. Then ONE integration test on the
session's throwaway PostgreSQL and Redis: load a 300-symbol market, announce its IPOs, send the EOD
signal, run ``sync-once``; a duplicate signal handled by ``sync-service`` (a real process) does
nothing; an empty scope refuses to wipe its universes.
"""

from __future__ import annotations

import json
import math
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import cli_env
from tickstock_acceptance.contract.events import message_problems
from tickstock_producer import cli, events
from tickstock_producer.cache_sync import (
    AUTOMATION_STREAM,
    EOD_STREAM,
    GROUP,
    TASKS,
    correlations,
    returns_of,
    sector_slug,
    universe_name,
)
from tickstock_producer.events import EventPublisher
from tickstock_producer.historical_loader import synthetic_bars
from tickstock_producer.market import generate_market, market_digest, tier_of

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = json.loads((ROOT / "contract/reference/cache_sync.json").read_text())
MESSAGING = json.loads((ROOT / "contract/messaging.json").read_text())
AS_OF = date(2026, 10, 30)
# Changing the generator changes this: a machine whose output differs fails here.
FIRST_ROWS_DIGEST = "1b98ad648f3696b5dee668d9e122b34dd15fa3740c39f1db1d7dbb0cafb49052"


# ---- the market ------------------------------------------------------------------------------

def test_market_is_deterministic_and_pinned():
    market = generate_market()
    assert len(market) == REFERENCE["market"]["symbols"] == 5000
    assert market_digest(market[:10]) == FIRST_ROWS_DIGEST
    assert generate_market(300) == market[:300]  # a smaller market is the first rows of a larger one
    assert generate_market(10, "TEST_X") != market[:10]  # the seed is the prefix
    assert market[0].symbol == "TEST_M00000" and market[-1].symbol == "TEST_M04999"
    tiers = {t["name"]: sum(tier_of(s.market_cap) == t["name"] for s in market) for t in REFERENCE["tiers"]}
    assert min(tiers.values()) > 0 and tiers["large_cap"] >= 100
    assert 0.01 <= sum(not s.active for s in market) / 5000 <= 0.03
    recent = [s for s in market if s.list_date > AS_OF - timedelta(days=20)]
    assert 0.005 <= len(recent) / 5000 <= 0.015 and all(s.list_date < AS_OF for s in recent)
    old = [s for s in market if s not in recent]
    assert all(date(1990, 1, 1) <= s.list_date <= date(2025, 12, 31) for s in old)
    assert {s.sector for s in market} == set(REFERENCE["sectors"])
    assert all(s.type == "CS" and isinstance(s.market_cap, int) and 50e6 <= s.market_cap <= 2e12
               for s in market)


@pytest.mark.parametrize("argv, fragment", [
    (["load-market", "--prefix", "M"], "not a test prefix"),
    (["load-market", "--count", "0"], "--count must be between"),
    (["load-market", "--prefix", "TEST_MUCH_TOO_LONG"], "at most 15 characters"),
    (["load-market", "--as-of", "2026-02-30"], "is not a date"),
    (["end-of-day"], "the following arguments are required: --date"),
    (["monitor-ipos", "--as-of", "2026-10-30", "--days", "0"], "--days must be at least 1"),
    (["sync-service", "--max-seconds", "0"], "--max-seconds must be positive"),
    (["sync-once", "--timeout", "-1"], "--timeout must not be negative"),
])
def test_bad_arguments_exit_2_before_connecting(argv, fragment, capsys):
    def never(_config):
        raise AssertionError("connected for bad arguments")

    assert cli.main(["--json", *argv], factory=never) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and fragment in err, err


# ---- rules -----------------------------------------------------------------------------------

def test_tiers_and_names_follow_the_reference():
    assert [t["name"] for t in REFERENCE["tiers"]] == ["large_cap", "mid_cap", "small_cap", "micro_cap"]
    cases = {10e9: "large_cap", 10e9 - 1: "mid_cap", 2e9: "mid_cap", 2e9 - 1: "small_cap",
             300e6: "small_cap", 300e6 - 1: "micro_cap", 0: "micro_cap", None: "micro_cap", 2e12: "large_cap"}
    assert {cap: tier_of(cap) for cap in cases} == cases
    assert universe_name("tier", "u_", tier="mid_cap") == "u_mid_cap"
    assert universe_name("top", "", n=100) == "top_100"
    assert universe_name("theme", "u_", sector="health_care") == "u_theme_health_care"
    assert universe_name("ipo", "u_", tier="micro_cap", sector="energy") == "u_ipo_micro_cap_energy"
    assert universe_name("etf_correlation", "", theme="bonds") == "etf_correlation_bonds"
    assert sector_slug("Real Estate") == "real_estate"
    assert sector_slug("Crypto") == sector_slug(None) == "other"
    assert TASKS == tuple(REFERENCE["tasks"])


def _pearson(x: list[float], y: list[float]) -> float:
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def test_correlation_rule_matches_a_direct_computation():
    closes = {s: [b[5] for b in synthetic_bars(s, 31)] for s in ("SPY", "QQQ", "IWM", "DIA")}
    closes["FLAT"] = [50.0] * 31  # zero variance: excluded
    included, pairs, average = correlations(closes)
    assert included == ["DIA", "IWM", "QQQ", "SPY"]
    expected = []
    for i, a in enumerate(included):
        for b in included[i + 1:]:
            ra = [closes[a][t] / closes[a][t - 1] - 1 for t in range(1, 31)]
            rb = [closes[b][t] / closes[b][t - 1] - 1 for t in range(1, 31)]
            expected.append([a, b, round(_pearson(ra, rb), 4)])
    assert pairs == expected and len(pairs) == 6
    assert average == round(sum(p[2] for p in expected) / 6, 4)
    assert len(returns_of(closes["SPY"])) == 30
    assert correlations({"A": closes["SPY"], "B": [1.0] * 31}) == (["A"], [], None)


# ---- messages --------------------------------------------------------------------------------

RUN = {"run_id": 1, "trading_date": "2026-10-30"}
BUILT = {
    "eod_complete": {"trading_date": "2026-10-30", "symbols_processed": 0},
    "ipo_listed": {"symbol": "TEST_M00111", "name": None, "list_date": "2026-10-21", "market_cap": None,
                   "sector": None, "industry": None},
    "daily_sync_complete": {
        **RUN, "scope": "test_", "status": "completed", "total_changes": 0,
        "task_summary": {t: {"status": "completed", "changes": 0} for t in TASKS}, "changes_by_type": {},
        "universes_changed": 0, "started_at": "2026-10-30T20:00:00.123456+00:00",
        "finished_at": "2026-10-30T20:00:00.523456+00:00", "duration_s": 0.4, "signal_id": "f" * 32},
    "universe_synchronized": {**RUN, "universe": "test_top_100", "universe_category": "STOCK",
                              "change_count": 1,
                              "actions": {"added": 0, "removed": 0, "created": 1, "correlation_updated": 0},
                              "symbol_count": 0},
    "ipo_assignment": {**RUN, "symbol": "TEST_M00111", "universe": "ipo_micro_cap_other", "tier": "micro_cap",
                       "sector": None, "announcement_id": "e" * 32},
    "delisting_cleanup": {**RUN, "symbol": "gone", "reason": "missing", "universes": ["x"]},
    "etf_correlation_update": {**RUN, "theme": "bonds", "cache_key": "etf_bonds", "window_days": 30,
                               "symbols": ["AGG", "BND"], "pairs": [["AGG", "BND", -0.25]],
                               "average_correlation": -0.25},
}


@pytest.mark.parametrize("event_type", list(BUILT))
def test_built_messages_match_their_schemas_and_channels(event_type):
    publisher = EventPublisher(None, "tickstock_pl.cache_synchronizer")
    message = publisher.build(event_type, BUILT[event_type])
    message.update(sequence=1, timestamp=events.now_iso())
    assert events.schema_errors(message) == [] == message_problems(message)
    bad = {**message, "data": {**message["data"], "extra": 1}}
    assert events.schema_errors(bad) != []
    assert events.EVENT_CHANNELS[event_type] in MESSAGING["channels"].values()


def test_channels_and_the_cache_sync_block_agree_with_the_contract():
    assert events.CHANNELS == MESSAGING["channels"]
    block = MESSAGING["cache_sync"]
    assert (EOD_STREAM, AUTOMATION_STREAM, GROUP) == (
        block["eod_signal"]["stream"], block["automation"]["stream"], block["eod_signal"]["consumer_group"])
    assert events.stream_key(events.EVENT_CHANNELS["eod_complete"]) == EOD_STREAM
    assert events.channels_of("daily_sync_complete") == ("tickstock.cache.sync_complete",
                                                         "tickstock.automation.events")


class _Pipe:
    def __init__(self, log):
        self.log, self.n = log, 0

    def publish(self, channel, payload):
        self.log.append(("publish", channel, payload))

    def xadd(self, key, fields, maxlen, approximate):
        self.log.append(("xadd", key, fields["data"]))

    def execute(self):
        self.log.append(("exec",))
        return [x for entry in self.log if entry[0] == "publish" for x in (1, f"1-{len(self.log)}")]


class _Redis:
    def __init__(self):
        self.log = []

    def pipeline(self, transaction):
        assert transaction
        return _Pipe(self.log)


def test_daily_sync_complete_goes_to_both_channels_in_one_transaction():
    client = _Redis()
    pub = EventPublisher(client, "tickstock_pl.cache_synchronizer")
    sent = pub.publish("daily_sync_complete", BUILT["daily_sync_complete"])
    kinds = [e[0] for e in client.log]
    assert kinds == ["publish", "xadd", "publish", "xadd", "exec"]  # one MULTI/EXEC
    assert [e[1] for e in client.log[:4]] == [
        "tickstock.cache.sync_complete", "stream:tickstock.cache.sync_complete",
        "tickstock.automation.events", "stream:tickstock.automation.events"]
    assert len({e[2] for e in client.log[:4]}) == 1  # the same message everywhere
    assert sent.channel == "tickstock.cache.sync_complete" and sent.sequence == 1 and pub.published_count == 1
    assert [c for c, _ in sent.also] == ["tickstock.automation.events"]


# ---- one real run ----------------------------------------------------------------------------

U, P = "test_sync_", "TEST_M"


@pytest.fixture(scope="module")
def sync_env(embedded_postgres, embedded_redis):
    from psycopg2 import sql

    from tickstock_acceptance.infra.db import session
    from tickstock_acceptance.infra.migrations import apply_migrations
    from tickstock_producer.facade import ProducerConfig

    name, password = "cache_sync_test", "producer-pw-sync"
    with session(embedded_postgres.admin_endpoint()) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin = embedded_postgres.admin_endpoint(name)
    with session(admin, autocommit=False) as conn:
        apply_migrations(conn)
    with session(admin) as conn, conn.cursor() as cur:
        cur.execute("ALTER ROLE tickstock_producer WITH LOGIN PASSWORD %s", (password,))
    config = ProducerConfig(db_host=admin.host, db_port=admin.port, db_name=name, db_password=password,
                            redis_host=embedded_redis.host, redis_port=embedded_redis.port, redis_db=11)
    return admin, config


def _run(config, *argv, capsys) -> tuple[int, dict]:
    from tickstock_producer.facade import create_producer

    code = cli.main(["--json", *argv], factory=lambda _c: create_producer(config))
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def _stream(r, channel: str) -> list[dict]:
    return [json.loads(f[b"data"]) for _id, f in r.xrange(events.stream_key(channel))]


def _universes(admin) -> dict[str, tuple]:
    from tickstock_acceptance.infra.db import session

    with session(admin) as conn, conn.cursor() as cur:
        cur.execute("""SELECT name, value -> 'symbols', universe_category, last_universe_update, type
                       FROM cache_entries WHERE type <> 'etf_universe'""")
        return {r[0]: r[1:] for r in cur.fetchall()}


def _seed_etfs(admin) -> dict[str, list[float]]:
    """An ETF universe of five members: three normal, one flat (zero variance), one with 20 bars."""
    from psycopg2.extras import Json, execute_values

    from tickstock_acceptance.infra.db import session

    normal = ["TEST_EA", "TEST_EB", "TEST_EC"]
    rows = [bar for sym in normal for bar in synthetic_bars(sym, 40)]
    dates = [b[1] for b in synthetic_bars("TEST_EA", 40)]
    rows += [("TEST_ED", d, 50, 50, 50, 50, 1000) for d in dates]
    rows += [b for b in synthetic_bars("TEST_EE", 40)][-20:]
    with session(admin) as conn, conn.cursor() as cur:
        execute_values(cur, "INSERT INTO symbols (symbol, name, type) VALUES %s",
                       [(s, s, "ETF") for s in (*normal, "TEST_ED", "TEST_EE")])
        execute_values(cur, "INSERT INTO ohlcv_daily (symbol, date, open, high, low, close, volume) "
                            "VALUES %s", rows)
        cur.execute("SELECT update_etf_universe('syncetf', %s)", (Json([*normal, "TEST_ED", "TEST_EE"]),))
    last31 = dates[-31:]
    return {s: [float(b[5]) for b in synthetic_bars(s, 40) if b[1] in last31] for s in normal}


def _lines(proc) -> queue.Queue:
    q: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stdout:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def test_a_sync_run_end_to_end(sync_env, capsys):
    import redis

    from tickstock_acceptance.infra.db import session

    admin, config = sync_env
    r = redis.Redis(host=config.redis_host, port=config.redis_port, db=config.redis_db)
    market = generate_market(300)
    code, doc = _run(config, "load-market", "--count", "300", capsys=capsys)
    assert code == 0 and doc["symbols"] == 300 and doc["inactive"] == sum(not s.active for s in market)
    closes = _seed_etfs(admin)
    inactive = next(s.symbol for s in market if not s.active)
    with session(admin) as conn, conn.cursor() as cur:  # a scoped universe holding delisted names
        cur.execute("""INSERT INTO cache_entries (type, name, key, value, universe_category)
                       VALUES ('stock_universe', %s, %s, %s, 'STOCK')""",
                    (U + "watchlist", U + "watchlist",
                     json.dumps({"symbols": ["AAPL", "TEST_M00000", inactive, "TEST_MGONE"]})))

    # The IPO monitor announces the recent, active, unplaced listings; then the EOD signal; then the sync.
    recent = [s for s in market if s.active and AS_OF - timedelta(days=30) < s.list_date <= AS_OF]
    code, doc = _run(config, "monitor-ipos", "--as-of", "2026-10-30", "--symbol-prefix", P, capsys=capsys)
    assert code == 0 and doc["announced"] == [s.symbol for s in recent] and recent
    code, signal_doc = _run(config, "end-of-day", "--date", "2026-10-30", capsys=capsys)
    assert code == 0 and {"trading_date", "message_id", "stream_id", "sequence"} <= set(signal_doc)
    t0 = time.perf_counter()
    code, doc = _run(config, "sync-once", "--universe-prefix", U, "--symbol-prefix", P, capsys=capsys)
    assert code == 0 and [s["status"] for s in doc["syncs"]] == ["completed"], doc
    assert time.perf_counter() - t0 < 5

    # The run row and its change rows.
    with session(admin) as conn, conn.cursor() as cur:
        cur.execute("SELECT run_id, status, total_changes, signal_id, signal_stream_id, "
                    "finished_at IS NOT NULL FROM cache_sync_runs WHERE scope = %s", (U,))
        run_id, status, total, signal_id, stream_id, finished = cur.fetchone()
        cur.execute("SELECT change_type, count(*) FROM cache_sync_changes WHERE run_id = %s GROUP BY 1",
                    (run_id,))
        by_type = dict(cur.fetchall())
    assert (status, signal_id, stream_id, finished) == ("completed", signal_doc["message_id"],
                                                        signal_doc["stream_id"], True)
    assert total == sum(by_type.values()) > 0 and by_type["created"] >= 20

    # The universes are the rules applied to the market.
    seasoned = sorted((s for s in market if s.active and s.list_date <= AS_OF - timedelta(days=30)),
                      key=lambda s: (-s.market_cap, s.symbol))
    got = _universes(admin)
    for tier in REFERENCE["tier_universes"]:
        assert got[U + tier][0] == sorted(s.symbol for s in seasoned if tier_of(s.market_cap) == tier)
        assert got[U + tier][1] == "STOCK"
    assert got[U + "top_100"][0] == sorted(s.symbol for s in seasoned[:100])
    for sector, slug in REFERENCE["sectors"].items():
        leaders = [s.symbol for s in seasoned if s.sector == sector][:25]
        assert got[f"{U}theme_{slug}"][:2] == (sorted(leaders), "THEME")
    assert got[U + "watchlist"][0] == ["AAPL", "TEST_M00000"]  # AAPL is outside the symbol scope
    for s in recent:  # the announced IPOs landed in their IPO universes
        name = f"{U}ipo_{tier_of(s.market_cap)}_{REFERENCE['sectors'][s.sector]}"
        assert s.symbol in got[name][0] and got[name][1] == "IPO"
    etf = json.loads(json.dumps(got[U + "etf_correlation_syncetf"][0]))
    assert etf == ["TEST_EA", "TEST_EB", "TEST_EC"]  # flat and short members excluded
    included, pairs, average = correlations(closes)
    assert included == etf

    # The messages: every one schema-valid, daily_sync_complete on both streams.
    daily = _stream(r, "tickstock.cache.sync_complete")
    assert len(daily) == 1 and daily == [m for m in _stream(r, "tickstock.automation.events")
                                         if m["event_type"] == "daily_sync_complete"]
    d = daily[0]["data"]
    assert (d["run_id"], d["status"], d["total_changes"]) == (run_id, "completed", total)
    assert d["changes_by_type"] == by_type
    assert all(v["status"] == "completed" for v in d["task_summary"].values()) and d["signal_id"] == signal_id
    synced = [m for m in _stream(r, "tickstock.universe.updated")
              if m["event_type"] == "universe_synchronized"]
    assert len(synced) == d["universes_changed"] and all(m["sequence"] > daily[0]["sequence"] for m in synced)
    assigned = _stream(r, "tickstock.cache.ipo_assignment")
    assert sorted(m["data"]["symbol"] for m in assigned) == [s.symbol for s in recent]
    cleaned = {m["data"]["symbol"]: m["data"]["reason"]
               for m in _stream(r, "tickstock.cache.delisting_cleanup")}
    assert cleaned == {inactive: "inactive", "TEST_MGONE": "missing"}
    [corr] = _stream(r, "tickstock.etf.correlation_update")
    assert (corr["data"]["pairs"], corr["data"]["average_correlation"]) == (pairs, average)
    for channel in set(events.CHANNELS.values()):
        for m in _stream(r, channel):
            assert message_problems(m) == [], (channel, m)
    assert r.xpending(EOD_STREAM, GROUP)["pending"] == 0
    assert r.xpending(AUTOMATION_STREAM, GROUP)["pending"] == 0

    # A duplicate signal, handled by the long-running service: acknowledged, nothing run, no message.
    before = {c: r.xlen(events.stream_key(c)) for c in events.CHANNELS.values()}
    env = cli_env(config.to_env())
    proc = subprocess.Popen([sys.executable, "-m", "tickstock_producer", "sync-service",
                             "--universe-prefix", U, "--symbol-prefix", P, "--max-seconds", "60"],
                            cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = _lines(proc)
        assert json.loads(lines.get(timeout=20))["event"] == "ready"
        _run(config, "end-of-day", "--date", "2026-10-30", capsys=capsys)
        event = json.loads(lines.get(timeout=20))
        assert event["event"] == "duplicate" and event["run_id"] == run_id
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        stderr = proc.stderr.read()
        proc.stderr.close()
    assert "duplicate signal 2026-10-30" in stderr
    after = {c: r.xlen(events.stream_key(c)) for c in events.CHANNELS.values()}
    assert after == {**before, "tickstock.eod.completion": before["tickstock.eod.completion"] + 1}
    assert r.xpending(EOD_STREAM, GROUP)["pending"] == 0

    # An empty scope: the three tasks that would wipe universes refuse; the scope's universes stay.
    with session(admin) as conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO cache_entries (type, name, key, value, universe_category)
                       VALUES ('stock_universe', 'test_empty_large_cap', 'test_empty_large_cap', %s,
                               'STOCK')""",
                    (json.dumps({"symbols": ["TEST_NONE_A"]}),))
    kept = _universes(admin)["test_empty_large_cap"]
    _run(config, "end-of-day", "--date", "2026-10-30", capsys=capsys)
    code, doc = _run(config, "sync-once", "--universe-prefix", "test_empty_", "--symbol-prefix", "TEST_NONE_",
                     capsys=capsys)
    assert code == 1 and [s["status"] for s in doc["syncs"]] == ["failed"]
    d = _stream(r, "tickstock.cache.sync_complete")[-1]["data"]
    assert d["scope"] == "test_empty_" and d["status"] == "failed"
    summary = d["task_summary"]
    assert summary["delisted_cleanup"]["status"] == "failed"
    assert summary["delisted_cleanup"]["error"].startswith("symbols has no rows in scope")
    assert summary["delisted_cleanup"]["error"].endswith("refusing to remove every member")
    for task in ("market_cap_recalculation", "theme_rebalancing"):
        assert summary[task]["status"] == "failed"
        assert "refusing to empty the universes" in summary[task]["error"]
    for task in ("ipo_universe_assignment", "etf_universe_maintenance"):
        assert summary[task]["status"] == "completed"
    now = _universes(admin)
    assert now["test_empty_large_cap"] == kept
    assert {n for n in now if n.startswith("test_empty_")} == {"test_empty_large_cap",
                                                               "test_empty_etf_correlation_syncetf"}
