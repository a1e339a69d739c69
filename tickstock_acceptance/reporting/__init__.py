"""Reporting: evidence attached to Allure results, results read back, the coverage gate, the
checklist sign-off (rendered from jinja2 templates), sign-off decisions (the append-only sign-off
log, its rules and the digest that binds a decision to a run's results), performance history and
baselines, the run summary and the Allure formatter that maps checklist tags to labels.

It sits low in the layers because steps and checks attach evidence while they run.
May import: ``contract``, ``core`` and ``config``.
"""
