"""Where things are: the repository root, the contract files, and where the run writes.

Reports go to ``reports/`` beside the code, or ``$TICKSTOCK_REPORTS_DIR``.

behave.ini names ``reports/allure-results`` for plain ``behave``; when TICKSTOCK_REPORTS_DIR is set
(the project's own tests do, so they never overwrite a person's last report) the Allure formatter
writes there instead.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORTS_DIR_ENV = "TICKSTOCK_REPORTS_DIR"
REPORTS_DIR = Path(os.environ.get(REPORTS_DIR_ENV) or ROOT / "reports").resolve()
RESULTS_DIR = REPORTS_DIR / "allure-results"
JUNIT_DIR = REPORTS_DIR / "junit"  # JUnit XML for CI systems, written by `run`
REPORT_DIR = REPORTS_DIR / "allure-report"
RUN_FACTS = REPORTS_DIR / "run-facts.json"
# The contract between TickStockPL and TickStockApp, as the suite states it (``contract/``).
CONTRACT_DIR = ROOT / "contract"
