"""The step library: what step modules share (patterned on behave's behave4cmd0).

``parameter_types`` registers the sentence parameter types (importing this package does it);
``state`` holds the typed per-scenario state that a fixture sets up; ``producer_steps``,
``consumer_steps`` and ``load_steps`` are sentences several features use. A project's step folder
switches them on by importing them (``steps/use_steplib.py``). Steps are one sentence → one call:
the pass/fail logic lives in ``checks``.

May import: every layer below it (checks, faults, sut, infra, reporting, contract, core, config).
"""

from tickstock_acceptance.steplib import parameter_types  # noqa: F401  (registers the parameter types)
