# fleetsec.vmscape — developer entry points. On a fresh machine: `make demo` or `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT        := $(abspath .)
VENV        ?= $(ROOT)/.venv
VMSCAPE_CACHE ?= $(HOME)/.cache/fleetsec-vmscape
export VMSCAPE_CACHE
BIN         := $(VENV)/bin
PY          := $(BIN)/python
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export PATH := $(BIN):$(PATH)
PYTEST_ARGS ?=

# Feature areas add their own targets in mk/<area>.mk (oracle, lab, bench, ...).
include $(sort $(wildcard mk/*.mk))

.PHONY: help deps venv lint ruff ansible-lint sanity unit oracle integration test demo clean

help:
	@echo "make demo   - set everything up and assess/remediate the local lab fleet"
	@echo "make test   - set everything up and run the whole suite (CI runs this)"
	@echo "make unit | lint | sanity | oracle | integration - parts of the suite"

# Debian packages (QEMU, busybox, GRUB tools, ...): installed when missing.
deps: $(VENV)/.deps-stamp
$(VENV)/.deps-stamp: tools/system-packages.txt tools/install-system-deps.sh | $(VENV)/.venv-stamp
	tools/install-system-deps.sh
	touch $@

# Python >= 3.12 virtualenv with ansible-core and the test tools.
venv: $(VENV)/.venv-stamp
$(VENV)/.venv-stamp: pyproject.toml tools/find-python.sh
	@py=$$(tools/find-python.sh) && echo "using $$py" && \
	  { [ -x "$(PY)" ] && "$(PY)" -c 'import sys; sys.exit(sys.version_info < (3, 12))' || \
	    { rm -rf "$(VENV)"; "$$py" -m venv "$(VENV)"; }; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

ruff: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

ansible-lint: venv
	cd $(ROOT) && $(BIN)/ansible-lint --offline -q

lint: ruff ansible-lint

sanity: venv
	tools/ansible-test-sanity.sh

unit: venv deps
	$(BIN)/pytest -q -n 2 tests/unit $(PYTEST_ARGS)

oracle: venv deps
	$(BIN)/pytest -q tests/integration/oracle $(PYTEST_ARGS)

integration: venv deps
	$(BIN)/pytest -q tests/integration -m "integration" $(PYTEST_ARGS)

test: venv deps lint unit sanity oracle integration

demo: venv deps
	@echo "== read-only assessment of this machine (the lab fleet arrives with issue 4) =="
	$(BIN)/ansible localhost -m fleetsec.vmscape.vmscape_plan

clean:
	rm -rf build .pytest_cache .ruff_cache tests/output
