"""behave lifecycle: the run's system, the per-scenario state, active tags. No business logic here."""

from behave.fixture import use_fixture
from behave.tag_matcher import ActiveTagMatcher

from tickstock_acceptance.checks.etf.market_data import SKIP_REASON as NO_MARKET_DATA_KEY
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.infra.fixtures import (
    acceptance_system,
    report_and_abort,
    report_and_stop_after_this_feature,
)
from tickstock_acceptance.steplib.state import scenario_state
from tickstock_acceptance.sut.producer import producer_deployed
from tickstock_acceptance.sut.tickstock_app import tickstock_app_of_run

ENVIRONMENT_TAG = "environment"
# Active tags (behave's ActiveTagMatcher), each category with the reason its skipped scenarios carry
# into the results and the sign-off: @use.with_mode=embedded runs only when the run owns its servers
# and databases (fault injection, scratch databases); @use.with_market_data=available only when
# MASSIVE_API_KEY is set (ETF-2's optional market-data check); @use.with_redis=standalone|cluster by the
# kind of Redis (a cluster has database 0 only). The values are known once the run opened.
ACTIVE_TAG_VALUES = {"mode": None, "market_data": None, "redis": None}
SKIP_REASONS = {
    "mode": lambda: f"needs what only an embedded run owns: not run in {ACTIVE_TAG_VALUES['mode']} mode",
    "redis": lambda: f"written for another kind of Redis: not run on a {ACTIVE_TAG_VALUES['redis']} Redis",
    "market_data": lambda: NO_MARKET_DATA_KEY,
}
active_tags = ActiveTagMatcher(ACTIVE_TAG_VALUES)


def skip_reason(tags) -> str | None:
    """Why a scenario with these tags is not run here (the first active tag that does not hold), or None."""
    for category, pairs in active_tags.group_active_tags_by_category(tags):
        if not active_tags.is_tag_group_enabled(category, pairs):
            return SKIP_REASONS[category]()
    return None


def before_all(context):
    try:
        system = use_fixture(acceptance_system, context)
        use_fixture(tickstock_app_of_run, context, system)  # stops TickStockApp (if started) first
        use_fixture(producer_deployed, context, system)
        ACTIVE_TAG_VALUES["mode"] = system.settings.mode
        ACTIVE_TAG_VALUES["redis"] = "cluster" if system.settings.redis_cluster else "standalone"
        ACTIVE_TAG_VALUES["market_data"] = "available" if system.settings.market_data_key else "no_key"
    except SuiteError as error:
        report_and_abort(context, error)


def before_scenario(context, scenario):
    reason = skip_reason(scenario.effective_tags)
    if reason:
        scenario.skip(reason)
        return
    if getattr(context, "system", None) is not None:
        use_fixture(scenario_state, context)


def after_feature(context, feature):
    if ENVIRONMENT_TAG in feature.tags and feature.status.has_failed():
        report_and_stop_after_this_feature(context, SuiteError(
            "the test environment is not valid (see the failed environment validation scenario)",
            "fix the environment before judging any checklist item"))


# Our one-line messages must reach the terminal, not behave's hook capture.
before_all.capture = False
after_feature.capture = False
