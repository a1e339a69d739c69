"""Fault injection into the servers a run owns, for the resilience scenarios.

``servers`` holds the controller over the run's named servers (``postgres``, ``redis``) with
generic verbs: stop, kill (``kill -9``), restart, pause (SIGSTOP), resume (SIGCONT). Servers the
run does not own (external mode) are refused in one line. This layer sits above ``infra`` and
below ``sut``/``checks``: it may import ``config``, ``core``, ``contract`` and ``infra`` only
(import-linter's layers contract in ``pyproject.toml`` enforces it).
"""
