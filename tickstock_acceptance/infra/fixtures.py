"""behave fixtures: the run's lifecycle (settings → services → guard → schema → cleanup)."""

from __future__ import annotations

import signal
import sys

from behave import fixture

from tickstock_acceptance.config.paths import RUN_FACTS
from tickstock_acceptance.config.settings import load_settings
from tickstock_acceptance.core.errors import SuiteError
from tickstock_acceptance.infra.system import AcceptanceSystem


def _sigterm_as_interrupt(_signum, _frame):
    raise KeyboardInterrupt("SIGTERM")


@fixture
def acceptance_system(context):
    """Open the system under test for the whole run; close it (and owned servers) at the end."""
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    settings = load_settings(userdata=dict(context.config.userdata))
    system = AcceptanceSystem(settings).open()
    system.write_facts(RUN_FACTS)
    context.system = system
    try:
        yield system
    finally:
        system.close()
        system.write_facts(RUN_FACTS)  # with what cleanup removed or left behind


def report_and_abort(context, error: SuiteError) -> None:
    """One line on stderr, then stop the run without a cascade of confusing failures."""
    print(f"ERROR: {error.one_line()}", file=sys.stderr)
    context.abort(reason=error.one_line())


def report_and_stop_after_this_feature(context, error: SuiteError) -> None:
    """One line on stderr; behave runs no further feature (as with --stop), cleanup still runs."""
    print(f"ERROR: {error.one_line()}", file=sys.stderr)
    context.config.stop = True
