# One command for checks (`make lint`), one for tests (`make test`).
# Every target installs what it needs from nothing and is quiet on success.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
PIP := $(PYTHON) -m pip --disable-pip-version-check --quiet
# The reference engine is a test oracle only: its own environment, its own process.
ORACLE_VENV := .venv-oracle
ORACLE_VERSION := 0.1.0a5
STAMP := $(VENV)/.installed

PYTEST_ARGS ?=
# Every Python tree the project ships or runs; `make lint` covers them all.
PY_TREES := operator tests bench scripts examples

.PHONY: help venv oracle lint fmt test test-unit demo bench e2e image crds
help:
	@echo "make demo    run the whole product locally (control plane, git, operator, pods' SDK)"
	@echo "make test    every test that can run on this machine"
	@echo "make lint    ruff format --check, ruff check, mypy --strict, import-linter"
	@echo "make cluster / cluster-down   the local Kubernetes control plane"

$(STAMP): pyproject.toml
	@test -x $(PYTHON) || $(PYTHON_BOOT) -m venv $(VENV)
	@$(PIP) install --upgrade pip
	@$(PIP) install -e '.[test,lint]'
	@touch $@

venv: $(STAMP)

$(ORACLE_VENV)/.installed:
	@test -x $(ORACLE_VENV)/bin/python || $(PYTHON_BOOT) -m venv $(ORACLE_VENV)
	@$(ORACLE_VENV)/bin/python -m pip --disable-pip-version-check --quiet install 'rototo==$(ORACLE_VERSION)'
	@touch $@

oracle: $(ORACLE_VENV)/.installed

lint: $(STAMP)
	@$(VENV)/bin/ruff format --check --quiet $(PY_TREES)
	@$(VENV)/bin/ruff check --quiet $(PY_TREES)
	@$(VENV)/bin/mypy --no-error-summary
	@$(VENV)/bin/lint-imports --no-cache > /tmp/rototo-lint-imports.log 2>&1 || { cat /tmp/rototo-lint-imports.log; exit 1; }

fmt: $(STAMP)
	@$(VENV)/bin/ruff format --quiet $(PY_TREES)
	@$(VENV)/bin/ruff check --quiet --fix $(PY_TREES)

test-unit: $(STAMP) oracle test-deps
	@$(PYTHON) -m pytest -q -m "not integration and not kind" $(PYTEST_ARGS)

test: $(STAMP) oracle cluster-bins test-deps
	@$(PYTHON) -m pytest -q $(PYTEST_ARGS)

# System packages the tests serve with: OpenSSH's sshd for git+ssh. Installed only when
# missing and only as root with apt-get; elsewhere nothing happens and those tests skip,
# naming /usr/sbin/sshd. A failed install prints its log and the tests still run.
.PHONY: test-deps
test-deps:
	@if [ ! -x /usr/sbin/sshd ] && [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
		log=$$(mktemp); \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server \
			|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends openssh-server; }; } > "$$log" 2>&1 \
			|| { cat "$$log" >&2; echo "make test-deps: openssh-server did not install; SSH tests will skip" >&2; }; \
		rm -f "$$log"; \
	fi

# The CRD is generated from the pydantic models in operator/rototo_operator/api.
crds: $(STAMP)
	@$(PYTHON) -m rototo_operator.api > crds/workspaces.rototo.dev.yaml

# Every benchmark with its defaults; numbers and machine notes go in docs/benchmarks.md.
bench: $(STAMP) oracle
	@for script in bench/*.py; do echo "== $$script"; $(PYTHON) $$script || exit 1; done

include tests/cluster/cluster.mk

# --- packaging: image, chart, demo, kind end to end (owner: packaging) ---
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= rototo-operator:$(VERSION)

.PHONY: helm-lint helm-sync
image:
	@docker info > /dev/null 2>&1 || { echo "make image: no Docker engine here (docker info failed)" >&2; exit 1; }
	@docker build --quiet --tag $(IMAGE) --build-arg VERSION=$(VERSION) \
		--build-arg REVISION="$$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
		--build-arg CREATED="$$(date -u +%Y-%m-%dT%H:%M:%SZ)" . > /dev/null
	@echo "built $(IMAGE)"

demo: $(STAMP) cluster-bins
	@$(PYTHON) scripts/demo.py

e2e: $(STAMP)
	@ROTOTO_E2E_IMAGE=$(IMAGE) $(PYTHON) -m pytest -q -m kind tests/e2e $(PYTEST_ARGS)

helm-lint: cluster-bins
	@"$$(bash tests/cluster/build.sh --print-dir)/helm" lint --strict --quiet charts/rototo-operator

# After a chart, CRD or RBAC change: copy crds/ and docs/rbac-rules.yaml into the chart,
# regenerate manifests/ and the helm template snapshots (tests fail until this has run;
# review the diff).
helm-sync: $(STAMP) cluster-bins
	@$(PYTHON) scripts/render_manifests.py
	@ROTOTO_UPDATE_SNAPSHOTS=1 $(PYTHON) -m pytest -q tests/integration/test_chart.py -k snapshot > /dev/null
