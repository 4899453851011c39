# The one entry point. `make test` and `make run` set up everything on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
SAM_VENV  := .venv-sam
CHECKOV_VENV := .venv-checkov
DOCS_VENV := .venv-docs
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

.PHONY: help python venv sysdeps test quick load docs docs-gen docs-serve lint format typecheck pytest unit integration e2e validate security build bench run paho lock clean corpus tagoio-sdk-reference

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

python:
	@if [ -z "$(PYTHON313)" ]; then \
	  echo "error: Python 3.13 not found (Lambda runs python3.13, so the project pins it)." >&2; \
	  echo "  install it with:  pyenv install 3.13   (or your OS package: python3.13 python3.13-venv)" >&2; \
	  echo "  or point to it:   make test PYTHON313=/path/to/python3.13" >&2; \
	  exit 1; fi

# Every venv is made by scripts/venv.sh with uv (from PATH, else bootstrapped once into .tools/uv;
# pip if uv cannot be had): one line per step with its time. The constraints files are the pins.
MKVENV := PYTHON313="$(PYTHON313)" scripts/venv.sh

$(VENV)/.installed: requirements-dev.txt layers/core/requirements.txt layers/parser/requirements.txt constraints.txt pyproject.toml | python
	@$(MKVENV) $(VENV) requirements-dev.txt constraints.txt --editable

# aws-sam-cli and checkov pin many packages of their own (boto3 among them), so each lives apart.
$(SAM_VENV)/.installed: requirements-sam.txt constraints-sam.txt | python
	@$(MKVENV) $(SAM_VENV) requirements-sam.txt constraints-sam.txt

$(CHECKOV_VENV)/.installed: requirements-checkov.txt constraints-checkov.txt | python
	@$(MKVENV) $(CHECKOV_VENV) requirements-checkov.txt constraints-checkov.txt

# mkdocs-material pins Markdown and Jinja2 of its own: the documentation site has its venv too.
$(DOCS_VENV)/.installed: requirements-docs.txt constraints-docs.txt | python
	@$(MKVENV) $(DOCS_VENV) requirements-docs.txt constraints-docs.txt

# Debian packages the tests drive as third-party clients (mosquitto_pub/_sub), the browser the
# console tests drive and the local gateway (haproxy, make run starts it). Installed with
# apt-get when missing and running as root (CI); otherwise the command to run is printed.
SYSTEM_PACKAGES := mosquitto-clients:mosquitto_pub chromium:chromium haproxy:haproxy
sysdeps: ## install the Debian packages the tests need (apt-get, as root)
	@missing=""; for pc in $(SYSTEM_PACKAGES); do command -v "$${pc#*:}" >/dev/null || missing="$$missing $${pc%%:*}"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "error: the tests need:$$missing. Install with: sudo apt-get install -y$$missing" >&2; exit 1; fi; \
	start=$${EPOCHREALTIME/./}; \
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing) >/tmp/mqtt-actions-apt.log 2>&1 \
	  || { cat /tmp/mqtt-actions-apt.log >&2; exit 1; }; \
	t=$$(( ($${EPOCHREALTIME/./} - start) / 100000 )); echo "==> apt-get: installed$$missing ($$((t / 10)).$$((t % 10)) s)"

venv: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed $(DOCS_VENV)/.installed ## create or refresh the venvs

test: venv lint typecheck docs pytest validate security build ## everything CI runs: lint, types, the docs site, all test suites, SAM lint, IaC scan and build

# The suite to run while working: everything but the tests marked `slow` (tests/conftest.py marks
# e2e tests; fault and hostile-input matrices are marked in their files). Property tests run with
# hypothesis's `quick` profile (20 examples each instead of 300).
quick: lint typecheck ## lint, types, unit, fast integration and property tests (small profile; no e2e)
	$(BIN)/pytest -q -m "not slow" --hypothesis-profile=quick

load: $(VENV)/.installed sysdeps ## only the long load tests (make test runs them too)
	$(BIN)/pytest -m load

lint: $(VENV)/.installed ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(VENV)/.installed ## mypy --strict over layers/, functions/, cli/
	$(BIN)/mypy

pytest: $(VENV)/.installed sysdeps tagoio-sdk-reference ## every test suite: unit, integration, e2e
	$(BIN)/pytest

# tests/inspector is one suite by behaviour: its tests on moto are marked `integration`.
unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit tests/inspector -m "not integration"
integration: $(VENV)/.installed
	$(BIN)/pytest tests/integration
	$(BIN)/pytest tests/inspector -m integration
e2e: $(VENV)/.installed sysdeps
	$(BIN)/pytest tests/e2e

validate: $(SAM_VENV)/.installed ## sam validate --lint (cfn-lint), offline
	$(SAM) validate --lint --region $(AWS_DEFAULT_REGION)

# checkov scans only the resources whose conditions hold with the parameters' defaults: the
# stack with the legacy-port gateway (off by default) is scanned as a second translation.
GATEWAY_ON := LegacyGateway=Enabled LegacyGatewayTokenDomain=abc123-ats.iot.us-east-1.amazonaws.com \
  LegacyGatewayVpc=vpc-0123456789abcdef0 LegacyGatewaySubnets=subnet-0123456789abcdef0,subnet-0fedcba9876543210 \
  LegacyGatewayCertificateArn=arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000
