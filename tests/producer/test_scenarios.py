"""The reference producer's scenario generator, its loader CLI's argument checks, and (on a throwaway
PostgreSQL) its scenario load into the ``synthetic`` schema.

The generator must match the contract (``contract/reference/scenarios.json``): names, symbols,
lengths, planted patterns and dates; be byte-identical everywhere (a fixed digest per scenario);
emit valid weekday rows; state an outcome equal to what its rows give; and plant patterns that
TA-Lib flags exactly on their dates and nowhere else (tolerance 0 days), with a control series
flagged nowhere.
"""

from __future__ import annotations

import json
import statistics
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from tickstock_producer import cli
from tickstock_producer.facade import create_producer
from tickstock_producer.historical_loader import ANCHOR_DATE, trading_days
from tickstock_producer.scenarios import SCENARIOS, generate, outcome_of, rows_digest

talib = pytest.importorskip("talib")

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = json.loads((ROOT / "contract/reference/scenarios.json").read_text())
TALIB = {name: getattr(talib, p["talib"]) for name, p in CONTRACT["patterns"].items()}
# Changing the generator changes these: a machine whose output differs fails here.
DIGESTS = {
    "crash_2020": "682dfd144ccc33e64c541bbf68cd971ed029ddd283bbadf0b7c02035ed4536be",
    "growth_2021": "0d8c443770d8d574411980fd97fb2ae590ec07dab60c184d731e66b1ce601034",
    "volatility_periods": "f05c6684ced6f49dd6d63de5992ec6297e6951cf2ce396ebee8cf230ada10225",
    "trend_changes": "a360dfbd7578a4f4abf32bfe24e6d074809089716738d3c243dc20c583999d35",
    "high_low_events": "dfc8336eb99bcb609183a37831a325ffa62b8eccf6c123a3efd6159190d4d94c",
    "candlestick_patterns": "d15503e182245a4d2327e8b9c59edf44abc2dcd5044d7e78d6b7bb61873c112f",
    "pattern_control": "eb25b4b80b69fdebc4e8f601bd2cfef6b193f4586208a73ec98737696f00d684",
}
PATTERN_SCENARIOS = ("candlestick_patterns", "pattern_control")
OTHER_SYMBOLS = [f"TEST_SEED_{i}" for i in range(40)]


def _flags(rows) -> dict[str, list[tuple[str, int]]]:
    """pattern → [(date, signal)] for every date TA-Lib flags (any non-zero signal)."""
    o, h, lo, c = (np.array([float(getattr(b, k)) for b in rows]) for k in ("open", "high", "low", "close"))
    found = {}
    for pattern, fn in TALIB.items():
        out = fn(o, h, lo, c)
        found[pattern] = [(rows[i].date.isoformat(), int(out[i])) for i in np.nonzero(out)[0]]
    return found


# ---- contract and determinism ----------------------------------------------------------------

def test_scenarios_equal_the_contract():
    assert list(SCENARIOS) == list(CONTRACT["scenarios"])
    for name, expected in CONTRACT["scenarios"].items():
        spec = SCENARIOS[name]
        assert (spec.symbol, spec.days) == (expected["symbol"], expected["days"])
        assert [p.as_dict() for p in spec.planted] == expected.get("planted", [])
    assert ANCHOR_DATE == date.fromisoformat(CONTRACT["anchor_date"])


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_generation_is_byte_identical_and_pinned(name):
    first, second = generate(name), generate(name)
    assert first.rows == second.rows and first.outcome == second.outcome
    assert rows_digest(first.rows) == DIGESTS[name]
    assert generate(name, "TEST_OTHER").rows != first.rows  # the seed includes the symbol


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_rows_are_valid_weekdays_ending_at_the_anchor(name):
    spec, series = SCENARIOS[name], generate(name)
    assert {b.symbol for b in series.rows} == {spec.symbol}
    assert [b.date for b in series.rows] == trading_days(spec.days) and series.rows[-1].date == ANCHOR_DATE
    for b in series.rows:
        assert b.date.weekday() < 5
        assert 0 < b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close), b
        assert isinstance(b.volume, int) and b.volume > 0
        assert all(round(p, 4) == p for p in (b.open, b.high, b.low, b.close))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_stated_outcome_is_what_the_rows_give(name):
    series = generate(name)
    closes = [b.close for b in series.rows]
    drawdown = max(1 - c / max(closes[: i + 1]) for i, c in enumerate(closes))
    assert series.outcome == {
        "days": len(closes), "first_date": series.rows[0].date.isoformat(),
        "last_date": series.rows[-1].date.isoformat(), "total_return": closes[-1] / closes[0] - 1,
        "max_drawdown": drawdown, "planted": CONTRACT["scenarios"][name].get("planted", [])}
    assert outcome_of(series.rows, SCENARIOS[name].planted) == series.outcome


