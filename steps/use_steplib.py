"""Switch on the suite's shared step library (as behave4cmd0 is switched on in behave's own repo)."""

from tickstock_acceptance.steplib import consumer_steps, load_steps, producer_steps  # noqa: F401
