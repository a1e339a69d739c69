"""behave lifecycle: the run's system, the per-scenario state, active tags. No business logic here."""

from behave.fixture import use_fixture
from behave.tag_matcher import ActiveTagMatcher

from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.infra.fixtures import (
    acceptance_system,
    report_and_abort,
    report_and_stop_after_this_feature,
)
from tickstock_acceptance.steplib.state import scenario_state

ENVIRONMENT_TAG = "environment"
# Active tags (behave's ActiveTagMatcher): @use.with_mode=embedded runs only when the run owns its
# servers and databases (fault injection, scratch databases); the value is known once the run opened.
ACTIVE_TAG_VALUES = {"mode": None}
active_tags = ActiveTagMatcher(ACTIVE_TAG_VALUES)


def before_all(context):
    try:
        system = use_fixture(acceptance_system, context)
        ACTIVE_TAG_VALUES["mode"] = system.settings.mode
    except SuiteError as error:
        report_and_abort(context, error)


def before_scenario(context, scenario):
    if active_tags.should_skip_with_tags(scenario.effective_tags):
        scenario.skip(f"needs what only an embedded run owns: not run in {ACTIVE_TAG_VALUES['mode']} mode")
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