# checkov reads SAM functions natively, but its IAM checks see only AWS::IAM::* resources, so it
# also scans the SAM translation (the generated roles). Every skip is justified inline in
# template.yaml (Metadata: checkov: skip) and in docs/SECURITY.md; any other finding fails.
security: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed ## checkov over template.yaml and its SAM translation, offline
	@mkdir -p $(SECURITY_OUT)
	$(SAM_VENV)/bin/python tests/security/translate_sam.py template.yaml $(SECURITY_OUT)/translated.json
	$(SAM_VENV)/bin/python tests/security/translate_sam.py template.yaml $(SECURITY_OUT)/translated-gateway.json $(GATEWAY_ON)
	$(CHECKOV_VENV)/bin/checkov --framework cloudformation --skip-download --compact --quiet \
	  -f template.yaml -f $(SECURITY_OUT)/translated.json -f $(SECURITY_OUT)/translated-gateway.json \
	  -o cli -o json --output-file-path console,$(SECURITY_OUT)/checkov.json
	@# a template checkov cannot parse would otherwise pass with nothing checked
	@$(CHECKOV_VENV)/bin/python -c 'import json, sys; s = json.load(open(sys.argv[1]))["summary"]; \
	  sys.exit(0 if s["parsing_errors"] == 0 and s["resource_count"] > 0 else f"checkov: {s}")' \
	  $(SECURITY_OUT)/checkov.json

build: $(SAM_VENV)/.installed ## sam build (arm64 wheels for the layer)
	PATH="$(dir $(PYTHON313)):$$PATH" $(SAM) build --cached --parallel

# The documentation site: sources in docs/, reference pages generated from the code.
docs-gen: $(VENV)/.installed ## regenerate docs/reference/ (CLI, actions file, template parameters, limits)
	$(PY) scripts/gen_docs.py

docs: $(VENV)/.installed $(DOCS_VENV)/.installed ## build the documentation site strictly (stale reference pages or broken links fail)
	$(PY) scripts/gen_docs.py --check
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict --quiet --site-dir .site

docs-serve: $(DOCS_VENV)/.installed ## serve the documentation site on http://127.0.0.1:8000 with live reload
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

bench: $(VENV)/.installed ## run every benchmark in benchmarks/ and print their tables
	@for b in benchmarks/*.py; do echo "==> $$b"; $(PY) $$b || exit 1; done

run: $(VENV)/.installed ## the local stack: MQTT broker on 127.0.0.1:1883, AWS (moto) on :4566
	@echo "==> starting the local stack (Ctrl-C stops it)"
	@$(BIN)/mqtt-actions local

# Eclipse Paho's MQTT 3.1.1 interoperability suite against the local stack, with IoT Core's broker
# rules and with --spec-broker. The suite is not part of the project (nor on PyPI): clone
# https://github.com/eclipse/paho.mqtt.testing and pass its interoperability directory.
paho: $(VENV)/.installed ## run Paho's interoperability suite against the local stack: make paho PAHO=DIR
	@test -n "$(PAHO)" || { echo "error: PAHO is not set: make paho PAHO=path/to/paho.mqtt.testing/interoperability" >&2; exit 2; }
	$(PY) scripts/paho_interop.py --suite "$(PAHO)" --local
	$(PY) scripts/paho_interop.py --suite "$(PAHO)" --local --qos1
	$(PY) scripts/paho_interop.py --suite "$(PAHO)" --local --spec-broker

# uv resolves each requirements file afresh (newest releases) for Python 3.13 on Linux and writes
# the pins; commit the constraints files together with a green `make test`.
lock: python ## re-resolve and pin every dependency (constraints*.txt) with uv
	@uv=$$(command -v uv || echo .tools/uv/bin/uv); test -x "$$uv" || { echo "error: no uv yet: run 'make venv' first" >&2; exit 1; }; \
	for pair in requirements-dev.txt:constraints.txt requirements-sam.txt:constraints-sam.txt requirements-checkov.txt:constraints-checkov.txt requirements-docs.txt:constraints-docs.txt; do \
	  echo "==> $${pair#*:} from $${pair%%:*}"; \
	  "$$uv" pip compile --quiet --python "$(PYTHON313)" --python-platform linux --no-header --no-annotate \
	    "$${pair%%:*}" -o "$${pair#*:}" || exit 1; \
	done

clean: ## remove venvs, caches and build output
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(DOCS_VENV) .site .tools .aws-sam .mypy_cache .ruff_cache .pytest_cache .hypothesis

# TagoIO's SDK from PyPI, for comparison only: a directory, not on any path (see the file).
TAGOIO_SDK_REF := $(VENV)/tagoio-sdk-reference
tagoio-sdk-reference: $(TAGOIO_SDK_REF)/.installed
$(TAGOIO_SDK_REF)/.installed: requirements-tagoio-sdk.txt | $(VENV)/.installed
	@uv=$$(command -v uv || echo .tools/uv/bin/uv); rm -rf $(TAGOIO_SDK_REF); \
	"$$uv" pip install --quiet --no-deps --python $(PY) --target $(TAGOIO_SDK_REF) -r requirements-tagoio-sdk.txt \
	  && touch $@ && echo "==> $(TAGOIO_SDK_REF): tagoio-sdk (reference, not importable)"

corpus: $(VENV)/.installed ## run TagoIO analyses unchanged and check their effects: make corpus SNIPPETS=DIR
	@if [ -z "$(SNIPPETS)" ]; then echo "usage: make corpus SNIPPETS=DIR (e.g. tago-io/analysis-snippets' snippets/analysis/python-rt2025)" >&2; exit 2; fi
	$(PY) scripts/tagoio_corpus.py --snippets "$(SNIPPETS)"
