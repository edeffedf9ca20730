# The order platform's commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAGE ?= dev
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export CDK_DISABLE_VERSION_CHECK := 1
CDK := npx --no-install cdk

.PHONY: help install test unit synth events clean

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed ## create .venv and node_modules from the pinned lists

test: install ## run the whole test suite
	$(PY) -m pytest

unit: $(VENV)/.installed ## only the fast tests (no CDK synth, no local cloud)
	$(PY) -m pytest tests/unit tests/handlers

synth: install ## synthesize every stack offline into cdk.out/ (STAGE=dev|prod)
	$(CDK) synth --all -c stage=$(STAGE) >/dev/null
	@for t in cdk.out/*.template.json; do printf '  %-50s %3s resources\n' $$t $$($(PY) -c "import json,sys;print(len(json.load(open(sys.argv[1]))['Resources']))" $$t); done

events: $(VENV)/.installed ## regenerate events/*.json from the catalog's examples
	$(PY) scripts/sample_events.py

clean: ## remove build output (not the virtual environment)
	rm -rf cdk.out .pytest_cache
