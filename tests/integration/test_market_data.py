"""ETF-2's optional market-data check against a local stand-in for Massive's reference-tickers API
(``tests/market_data_stub.py``).

Direct calls of the check: good members pass (across pages); each bad member is named with why; a
429 with Retry-After is retried by the client and passes; a bad key, a rate limit that persists
and a closed port each end the check with one line, never the key. The settings keep the key a
secret. Two subset runs (``run --tags @checklist:ETF-2``): without a key the market-data scenario
is skipped with its reason and ETF-2 still passes; with a key it runs against the stub, and the key
is in no output and no file under the reports folder.
"""

from __future__ import annotations

import json
import time

import massive.rest
import pytest

from tests.conftest import run_cli
from tests.market_data_stub import MarketDataStub, listing
from tickstock_acceptance.checks.etf import market_data as md
from tickstock_acceptance.config.settings import load_settings
from tickstock_acceptance.contract.reference import reference_themes
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.reporting.results import load_results

KEY = "stub-key-7f3a9c01d2e4b5a6"
GOOD = ["IWM", "QQQ", "SPY"]
TICKERS = [*(listing(t) for t in GOOD), listing("ABC", "CS"), listing("DEF", active=False),
           listing("GHI", "CS", active=False)]
SCENARIO_KEY = "scenario:etf-market-data"


@pytest.fixture
def stub():
    with MarketDataStub(KEY, TICKERS) as running:
        yield running


def test_good_members_pass_across_pages(stub):
    assert md.member_problems(GOOD, stub.url, KEY) == []
    assert len(stub.requests) == 2 and stub.statuses() == [200, 200]  # one listing, two pages of 2


def test_each_bad_member_is_named_with_why(stub):
    problems = md.member_problems([*GOOD, "ABC", "DEF", "GHI", "XYZ"], stub.url, KEY)
    assert problems == ["ABC: type CS, expected ETF", "DEF: inactive", "GHI: inactive, type CS, expected ETF",
                        "XYZ: not found in Massive reference data"]


def test_a_429_with_retry_after_is_retried_and_passes(stub):
    stub.rate_limited, stub.retry_after_s = 1, 1
    started = time.monotonic()
    assert md.member_problems(GOOD, stub.url, KEY) == []
    assert stub.statuses() == [429, 200, 200]
    assert time.monotonic() - started >= 1.0  # the client waited as Retry-After said


@pytest.mark.parametrize("case", ["bad key", "persistent 429", "closed port"])
def test_an_api_that_cannot_be_used_ends_the_check_in_one_line_without_the_key(stub, case):
    key, url = KEY, stub.url
    if case == "bad key":
        key = "wrong-" + KEY
    elif case == "persistent 429":
        stub.rate_limited, stub.retry_after_s = 100, 0
    else:
        stub.__exit__()
    problems = md.member_problems([*GOOD, "XYZ"], url, key)
    assert len(problems) == 1, problems
    line = problems[0]
    assert "\n" not in line and "Traceback" not in line and KEY not in line
    assert {"bad key": "Unknown API Key", "persistent 429": "too many 429 error responses",
            "closed port": "after 3 retries"}[case] in line, line


def test_the_key_is_a_secret_and_the_url_a_setting():
    settings = load_settings({"MASSIVE_API_KEY": KEY, "MASSIVE_API_URL": "http://127.0.0.1:9/"}, {})
    assert settings.market_data_key == KEY and KEY not in repr(settings) + settings.describe()
    assert settings.market_data_url == "http://127.0.0.1:9" and settings.mode == "embedded"
    assert load_settings({}, {"market_data_url": "http://stub:8080"}).market_data_url == "http://stub:8080"
    assert load_settings({}, {}).market_data_url == massive.rest.BASE
    with pytest.raises(SuiteError, match="API keys are not accepted as -D market_data_key") as refused:
        load_settings({}, {"market_data_key": KEY})
    assert KEY not in str(refused.value) and "MASSIVE_API_KEY" in refused.value.fix
    with pytest.raises(SuiteError, match="not an http"):
        load_settings({}, {"market_data_url": "api.massive.com"})


# -- subset runs ----------------------------------------------------------------------------------

def etf2(result) -> tuple[dict, object]:
    """ETF-2's sign-off item and the market-data scenario's result of a run."""
    signoff = json.loads((result.reports_dir / "signoff.json").read_text())
    item = next(i for i in signoff["items"] if i["id"] == "ETF-2")
    found = [r for r in load_results(result.reports_dir / "allure-results") if SCENARIO_KEY in r.tags]
    assert len(found) == 1, f"{len(found)} market-data results\n{result.stdout[-3000:]}{result.stderr[-999:]}"
    return item, found[0]


def test_without_a_key_the_scenario_is_skipped_with_its_reason_and_etf2_still_passes():
    result = run_cli("run", "--no-report", "--tags", "@checklist:ETF-2", env={"MASSIVE_API_KEY": ""})
    item, scenario = etf2(result)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert (scenario.status, scenario.message) == ("skipped", md.SKIP_REASON)
    assert item["status"] == "passed", item
    assert item["reason"] == f"optional scenario skipped: {scenario.name} ({md.SKIP_REASON})"


def test_with_a_key_every_member_is_checked_against_the_api_and_the_key_is_in_no_report_file():
    reference = {e["symbol"] for theme in reference_themes().values() for e in theme["etfs"]}
    with MarketDataStub(KEY, [listing(s) for s in sorted(reference)], page_size=1000) as stub:
        result = run_cli("run", "--no-report", "--tags", "@checklist:ETF-2",
                         env={"MASSIVE_API_KEY": KEY, "MASSIVE_API_URL": stub.url})
    item, scenario = etf2(result)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert scenario.status == "passed" and item["status"] == "passed" and item["reason"] == "", item
    assert stub.statuses() and set(stub.statuses()) == {200}  # asked, with the right bearer key
    assert KEY not in result.stdout + result.stderr
    files = [p for p in result.reports_dir.rglob("*") if p.is_file()]
    assert len(files) > 3, files  # results, sign-off, run facts, history
    holding = [str(p) for p in files if KEY.encode() in p.read_bytes()]
    assert holding == [], f"the key was written to {holding}"
