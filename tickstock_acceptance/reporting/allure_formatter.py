"""allure-behave formatter that maps ``@checklist:<ID>`` tags to Allure labels.

Under allure-behave 2.16.2 ``allure.dynamic.label`` is a no-op (its listener has no label hook),
so labels are added where the listener builds the test result. Each checklist tag yields
``checklist=<ID>``, and the scenario is placed under its checklist section → item
(``parentSuite``/``suite``, and ``epic``/``feature`` for the behaviours view).

A scenario skipped on purpose, with a reason (``environment.py``: an active tag whose condition
does not hold, e.g. no ``MASSIVE_API_KEY`` for ETF-2's optional market-data check), is kept as a
``skipped`` result whose message is that reason; ``show_skipped = false`` (behave.ini) would drop
it. Scenarios left out by ``--tags`` carry no reason and are still dropped.
"""

from __future__ import annotations

import os

import allure_commons
from allure_behave.formatter import AllureFormatter
from allure_behave.listener import AllureListener
from allure_behave.utils import TEST_PLAN_SKIP_REASON
from allure_commons.logger import AllureFileLogger
from allure_commons.model2 import Label, Status, StatusDetails
from allure_commons.types import LabelType
from allure_commons.utils import get_testplan, now

from tickstock_acceptance.config.checklist import by_id, ids_from_tags
from tickstock_acceptance.config.paths import REPORTS_DIR_ENV, RESULTS_DIR

REPLACED = {LabelType.PARENT_SUITE, LabelType.SUITE, LabelType.SUB_SUITE, LabelType.EPIC,
            LabelType.FEATURE}


def checklist_labels(tags) -> list[Label]:
    """Labels for a scenario's checklist tags (unknown IDs still get their ``checklist`` label)."""
    known = by_id()
    labels: list[Label] = []
    for item_id in ids_from_tags(tags):
        labels.append(Label(name="checklist", value=item_id))
        item = known.get(item_id)
        if item is not None:
            labels.append(Label(name="checklist_section", value=item.section))
    ids = ids_from_tags(tags)
    first = known.get(ids[0]) if ids else None
    if first is not None:
        labels += [Label(name=LabelType.PARENT_SUITE, value=first.section),
                   Label(name=LabelType.SUITE, value=first.title),
                   Label(name=LabelType.EPIC, value=first.section),
                   Label(name=LabelType.FEATURE, value=first.title)]
        for extra in ids[1:]:
            if extra in known:
                labels.append(Label(name=LabelType.STORY, value=known[extra].title))
    return labels


class ChecklistAllureListener(AllureListener):
    def start_scenario(self, scenario):
        super().start_scenario(scenario)
        result = self.logger.get_test(self.current_scenario_uuid)
        labels = checklist_labels(list(scenario.feature.tags) + list(scenario.tags))
        if any(label.name == LabelType.SUITE for label in labels):
            result.labels = [lb for lb in result.labels if lb.name not in REPLACED]
        result.labels.extend(labels)

    def stop_scenario(self, scenario):
        reason = scenario.skip_reason if scenario.status == "skipped" else None
        if not reason or reason == TEST_PLAN_SKIP_REASON:
            super().stop_scenario(scenario)
            return
        # As AllureListener.stop_scenario keeps a result (allure-behave 2.16.2), with the reason.
        self.flush_steps()
        result = self.logger.get_test(self.current_scenario_uuid)
        result.stop = now()
        result.status = Status.SKIPPED
        result.statusDetails = StatusDetails(message=str(reason))
        self.logger.close_test(self.current_scenario_uuid)
        self.current_step_uuid = None
        self.group_context.append_test(self.current_scenario_uuid)
        self.group_context.exit()
        self.current_scenario_uuid = None


class ChecklistAllureFormatter(AllureFormatter):
    """``-f tickstock_acceptance.reporting.allure_formatter:ChecklistAllureFormatter -o <results dir>``."""

    def __init__(self, stream_opener, config):  # pylint: disable=super-init-not-called
        # Same as AllureFormatter.__init__, with our listener in place of the stock one.
        super(AllureFormatter, self).__init__(stream_opener, config)
        self.listener = ChecklistAllureListener(config)
        results_dir = str(RESULTS_DIR) if os.environ.get(REPORTS_DIR_ENV) else self.stream_opener.name
        self.file_logger = AllureFileLogger(results_dir, clean=True)  # a run never mixes in old results
        allure_commons.plugin_manager.register(self.listener)
        allure_commons.plugin_manager.register(self.file_logger)
        self.testplan = get_testplan()
