"""Numbers in feature sentences are checked against config/targets.py (one source)."""

import pytest

from tickstock_acceptance.config import targets as T
from tickstock_acceptance.steplib.parameter_types import SpecMismatch, parse_target, spec_number


def test_a_target_sentence_must_carry_the_targets_number_and_unit():
    assert parse_target("message delivery target of 100 ms") is T.MESSAGE_DELIVERY
    assert parse_target("ETF universe query target of 2 s") is T.ETF_UNIVERSE_QUERY
    with pytest.raises(SpecMismatch, match="config/targets.py says message_delivery_time ≤ 100 ms"):
        parse_target("message delivery target of 50 ms")
    with pytest.raises(SpecMismatch):
        parse_target("ETF universe query target of 2 ms")


def test_a_spec_count_in_a_sentence_must_equal_the_spec():
    convert = spec_number("distinct ETF symbols", T.ETF_MIN_SYMBOLS)
    assert convert(str(T.ETF_MIN_SYMBOLS)) == T.ETF_MIN_SYMBOLS
    with pytest.raises(SpecMismatch, match="the feature says 150"):
        convert("150")


def test_every_feature_sentence_matches_its_step_with_the_spec_numbers():
    """Every step of every feature matches a step definition without a parameter error: a sentence
    whose number drifted from targets.py would be reported here (behave's dry run does not convert)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = subprocess.run([sys.executable, "-c", MATCH_ALL_STEPS], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("all steps match"), out.stdout + out.stderr


MATCH_ALL_STEPS = """
from pathlib import Path
from behave.matchers import MatchWithError
from behave.parser import parse_file
from behave.runner_util import exec_file
from behave.step_registry import registry
for module in sorted(Path("steps").glob("*.py")):
    exec_file(str(module), {})
bad = []
for feature_file in sorted(Path("features").glob("*.feature")):
    for scenario in parse_file(str(feature_file)).walk_scenarios():
        for step in scenario.all_steps:
            match = registry.find_match(step)
            if match is None or isinstance(match, MatchWithError):
                bad.append(f"{feature_file}:{step.line}: {step.name}: "
                           f"{getattr(match, 'stored_error', 'undefined')}")
print("\\n".join(bad) or "all steps match")
"""
