"""behave lifecycle: settings, services, cleanup and evidence. No business logic here."""

from behave.fixture import use_fixture

from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.infra.fixtures import (
    acceptance_system,
    report_and_abort,
    report_and_stop_after_this_feature,
)

ENVIRONMENT_TAG = "environment"
EMBEDDED_ONLY_TAG = "embedded_only"  # needs servers or databases the run owns


def before_all(context):
    try:
        use_fixture(acceptance_system, context)
    except SuiteError as error:
        report_and_abort(context, error)


def before_scenario(context, scenario):
    system = getattr(context, "system", None)
    if system is not None and system.settings.external and EMBEDDED_ONLY_TAG in scenario.effective_tags:
        scenario.skip("needs servers or databases the run owns: not run in external mode")


def after_feature(context, feature):
    if ENVIRONMENT_TAG in feature.tags and feature.status.has_failed():
        report_and_stop_after_this_feature(context, SuiteError(
            "the test environment is not valid (see the failed environment validation scenario)",
            "fix the environment before judging any checklist item"))


# Our one-line messages must reach the terminal, not behave's hook capture.
before_all.capture = False
after_feature.capture = False
