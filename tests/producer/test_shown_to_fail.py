"""Each broken producer variant turns exactly its own scenarios red; the reference turns none red.

Every run is a real suite run (embedded PostgreSQL and Redis, the producer as a separate process)
into a private results directory, so a person's ``reports/allure-results`` is left alone.
"""

from __future__ import annotations

import pytest

from tests.isolated_run import run_isolated

FEATURES = [
    "features/00_environment_validation.feature",
    "features/10_etf_universe_expansion.feature",
    "features/40_database_integration.feature",
    "features/50_redis_integration.feature",
    "features/70_target_compliance.feature",
]

NOTIFICATIONS = {
    "TickStockApp receives the expansion notifications with the right content within the delivery target",
    "A TickStockApp instance that was offline during the expansion catches up from the stream",
    "A theme that cannot be written is reported as failed and gets no theme_updated",
}
LIQUIDITY = {"Only ETFs that pass their theme's liquidity filter make it into a universe"}
SUMMARY = {"get_etf_universes_summary lists every universe once with its true symbol count"}
CONTRACT = {"Every message observed during the run follows the channel naming convention and its JSON Schema"}
# Without the stream: RED-2, ETF-3's offline catch-up, and RED-1 (which also judges what the streams keep).
PERSISTENCE = {
    "Notifications a crashed TickStockApp instance read but never acknowledged go to another instance of "
    "its group",
    "The universe stream stays bounded under volume and still holds what an instance offline for a while "
    "missed",
    "A TickStockApp instance that was offline during the expansion catches up from the stream",
} | CONTRACT

VARIANTS = {
    "tickstock_producer": set(),
    # RED-2's scenarios need theme_updated too: a batch to crash in, and the volume past MAXLEN.
    "tests.broken.drops_theme_updated": NOTIFICATIONS | (PERSISTENCE - NOTIFICATIONS - CONTRACT),
    "tests.broken.skips_liquidity_filter": LIQUIDITY,
    "tests.broken.wrong_summary": SUMMARY,
    "tests.broken.malformed_messages": CONTRACT,
    "tests.broken.no_stream": PERSISTENCE,
}


@pytest.mark.parametrize("producer", list(VARIANTS))
def test_variant_fails_exactly_its_scenarios(producer, tmp_path):
    run = run_isolated(FEATURES, tmp_path / "results", {"producer": producer})
    statuses = run.statuses()
    assert len(statuses) >= 20, run.output[-3000:]
    for name in VARIANTS[producer]:
        assert name in statuses, f"scenario not found: {name}"
    assert run.failed() == VARIANTS[producer], run.output[-4000:]
    assert run.passed() == set(statuses) - VARIANTS[producer]
    assert (run.returncode != 0) == bool(VARIANTS[producer])
    assert run.leftovers == [], "servers of the run left behind"


def test_misnamed_channel_fails_env3_and_stops_the_run(tmp_path):
    """Environment validation reads the producer's channel configuration; a bad name stops the run."""
    run = run_isolated(FEATURES, tmp_path / "results", {"producer": "tests.broken.misnamed_channels"})
    assert run.failed() == {"The required notification channels are configured and follow the naming "
                            "convention"}, run.output[-3000:]
    assert set(run.statuses()) == run.failed() | {
        "The test database is reachable and carries the Phase 3 schema",
        "The test Redis is reachable and its test databases are usable and isolated"}
    assert run.returncode != 0 and "environment is not valid" in run.output
    assert run.leftovers == []
