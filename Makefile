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

LOCAL_CLOUD_PORT ?= 4566
export LOCAL_CLOUD_PORT STAGE
AWS_CLI := /usr/bin/aws
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# The operations tools talk to the local cloud, or with TARGET=aws to AWS with your credentials.
ifeq ($(TARGET),aws)
OPS := $(PY) -m
else
OPS := AWS_ENDPOINT_URL=http://127.0.0.1:$(LOCAL_CLOUD_PORT) AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
	AWS_DEFAULT_REGION=us-east-1 $(PY) -m
endif

.PHONY: help install test lint quick unit e2e synth up down status invoke token logs redrive replay rebuild fault trace bench capacity chaos properties mutate gates catalog docs clean

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	@# The one import path: the functions' packages (lambdas/), the fault-injection layer's
	@# (fault_injection/python: dev stages only) and the tools' (the root), for every Python this
	@# environment runs (the CDK app, the tools, the local cloud, the tests).
	printf '%s\n' "$(CURDIR)/lambdas" "$(CURDIR)/fault_injection/python" "$(CURDIR)" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/order-platform.pth"
	touch $@

# checkov pins a boto3 the local cloud cannot share: it gets an environment of its own.
.venv-checkov/.installed: requirements-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The AWS CLI v2 from Debian: pip's awscli v1 pins a botocore that clashes with MiniStack's.
$(AWS_CLI):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq awscli >/dev/null

install: $(VENV)/.installed .venv-checkov/.installed node_modules/.installed $(AWS_CLI) ## install everything: .venv, the CDK CLI, the AWS CLI, checkov

up: install ## start the local cloud and deploy the platform in it (LOCAL_CLOUD_PORT=4566)
	$(PY) -m localcloud up

down: $(VENV)/.installed ## stop the local cloud (state stays in .local-cloud/)
	$(PY) -m localcloud down

status: $(VENV)/.installed ## is the local cloud up, and what is deployed
	$(PY) -m localcloud status

invoke: $(VENV)/.installed ## run a function locally against the cloud: make invoke FN=Audit EVENT=events/order-created.json, or EVENT=store:<orderId>/1
	$(PY) -m localcloud invoke $(FN) $(EVENT)

token: $(VENV)/.installed ## a test customer's ID token from the local cloud's user pool (signed up on first use): make -s token EMAIL=ada@example.com
	@$(PY) -m localcloud token $(EMAIL)

logs: $(VENV)/.installed ## print a function's logs and follow them: make logs FN=OrdersProjection
	$(PY) -m localcloud logs $(FN) --follow

redrive: $(VENV)/.installed ## list a dead-letter queue (FROM=Analytics); APPLY=1 re-sends and deletes
	$(OPS) ops.redrive $(FROM) $(if $(APPLY),--apply)

replay: $(VENV)/.installed ## replay the bus archive: make replay SINCE=2026-11-26T09:00:00Z [UNTIL=...]
	$(OPS) ops.replay --since $(SINCE) $(if $(UNTIL),--until $(UNTIL))

rebuild: $(VENV)/.installed ## rebuild the orders read model from the event store (INTO=table for a fresh one)
	$(OPS) ops.rebuild $(if $(INTO),--into $(INTO))

fault: $(VENV)/.installed ## rehearse a failure: make fault FN=Analytics TYPES=ORDER_CREATED [RATE=0.1] (neither: off)
	$(OPS) ops.fault $(FN) $(if $(TYPES),--types $(TYPES)) $(if $(RATE),--rate $(RATE))

trace: $(VENV)/.installed ## a correlation id's events as a timeline and a Mermaid diagram: make trace ID=...
	$(OPS) ops.trace $(ID)

ORDERS ?= 1000
chaos: install ## the reliability suite on a local cloud of its own: faults, duplicates, reordering... (ORDERS=1000 RATE=0.1 SEED=replays a run)
	$(PY) -m chaos --orders $(ORDERS) --docs $(if $(RATE),--fault-rate $(RATE)) $(if $(SEED),--seed $(SEED))

# pytest-xdist: the tests that share a deployment, a synth or a module's local cloud stay on one worker.
WORKERS ?= 2
# mypy checks types beside the tests, while they leave CPU idle, ruff first, as it is fast
# (their times: docs/TESTING.md).
# The property tests draw a quarter of their examples here (tests/support/properties.py).
test: export PROPERTY_SCALE ?= 0.25
test: install ## lint and types, the whole test suite (end to end on local clouds of their own, WORKERS=2), with coverage
	$(PY) -m ruff check
	$(PY) -m ruff format --check
	@mkdir -p build; $(PY) -m mypy > build/mypy.log 2>&1 & types=$$!; \
	$(PY) -m pytest -n $(WORKERS) --dist loadgroup --cov; tests=$$?; \
	wait $$types; checked=$$?; echo "mypy: $$(tail -1 build/mypy.log)"; \
	if [ $$checked -ne 0 ]; then cat build/mypy.log; fi; \
	exit $$(( tests != 0 || checked != 0 ))

lint: $(VENV)/.installed ## ruff (lint and format check) and mypy on every Python folder (settings: pyproject.toml; .pre-commit-config.yaml runs the same)
	$(PY) -m ruff check
	$(PY) -m ruff format --check
	$(PY) -m mypy

e2e: install ## only the end-to-end tests (E2E_TARGET=aws runs them against the stacks deployed to AWS)
	$(PY) -m pytest tests/e2e

quick: $(VENV)/.installed ## only the fast tests that the files changed since main can break (found from the imports)
	$(PY) -m scripts.quick

unit: $(VENV)/.installed ## only the fast tests (no CDK synth, no local cloud)
	$(PY) -m pytest tests/unit tests/handlers tests/properties

synth: install ## synthesize every stack offline into cdk.out/ (STAGE=dev|prod)
	$(CDK) synth --all -c stage=$(STAGE) >/dev/null
	@for t in cdk.out/*.template.json; do printf '  %-50s %3s resources\n' $$t $$($(PY) -c "import json,sys;print(len(json.load(open(sys.argv[1]))['Resources']))" $$t); done

properties: $(VENV)/.installed ## the property tests at length, the money's included: PROPERTY_SCALE times each test's examples (10; make unit 1, make test 0.25)
	PROPERTY_SCALE=$${PROPERTY_SCALE:-10} $(PY) -m pytest tests/properties tests/handlers/test_money_interleavings.py

mutate: $(VENV)/.installed ## mutation testing of the core modules against the fast tests; scores to docs/TESTING.md (about 15-25 min)
	$(PY) -m scripts.mutate

bench: install ## the benchmark: cold starts, per-event cost, throughput, cost per million orders (writes docs/)
	$(PY) -m bench --docs

capacity: $(VENV)/.installed ## docs/SCALING.md and infra/concurrency.json (prod's reservations): the capacity model from the last benchmark's counts (make bench runs it too)
	$(PY) -m bench.capacity

gates: install ## the security gates (cdk-nag, cfn-lint, checkov, platform rules) on every stage
	$(PY) -m scripts.gates

catalog: $(VENV)/.installed ## regenerate schemas/, events/, docs/EVENTS.md and docs/asyncapi.json (AsyncAPI 3) from the event catalog
	$(PY) -m scripts.catalog

docs: $(VENV)/.installed ## regenerate what the docs take from the code (the README's security exceptions, docs/openapi.json)
	$(PY) -m scripts.security_doc
	$(PY) -m scripts.openapi

clean: ## remove build output and local-cloud state (not the virtual environment)
	rm -rf cdk.out .pytest_cache .local-cloud build
