"""Fault injection into the servers a run owns, for the resilience scenarios.

``servers`` holds the controller over the run's named servers (``postgres``, ``redis``) with
generic verbs: stop, kill (``kill -9``), restart, pause (SIGSTOP), resume (SIGCONT). Servers the
run does not own (external mode) are refused in one line. This layer sits above ``sut`` and below
``checks``: it may import ``sut``, ``infra``, ``reporting``, ``contract``, ``config`` and ``core``
(import-linter's layers contract in ``pyproject.toml`` enforces it); today it needs only ``infra``.
"""
