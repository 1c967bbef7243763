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

.PHONY: help deps venv lint ruff ansible-lint sanity unit oracle integration test ci-fresh demo clean

help:
	@echo "make demo   - set everything up and assess/remediate the local lab fleet"
	@echo "make test   - set everything up and run the whole suite (CI runs this)"
	@echo "make unit | lint | sanity | oracle | integration | faults | lab-molecule - parts of the suite"
	@echo "make compat - unit, sanity, runner jobs under ansible-core 2.16; modules on Python 3.6 (mk/compat.mk)"
	@echo "make ee     - execution environment context (ansible-builder; image where podman/docker runs)"
	@echo "make ci-fresh - .ci/run on a clean clone with an empty cache (as CI on a new machine)"
	@echo "make bench  - fleet-scale benchmark (ping/setup/audit/remediate --check at 10/50/100/500 hosts)"
	@echo "make lab-start | lab-status | lab-stop - the lab fleet (docs/lab.md)"

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

# The whole suite: static checks, unit tests, sanity, the same under the oldest supported
# ansible-core with modules on the oldest target Python (compat), the real-kernel oracle, the
# real-tool integration tests, the fault-injection suite (mk/faults.mk), and the molecule scenario
# on the lab fleet (create, converge = remediate.yml, idempotence, verify, destroy).
test: venv deps lint unit sanity compat oracle integration faults lab-molecule

# `.ci/run` on a clean clone of the committed HEAD with CI=true and an EMPTY cache, as CI on a new
# machine runs it (docs/testing.md); prints the wall time. Use it before a stop that changes what is
# fetched or how.
ci-fresh:
	$(ROOT)/tools/ci/fresh-run.sh

# Build/reuse the lab, start it, remediate it, print the fleet report; the lab stays up.
demo: venv deps lab-image
	$(ROOT)/tools/lab/labctl start
	$(BIN)/ansible-playbook remediate.yml -i inventories/lab
	@echo
	@echo "The lab fleet is still running: 'make lab-status' shows it, 'make lab-stop' stops it,"
	@echo "'ansible-playbook playbooks/audit.yml -i inventories/lab' audits it again."

clean:
	rm -rf build .pytest_cache .ruff_cache tests/output