@pytest.mark.parametrize("symbol", [None, *OTHER_SYMBOLS[:5]])
def test_crash_and_growth_meet_their_bounds(symbol):
    crash = CONTRACT["scenarios"]["crash_2020"]["expect"]["max_drawdown_at_least"]
    growth = CONTRACT["scenarios"]["growth_2021"]["expect"]["total_return_at_least"]
    assert generate("crash_2020", symbol).outcome["max_drawdown"] >= crash
    assert generate("growth_2021", symbol).outcome["total_return"] >= growth


def test_the_other_shapes():
    def returns(rows):
        return [b.close / a.close - 1 for a, b in zip(rows, rows[1:], strict=False)]

    vol = returns(generate("volatility_periods").rows)  # windows of 21 days: calm, volatile, ...
    calm = [statistics.pstdev(vol[i:i + 20]) for i in (0, 42, 84)]
    wild = [statistics.pstdev(vol[i:i + 20]) for i in (21, 63, 105)]
    assert min(wild) > 3 * max(calm)

    closes = [b.close for b in generate("high_low_events").rows]  # high, then low, then new high
    first_peak = max(closes[:16])
    assert min(closes[16:36]) < closes[0] and max(closes[36:]) > first_peak

    closes = [b.close for b in generate("trend_changes").rows]  # up, down, sideways, up (47 days)
    legs = [closes[i + 47] / closes[i] - 1 for i in (0, 47, 94, 141)]
    assert legs[0] > 0.1 and legs[1] < -0.1 and abs(legs[2]) < 0.01 and legs[3] > 0.05


# ---- planted patterns (TA-Lib, tolerance 0 days) ---------------------------------------------

@pytest.mark.parametrize("symbol", [None, *OTHER_SYMBOLS])
def test_talib_flags_each_plant_on_its_date_and_nothing_else(symbol):
    series = generate("candlestick_patterns", symbol)
    expected = {p["pattern"]: [(p["date"], CONTRACT["patterns"][p["pattern"]]["signal"])]
                for p in CONTRACT["scenarios"]["candlestick_patterns"]["planted"]}
    assert _flags(series.rows) == expected


@pytest.mark.parametrize("symbol", [None, *OTHER_SYMBOLS])
def test_control_series_trips_none_of_the_patterns(symbol):
    assert _flags(generate("pattern_control", symbol).rows) == {p: [] for p in TALIB}


# ---- CLI argument checks (nothing is connected) ----------------------------------------------

def _never_connect(_config):
    raise AssertionError("the CLI created a producer (would connect) for bad arguments")


@pytest.mark.parametrize("argv, fragment", [
    (["load-history", "--scenario", "nope"], "unknown scenario 'nope'"),
    (["load-history", "--scenario", "crash_2020", "--symbols", "TEST_a"], "bad symbol"),
    (["load-history", "--scenario", "crash_2020", "--symbols", "TEST_TOO_LONG_SYMBOL_NAME"], "bad symbol"),
    (["load-history", "--scenario", "crash_2020", "--symbols", "TEST_A,AAPL"],
     "synthetic data goes only to TEST_ symbols"),
    (["load-history", "--scenario", "all", "--symbols", "TEST_A"], "--symbols cannot be used with"),
    (["load-history", "--scenario", "crash_2020", "--days", "5"], "--days cannot be used with --scenario"),
    (["load-history", "--list-scenarios", "--scenario", "crash_2020"], "--list-scenarios takes no"),
    (["load-history", "--list-scenarios", "--days", "5"], "--list-scenarios takes no"),
    (["load-history", "--symbols", "TEST_A"], "--symbols needs --scenario"),
    (["load-history", "--days", "0"], "--days must be at least 1"),
    (["detect-patterns"], "one of the arguments --symbols --scenario is required"),
    (["detect-patterns", "--symbols", "A B"], "bad symbol"),
    (["detect-patterns", "--scenario", "nope"], "unknown scenario"),
    (["detect-patterns", "--symbols", "TEST_A", "--scenario", "crash_2020"], "not allowed with"),
    (["process-ticks", "--max-seconds", "0"], "--max-seconds must be positive"),
    (["process-ticks", "--threshold-step", "-1"], "--threshold-step must be a positive number"),
])
def test_bad_arguments_exit_2_with_one_line_before_connecting(argv, fragment, capsys):
    assert cli.main(["--json", *argv], factory=_never_connect) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and fragment in err, err


