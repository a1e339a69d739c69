"""Where the run writes: fixed paths that behave.ini, the Makefile and the README name too."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS_DIR = ROOT / "reports"
RESULTS_DIR = REPORTS_DIR / "allure-results"  # also in behave.ini (outfiles)
REPORT_DIR = REPORTS_DIR / "allure-report"
RUN_FACTS = REPORTS_DIR / "run-facts.json"
