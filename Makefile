# cashbook — every entry point a user needs. Only Python 3.11+ and make are required.
SHELL := /bin/bash
# The first interpreter on PATH that is Python 3.11 or newer (evaluated once).
FOUND_PY := $(shell for p in python3 python3.13 python3.12 python3.11; do $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
PY ?= $(FOUND_PY)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export CASHBOOK_HOME ?= $(CURDIR)/.cashbook
export DAGSTER_HOME ?= $(CASHBOOK_HOME)/dagster

.PHONY: install demo test lint ui api worker prod-local walkthrough bench clean stop

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PY)" || { echo "cashbook needs Python 3.11 or newer on PATH (python3.11, python3.12 or python3)"; exit 1; }
	@echo "creating $(VENV) with $(PY) ($$($(PY) --version))"
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## make demo: embedded Postgres → simulate 12 months → materialize every asset through Dagster → summary
demo: install
	$(BIN)/cashbook demo

## make test: lint, then the whole test suite (unit + integration against real Postgres/HTTP)
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

## make ui: the Dagster UI on http://127.0.0.1:3000 (instance in Postgres)
ui: install
	$(BIN)/cashbook dagster dev --host 127.0.0.1 --port 3000

## make api: the billing API on http://127.0.0.1:8000 (one uvicorn worker) plus one webhook worker process
## (docs/deploy.md), in development mode (dev secrets) unless
## CASHBOOK_API_ENV says otherwise; the `cashbook api` command alone defaults to production behaviour
api: install
	CASHBOOK_API_ENV=$${CASHBOOK_API_ENV:-dev} $(BIN)/cashbook api

worker: install
	CASHBOOK_API_ENV=$${CASHBOOK_API_ENV:-dev} $(BIN)/cashbook worker

## make prod-local: the production topology on this machine, each part its own process (docs/deploy.md):
## code server :4266, Dagster UI :3000, daemon, API :8000 (2 uvicorn workers), webhook workers; Ctrl-C stops all.
## Like make api, development secrets unless CASHBOOK_API_ENV says otherwise; `cashbook serve` alone is production.
prod-local: install
	CASHBOOK_API_ENV=$${CASHBOOK_API_ENV:-dev} $(BIN)/cashbook serve

## make walkthrough: the README's billing-API walkthrough as a script (localstripe + API, waits, cleans up)
walkthrough: install
	bash docs/walkthrough.sh

## make bench: every benchmark under tests/bench; results go to docs/BENCHMARKS.md
bench: install
	@set -e; for f in tests/bench/bench_*.py; do m=$${f%.py}; m=$${m//\//.}; echo "== $$m"; $(BIN)/python -m $$m; done

stop:
	-$(BIN)/cashbook db-stop

clean: stop
	rm -rf $(CASHBOOK_HOME)