def test_list_scenarios_needs_no_database(capsys, monkeypatch):
    monkeypatch.setenv("TICKSTOCK_PL_DB_PORT", "1")  # nothing listens there
    assert cli.main(["--json", "load-history", "--list-scenarios"], factory=create_producer) == 0
    doc = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert [s["name"] for s in doc["scenarios"]] == list(CONTRACT["scenarios"])
    for s in doc["scenarios"]:
        expected = CONTRACT["scenarios"][s["name"]]
        assert (s["symbol"], s["days"], s["planted"]) == (expected["symbol"], expected["days"],
                                                          expected.get("planted", []))
        assert s["description"]


# ---- the scenario load, on a throwaway PostgreSQL --------------------------------------------

@pytest.fixture(scope="module")
def scenario_db(embedded_postgres):
    from psycopg2 import sql

    from tickstock_acceptance.infra.db import session
    from tickstock_acceptance.infra.migrations import apply_migrations
    from tickstock_producer.facade import ProducerConfig

    name, password = "scenario_load_test", "producer-pw-scn"
    with session(embedded_postgres.admin_endpoint()) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin = embedded_postgres.admin_endpoint(name)
    with session(admin, autocommit=False) as conn:
        apply_migrations(conn)
    with session(admin) as conn, conn.cursor() as cur:
        cur.execute("ALTER ROLE tickstock_producer WITH LOGIN PASSWORD %s", (password,))
    config = ProducerConfig(db_host=admin.host, db_port=admin.port, db_name=name,
                            db_password=password, redis_port=1)  # Redis is never needed here
    return admin, config


def _counts(admin) -> dict[str, int]:
    from tickstock_acceptance.infra.db import session

    with session(admin) as conn, conn.cursor() as cur:
        out = {}
        for table in ("public.symbols", "public.ohlcv_daily", "synthetic.symbols",
                      "synthetic.ohlcv_daily", "synthetic.scenario_outcomes"):
            cur.execute(f"SELECT count(*) FROM {table}")
            out[table] = cur.fetchone()[0]
        return out


def test_scenario_load_goes_only_to_the_synthetic_schema(scenario_db, capsys):
    import psycopg2

    from tickstock_acceptance.infra.db import session

    admin, config = scenario_db

    def factory(_config):
        return create_producer(config)

    before = _counts(admin)
    assert cli.main(["--json", "load-history", "--scenario", "all"], factory=factory) == 0
    doc = json.loads(capsys.readouterr().out.splitlines()[-1])
    total = sum(s["days"] for s in CONTRACT["scenarios"].values())
    assert doc["rows"] == total and [s["scenario"] for s in doc["scenarios"]] == list(CONTRACT["scenarios"])
    assert {"generation_s", "loading_s", "elapsed_s"} <= set(doc)
    after = _counts(admin)
    assert after == {**before, "synthetic.symbols": 7, "synthetic.ohlcv_daily": total,
                     "synthetic.scenario_outcomes": 7}

    # Reloading replaces; the stated outcome is stored as generated.
    assert cli.main(["--json", "load-history", "--scenario", "all"], factory=factory) == 0
    capsys.readouterr()
    assert _counts(admin) == after
    with session(admin) as conn, conn.cursor() as cur:
        cur.execute("SELECT stated FROM synthetic.scenario_outcomes WHERE symbol = 'TEST_PATTERNS'")
        assert cur.fetchone()[0] == generate("candlestick_patterns").outcome
        cur.execute("SELECT type, scenario FROM synthetic.symbols WHERE symbol = 'TEST_CRASH_2020'")
        assert cur.fetchone() == ("TEST", "crash_2020")

        # A non-test target: one line, exit 2, nothing written.
        assert cli.main(["load-history", "--scenario", "crash_2020", "--symbols", "AAPL"],
                        factory=factory) == 2
        assert _counts(admin) == after

        # Production readers see nothing of it.
        cur.execute("SET ROLE app_readwrite")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SELECT count(*) FROM synthetic.ohlcv_daily")
        cur.execute("RESET ROLE")

    assert cli.main(["--json", "load-history", "--scenario", "candlestick_patterns",
                     "--symbols", "TEST_P1,TEST_P2"], factory=factory) == 0
    doc = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert doc["scenarios"][0]["symbols"] == ["TEST_P1", "TEST_P2"] and doc["rows"] == 2 * 126
    assert _counts(admin)["synthetic.ohlcv_daily"] == total + 2 * 126
