# CryptoTrader Pro. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv (from PyPI) installs the packages: several times faster than pip (docs/decisions.md)
UV := $(VENV)/uv/bin/uv
# --compile-bytecode: machine images often set PYTHONDONTWRITEBYTECODE, and then every
# process (each CLI call, test worker and server) compiled pandas, numpy and the rest
# afresh: about 2 s a process here (docs/benchmarks.md, the suite's time)
UV_PIP := $(UV) pip install --quiet --compile-bytecode --python $(BIN)/python
# and our own modules (the editable install is not compiled by uv) are cached on import
unexport PYTHONDONTWRITEBYTECODE
STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv --without-pip $(VENV)
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --quiet --disable-pip-version-check \
		--target $(VENV)/uv 'uv>=0.9,<1'

# what running needs (make run)
$(STAMP): pyproject.toml | $(UV)
	$(UV_PIP) -e .
	@touch $(STAMP)

# and the test, lint and type-check tools (make test)
$(DEV_STAMP): $(STAMP)
	$(UV_PIP) -e '.[dev]'
	@touch $(DEV_STAMP)

.PHONY: install
install: $(DEV_STAMP) ## Create .venv and install the project with its dev tools

.PHONY: chromium
# Playwright's own Chromium where its download host is reachable, else the distribution's
# chromium package (Debian's, installed with apt-get when running as root); says which.
chromium: $(DEV_STAMP) ## Get a Chromium for the browser tests (Playwright's, else Debian's)
	@if [ -n "$$CRYPTOTRADER_CHROMIUM" ]; then \
		echo "browser tests: $$CRYPTOTRADER_CHROMIUM (from CRYPTOTRADER_CHROMIUM)"; \
	elif $(BIN)/python -m tests.browser; then :; \
	elif timeout 300 $(BIN)/playwright install chromium >$(VENV)/playwright-install.log 2>&1; then \
		echo "browser tests: downloaded Playwright's Chromium"; \
	elif command -v chromium >/dev/null; then \
		echo "browser tests: Playwright's download failed ($(VENV)/playwright-install.log);" \
			"using the distribution's $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "browser tests: Playwright's download failed; installing Debian's chromium (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "browser tests: no Chromium. Playwright's download failed ($(VENV)/playwright-install.log)" \
			"and installing the distribution's needs root: sudo apt-get install -y chromium"; exit 1; \
	fi

.PHONY: run
run: $(STAMP) ## Start PostgreSQL, migrate, seed demo data, serve the API with the market feed
	$(BIN)/cryptotrader db migrate
	$(BIN)/cryptotrader db seed
	$(BIN)/cryptotrader serve

.PHONY: screenshots
screenshots: $(DEV_STAMP) chromium ## Regenerate the README's dashboard screenshots (docs/screenshots)
	CRYPTOTRADER_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/web/test_browser.py tests/web/test_alert_browser.py tests/web/test_tearsheet.py tests/web/test_bots_pages.py -n 0 -q

.PHONY: lint
lint: $(DEV_STAMP) ## ruff check, ruff format --check, mypy --strict src
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy --strict src

.PHONY: test
test: lint chromium ## Lint, type-check and run the whole test suite
	$(BIN)/pytest

.PHONY: format
format: $(DEV_STAMP) ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

.PHONY: bench
bench: $(DEV_STAMP) ## Run every benchmark script (see docs/benchmarks.md)
	$(UV_PIP) -e '.[dev,bench]'
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

.PHONY: clean
clean: ## Remove the virtualenv and caches (keeps .data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
