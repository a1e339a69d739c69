"""A run in a channel namespace on one Redis server (what each external worker gets): the reference
producer and TickStockApp follow it and the environment gate and RED-1 pass; a producer that ignores its
channel prefix is caught by ENV-3, which names the channels it publishes outside the namespace."""

from __future__ import annotations

from tests.conftest import run_cli, signoff_items

NAMESPACE = "test_ns:"


def test_the_reference_follows_the_runs_namespace(tmp_path):
    result = run_cli("run", "--no-report", "--tags", "@checklist:RED-1", "-D", f"redis_namespace={NAMESPACE}",
                     reports_dir=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"(namespace {NAMESPACE})" in result.stdout
    items = signoff_items(result.reports_dir)
    assert {i: items[i]["status"] for i in ("ENV-2", "ENV-3", "RED-1")} == dict.fromkeys(
        ("ENV-2", "ENV-3", "RED-1"), "passed")


def test_a_producer_that_ignores_its_channel_prefix_fails_env3_and_stops_the_run(tmp_path):
    result = run_cli("run", "--no-report", "--tags", "@checklist:RED-1", "-D", f"redis_namespace={NAMESPACE}",
                     "-D", "producer=tests.broken.ignores_channel_prefix", reports_dir=tmp_path)
    assert result.returncode != 0
    items = signoff_items(result.reports_dir)
    assert items["ENV-3"]["status"] == "failed"
    reason = items["ENV-3"]["reason"]
    assert (f"channel tickstock.universe.updated is not configured in the run's namespace {NAMESPACE} (the "
            "producer publishes it as tickstock.universe.updated, outside the namespace") in reason, reason
    assert items["ENV-1"]["status"] == items["ENV-2"]["status"] == "passed"
    assert items["RED-1"]["status"] == "not run", "the environment gate stops the run"
