# Gridlink — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench setup broker clean

$(BIN)/python:
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required: apt-get install python3.11 python3.11-venv"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

broker:
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Mosquitto (apt-get)..."; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; \
	  else \
	    echo "Mosquitto is missing: run 'sudo apt-get install -y mosquitto' and retry."; exit 1; \
	  fi; }

setup: $(STAMP) broker

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check hub simulator provisioning gridlink tests bench

bench: setup
	$(BIN)/python -m bench

demo: setup
	$(BIN)/python -m gridlink.demo

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
