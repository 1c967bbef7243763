# Compatibility (issue 10, docs/compatibility.md): the oldest supported ansible-core next to the
# newest one (.venv), and the target-side code on the oldest target Python the docs claim.
#   make compat          all of it (part of make test)
#   make compat-unit     the unit tests under ansible-core $(COMPAT_CORE) (controller Python 3.10/3.11)
#   make compat-sanity   ansible-test sanity of ansible-core $(COMPAT_CORE)
#   make compat-target   modules and module_utils on Python 3.6 through ansible-core 2.16's AnsiballZ:
#                        byte-compile + import, the kernel_cmdline corpus, vmscape_facts on real captures
#   make compat-runner   audit.yml and remediate.yml --check as AWX runs them (ansible-runner, the
#                        installed tarball) under ansible-core $(COMPAT_CORE), hosts running Python 3.6
.PHONY: compat compat-venv compat-unit compat-sanity compat-target compat-runner

COMPAT_CORE   ?= 2.16
VENV_COMPAT   ?= $(ROOT)/.venv-core$(subst .,,$(COMPAT_CORE))
COMPAT_BIN    := $(VENV_COMPAT)/bin
# ansible-core 2.16 runs on controller Python 3.10-3.12; 3.11 is what AAP 2.4/2.5 execution environments run
COMPAT_PYTHON ?= $(shell $(ROOT)/tools/find-python.sh 3.10 3.11 2>/dev/null)
OLDEST_TARGET_PYTHON ?= $(shell $(ROOT)/tools/find-python.sh 3.6 3.6 2>/dev/null)
COMPAT_ENV     = PATH=$(COMPAT_BIN):$$PATH VMSCAPE_COMPAT_BIN=$(COMPAT_BIN) VMSCAPE_TARGET_PYTHON=$(OLDEST_TARGET_PYTHON)

compat: compat-unit compat-sanity compat-target compat-runner

compat-venv: $(VENV_COMPAT)/.venv-stamp
$(VENV_COMPAT)/.venv-stamp: mk/compat.mk tools/compat-requirements.txt tools/find-python.sh
	@test -n "$(COMPAT_PYTHON)" || { echo "compat: no Python 3.10/3.11 for ansible-core $(COMPAT_CORE) (pyenv install 3.11)"; exit 1; }
	rm -rf "$(VENV_COMPAT)" && "$(COMPAT_PYTHON)" -m venv "$(VENV_COMPAT)"
	$(COMPAT_BIN)/python -m pip install -q --upgrade pip
	$(COMPAT_BIN)/python -m pip install -q -r tools/compat-requirements.txt 'ansible-core>=$(COMPAT_CORE),<$(COMPAT_CORE).999'
	touch $@

compat-unit: compat-venv deps
	$(COMPAT_ENV) $(COMPAT_BIN)/pytest -q -n 2 -p no:cacheprovider tests/unit $(PYTEST_ARGS)

compat-sanity: compat-venv
	VENV=$(VENV_COMPAT) tools/ansible-test-sanity.sh

compat-target: venv compat-venv
	@test -n "$(OLDEST_TARGET_PYTHON)" || { echo "compat: no Python 3.6 (pyenv install 3.6)"; exit 1; }
	$(COMPAT_ENV) $(BIN)/pytest -q -m compat tests/compat $(PYTEST_ARGS)

compat-runner: compat-venv deps
	@test -n "$(OLDEST_TARGET_PYTHON)" || { echo "compat: no Python 3.6 (pyenv install 3.6)"; exit 1; }
	$(COMPAT_ENV) $(COMPAT_BIN)/pytest -q -p no:cacheprovider -m integration \
	  tests/integration/awx/test_runner_jobs.py $(PYTEST_ARGS)
