# Two commands for a newcomer: `make acceptance` (the suite + report) and `make test` (our own tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp
TAGS ?=
ARGS ?=
WORKERS ?=

.PHONY: acceptance test unit lint migrate summary clean setup bench

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## make acceptance [TAGS='@checklist:ENV-1'] [WORKERS=2] [ARGS='-D key=value']: run the suite, render the report
acceptance: setup
	@$(PY) -m tickstock_acceptance run $(if $(TAGS),--tags '$(TAGS)') $(if $(WORKERS),--workers $(WORKERS)) $(ARGS)

## make test: lint (ruff, import contracts), unit tests of the support code, and a full acceptance run on embedded services
test: setup
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest

unit: setup
	$(PY) -m pytest tests/unit

## make lint: ruff, and import-linter's architecture contracts ([tool.importlinter] in pyproject.toml)
lint: setup
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-logo

## make migrate: apply sql/ to the external *_test database named by TEST_DB_* (guarded)
migrate: setup
	@$(PY) -m tickstock_acceptance migrate $(ARGS)

summary: setup
	$(PY) -m tickstock_acceptance summary

clean:
	rm -rf reports

## make bench: performance figures (reported, not a gate): expansion, function latencies, delivery vs raw pub-sub, scenario generation + loading, real-time tick latency and throughput
bench: setup
	$(PY) -m tickstock_acceptance.cli.bench $(ARGS)
