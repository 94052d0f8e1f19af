# Gridlink — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench setup services clean fuzz assets

$(BIN)/python:
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required: apt-get install python3.11 python3.11-venv"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

# What the test suite runs for real: Mosquitto (broker), PostgreSQL (scale-out database),
# Chromium (the operator console in a real browser) and its CJK font (Noto Sans CJK SC, so the
# Chinese console renders real characters, not boxes).
services:
	@missing=""; \
	command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || missing="$$missing mosquitto"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing$$missing (apt-get)..."; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing:$$missing. Run 'sudo apt-get install -y$$missing' and retry."; exit 1; \
	  fi; \
	fi

setup: $(STAMP) services

# The whole suite, lint first: a wrong-way import or a type error fails the build like a test.
# TEST_WORKERS pytest-xdist processes share the suite (work stealing: the long HIL tests do not
# queue behind each other); TEST_WORKERS=0 runs it in one process. The 30 slowest tests are listed
# at the end (the suite must stay under 15 minutes in CI).
TEST_WORKERS ?= 2
test: setup lint
	$(BIN)/python -m pytest -q --durations=30 $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist worksteal)

# ruff everywhere; mypy strict on the hub (config in pyproject.toml); import-linter checks the
# hub's layering (the [tool.importlinter] contracts in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check hub simulator gridlink provisioning tests bench
	$(BIN)/mypy --strict hub
	$(BIN)/lint-imports

# The API (schemathesis) and ingest (hypothesis) fuzzers with many more examples than `make test`
# runs; FUZZ_EXAMPLES sets the ingest examples, API_FUZZ_EXAMPLES the examples per operation.
FUZZ_EXAMPLES ?= 5000
API_FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	GRIDLINK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) GRIDLINK_API_FUZZ_EXAMPLES=$(API_FUZZ_EXAMPLES) \
	  $(BIN)/python -m pytest -q -p no:cacheprovider --timeout 3600 \
	  tests/hub/api/test_openapi.py tests/hub/ingest/test_fuzz.py

# Re-vendor the browser assets (Swagger UI, Redoc) from the npm registry at the versions pinned
# in hub/console/vendoring.py: integrity-checked, with their licences and a manifest
# (hub/console/vendor/manifest.json). Python only; serving them needs no network.
assets: $(STAMP)
	$(BIN)/python -m hub.console.vendoring
	$(BIN)/python -m hub.console.vendoring --check

bench: setup
	$(BIN)/python -m bench

# The demo needs no system packages: the embedded broker and SQLite.
# `make demo BROKER=mosquitto` uses Mosquitto instead; DEVICES=N sets the fleet size. A second
# `make demo` while one runs says so and exits 1 (the lock in var/demo/demo.lock).
BROKER ?= embedded
DEVICES ?= 4
demo: $(STAMP)
	@if [ "$(BROKER)" = mosquitto ]; then $(MAKE) --no-print-directory services; fi
	$(BIN)/python -m gridlink.demo --broker $(BROKER) --devices $(DEVICES)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
