# The one entry point. `make test` and `make run` set up everything on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
SAM_VENV  := .venv-sam
CHECKOV_VENV := .venv-checkov
BIN       := $(VENV)/bin
PY        := $(BIN)/python
SAM       := $(SAM_VENV)/bin/sam
SECURITY_OUT := .aws-sam/security

# Python 3.13 (Lambda parity): $PYTHON313 if given, else pyenv's newest 3.13, else python3.13 on PATH.
PYTHON313 ?= $(shell \
  for p in $$(ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tac) \
           $$(command -v python3.13 2>/dev/null); do \
    "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo "$$p"; break; }; \
  done)

# Tests and tools never reach AWS: fake credentials, a fixed region, no telemetry.
export AWS_ACCESS_KEY_ID     ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_SESSION_TOKEN     ?= testing
export AWS_DEFAULT_REGION    := us-east-1
export SAM_CLI_TELEMETRY     := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help python venv test lint format typecheck pytest unit integration e2e validate security build bench run lock clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

python:
	@if [ -z "$(PYTHON313)" ]; then \
	  echo "error: Python 3.13 not found (Lambda runs python3.13, so the project pins it)." >&2; \
	  echo "  install it with:  pyenv install 3.13   (or your OS package: python3.13 python3.13-venv)" >&2; \
	  echo "  or point to it:   make test PYTHON313=/path/to/python3.13" >&2; \
	  exit 1; fi

$(VENV)/.installed: requirements-dev.txt layers/core/requirements.txt constraints.txt pyproject.toml | python
	@echo "==> creating $(VENV) with $(PYTHON313)"
	@test -x $(PY) && $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || { rm -rf $(VENV); "$(PYTHON313)" -m venv $(VENV); }
	$(BIN)/pip install -q -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

$(SAM_VENV)/.installed: requirements-sam.txt constraints-sam.txt | python
	@echo "==> creating $(SAM_VENV) (aws-sam-cli pins its own boto3, so it lives apart)"
	@test -x $(SAM_VENV)/bin/python || "$(PYTHON313)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q -r requirements-sam.txt -c constraints-sam.txt
	@touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt constraints-checkov.txt | python
	@echo "==> creating $(CHECKOV_VENV) (checkov pins many packages of its own, so it lives apart)"
	@test -x $(CHECKOV_VENV)/bin/python || "$(PYTHON313)" -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-checkov.txt -c constraints-checkov.txt
	@touch $@

venv: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed ## create or refresh the venvs

test: venv lint typecheck pytest validate security build ## everything CI runs: lint, types, all test suites, SAM lint, IaC scan and build

lint: $(VENV)/.installed ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(VENV)/.installed ## mypy --strict over layers/, functions/, cli/
	$(BIN)/mypy

pytest: $(VENV)/.installed ## every test suite: unit, integration, e2e
	$(BIN)/pytest

unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit
integration: $(VENV)/.installed
	$(BIN)/pytest tests/integration
e2e: $(VENV)/.installed
	$(BIN)/pytest tests/e2e

validate: $(SAM_VENV)/.installed ## sam validate --lint (cfn-lint), offline
	$(SAM) validate --lint --region $(AWS_DEFAULT_REGION)

# checkov reads SAM functions natively, but its IAM checks see only AWS::IAM::* resources, so it
# also scans the SAM translation (the generated roles). Every skip is justified inline in
# template.yaml (Metadata: checkov: skip) and in docs/SECURITY.md; any other finding fails.
security: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed ## checkov over template.yaml and its SAM translation, offline
	@mkdir -p $(SECURITY_OUT)
	$(SAM_VENV)/bin/python tests/security/translate_sam.py template.yaml $(SECURITY_OUT)/translated.json
	$(CHECKOV_VENV)/bin/checkov --framework cloudformation --skip-download --compact --quiet \
	  -f template.yaml -f $(SECURITY_OUT)/translated.json \
	  -o cli -o json --output-file-path console,$(SECURITY_OUT)/checkov.json
	@# a template checkov cannot parse would otherwise pass with nothing checked
	@$(CHECKOV_VENV)/bin/python -c 'import json, sys; s = json.load(open(sys.argv[1]))["summary"]; \
	  sys.exit(0 if s["parsing_errors"] == 0 and s["resource_count"] > 0 else f"checkov: {s}")' \
	  $(SECURITY_OUT)/checkov.json

build: $(SAM_VENV)/.installed ## sam build (arm64 wheels for the layer)
	PATH="$(dir $(PYTHON313)):$$PATH" $(SAM) build --cached --parallel

bench: $(VENV)/.installed ## run every benchmark in benchmarks/ and print their tables
	@for b in benchmarks/*.py; do echo "==> $$b"; $(PY) $$b || exit 1; done

run: $(VENV)/.installed ## the local stack: MQTT broker on 127.0.0.1:1883, AWS (moto) on :4566
	$(BIN)/mqtt-actions local

lock: python ## re-resolve and pin every dev dependency
	rm -rf /tmp/mqtt-actions-lock && "$(PYTHON313)" -m venv /tmp/mqtt-actions-lock
	/tmp/mqtt-actions-lock/bin/pip install -q -r requirements-dev.txt
	/tmp/mqtt-actions-lock/bin/pip freeze --exclude-editable > constraints.txt

clean: ## remove venvs, caches and build output
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache .hypothesis
