# drillkit: `make drill-quarterly` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DK     := $(VENV)/bin/drillkit
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help bootstrap test unit integration lint drill-quarterly loadtest k8s-configmap sandbox-up sandbox-down \
	sandbox-status clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "drillkit needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

bootstrap: $(STAMP) ## create .venv and install drillkit with its test extras

test: $(STAMP) ## the whole test suite: unit, then integration on the real sandbox
	$(PY) -m pytest

unit: $(STAMP) ## unit tests only (no servers)
	$(PY) -m pytest tests/unit

integration: $(STAMP) ## integration tests on the real sandbox
	$(PY) -m pytest tests/integration

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check src tests bench

drill-quarterly: $(STAMP) ## the quarterly drill against the sandbox (brought up and down as needed)
	$(DK) drill drills/quarterly.yaml --manage-sandbox

loadtest: $(STAMP) ## the steady load profile against the sandbox (brought up when needed)
	$(DK) sandbox up
	$(DK) loadtest loadtests/profiles/steady.yaml --host http://127.0.0.1:8080

k8s-configmap: $(STAMP) ## regenerate the Locust ConfigMap from loadtests/locustfile.py
	$(PY) deploy/kubernetes/locust/render_configmap.py

sandbox-up: $(STAMP) ## start the embedded staging sandbox (idempotent)
	$(DK) sandbox up

sandbox-down: $(STAMP) ## stop the sandbox; nothing keeps running
	$(DK) sandbox down

sandbox-status: $(STAMP) ## each part's pid, address, role and health
	$(DK) sandbox status

clean: ## stop the sandbox, delete its data and the venv
	-@[ -x $(DK) ] && $(DK) sandbox down --purge
	rm -rf $(VENV)
