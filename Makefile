# CryptoTrader Pro. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv and install the project with its dev tools

.PHONY: run
run: $(STAMP) ## Start PostgreSQL, migrate, seed demo data, serve the API with the market feed
	$(BIN)/cryptotrader db migrate
	$(BIN)/cryptotrader db seed
	$(BIN)/cryptotrader serve

.PHONY: lint
lint: $(STAMP) ## ruff check, ruff format --check, mypy --strict src
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy --strict src

.PHONY: test
test: lint ## Lint, type-check and run the whole test suite
	$(BIN)/pytest

.PHONY: format
format: $(STAMP) ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

.PHONY: bench
bench: $(STAMP) ## Run every benchmark script (see docs/benchmarks.md)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

.PHONY: clean
clean: ## Remove the virtualenv and caches (keeps .data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
