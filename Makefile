# drillkit: `make drill-quarterly` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DK     := $(VENV)/bin/drillkit
STAMP  := $(VENV)/.installed
# Barman (the sandbox's backup server) in a venv of its own: it needs psycopg2, drillkit psycopg 3.
BARMAN_VENV  := $(VENV)/barman
BARMAN_STAMP := $(BARMAN_VENV)/.installed
BARMAN_VERSION := 3.19.1
# Debian keeps iptables and useradd in the sbin dirs, which a minimal PATH leaves out.
export PATH := $(PATH):/usr/local/sbin:/usr/sbin:/sbin
# Debian packages: network faults need iptables; barman restores even a local backup with rsync; the
# report test renders in chromium; the stop-condition tests query a real Prometheus.
DRILL_DEBS := iptables rsync
TEST_DEBS  := iptables rsync chromium prometheus
# The Docker staging: Debian's engine and Compose, and debootstrap for the image's base (no registry).
DOCKER_DEBS := docker.io docker-compose debootstrap
# One Docker staging at a time on a machine (its engine root and subnets are fixed).
STAGING_LOCK := /tmp/drillkit-docker.lock

.DEFAULT_GOAL := help
.PHONY: help bootstrap barman system-packages test-packages test unit integration docker-tests lint drill-quarterly drill-docker loadtest drill-image experiments sandbox-up sandbox-down \
	sandbox-status docker-packages staging-up staging-down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "drillkit needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

bootstrap: $(STAMP) $(BARMAN_STAMP) ## create .venv and install drillkit with its test extras, and barman's venv

# psycopg2-binary and python-dateutil first, then barman without its dependencies: its requirement
# "psycopg2" would build from source (pg_config, libpq headers, gcc); psycopg2-binary is the same module.
$(BARMAN_STAMP): deploy/barman/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "barman needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(BARMAN_VENV)
	$(BARMAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BARMAN_VENV)/bin/python -m pip install --quiet -r deploy/barman/requirements.txt
	$(BARMAN_VENV)/bin/python -m pip install --quiet --no-deps barman==$(BARMAN_VERSION)
	$(BARMAN_VENV)/bin/barman --version
	@touch $@

barman: $(BARMAN_STAMP) ## build .venv/barman (barman $(BARMAN_VERSION) for the sandbox's backups)

system-packages: ## as root, apt-get install what the drill needs and is missing (iptables)
	@$(call debs,$(DRILL_DEBS))

test-packages: ## as root, apt-get install what the tests need and is missing (iptables, chromium, prometheus)
	@$(call debs,$(TEST_DEBS))

# Install the Debian packages in $(1) that are missing: apt-get update once, then install, only as
# root. Without root it says what is missing and goes on: drillkit's preflight stops a run before
# its first fault when a capability is missing.
define debs
missing=""; for deb in $(1); do \
  dpkg-query -W -f='$${Status}' $$deb 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$deb"; \
done; \
if [ -z "$$missing" ]; then exit 0; fi; \
if [ "$$(id -u)" != 0 ]; then \
  echo "missing Debian packages:$$missing; install them as root (apt-get install$$missing)" >&2; exit 0; fi; \
echo "installing Debian packages:$$missing"; \
export DEBIAN_FRONTEND=noninteractive; \
apt-get -o DPkg::Lock::Timeout=300 update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq $$missing
endef

docker-packages: ## as root, apt-get install what the Docker staging needs and is missing (docker.io, docker-compose, debootstrap)
	@$(call debs,$(DOCKER_DEBS))

test: $(STAMP) $(BARMAN_STAMP) test-packages ## the whole test suite: unit, then integration on the real sandbox
	$(PY) -m pytest

unit: $(STAMP) ## unit tests only (no servers)
	$(PY) -m pytest tests/unit

integration: $(STAMP) $(BARMAN_STAMP) test-packages ## integration tests on the real sandbox
	$(PY) -m pytest tests/integration

docker-tests: $(STAMP) docker-packages ## as root, the Docker tests: the driver on a private engine, the staging built and drilled
	flock $(STAGING_LOCK) $(PY) -m pytest tests/docker

lint: $(STAMP) ## ruff over src, tests and bench; mypy over src
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src

drill-quarterly: $(STAMP) $(BARMAN_STAMP) system-packages ## the quarterly drill against the sandbox (brought up and down as needed)
	$(DK) drill drills/quarterly.yaml --manage-sandbox

loadtest: $(STAMP) test-packages ## the steady load profile against the sandbox (brought up when needed)
	$(DK) sandbox up
	$(DK) loadtest loadtests/profiles/steady.yaml --host http://127.0.0.1:8080

drill-image: $(STAMP) docker-packages ## the drillkit image for Kubernetes (drill CronJob, Locust Jobs), built locally: drillkit:<hash>
	flock $(STAGING_LOCK) $(DK) staging drill-image

experiments: $(STAMP) ## write experiments/shared/common.yaml into every experiment that carries its block
	$(PY) experiments/shared/render.py

sandbox-up: $(STAMP) $(BARMAN_STAMP) ## start the embedded staging sandbox (idempotent)
	$(DK) sandbox up

sandbox-down: $(STAMP) ## stop the sandbox; nothing keeps running
	$(DK) sandbox down

sandbox-status: $(STAMP) ## each part's pid, address, role and health
	$(DK) sandbox status

# The staging is taken down whatever the drill's verdict; the drill's exit code (0 passed, 1 failed, 2 invalid,
# 3 aborted) is make's, unless taking the staging down failed (then 3: the host may keep what it left).
drill-docker: $(STAMP) system-packages docker-packages ## the quarterly drill against the Docker staging (built, brought up, taken down)
	flock $(STAGING_LOCK) sh -c 'trap : INT TERM; $(DK) staging up || exit 3; \
	  $(DK) drill drills/quarterly.yaml --target drills/targets/docker.yaml --yes; rc=$$?; \
	  $(DK) staging down || rc=3; exit $$rc'

staging-up: $(STAMP) docker-packages ## the Docker staging: private engine, image built locally, Compose project up and healthy (idempotent)
	flock $(STAGING_LOCK) $(DK) staging up

staging-down: $(STAMP) ## remove the Docker staging and stop its engine; fails if the host's network kept anything
	flock $(STAGING_LOCK) $(DK) staging down

clean: ## stop the sandbox, delete its data and the venv
	-@[ -x $(DK) ] && $(DK) sandbox down --purge
	rm -rf $(VENV)
