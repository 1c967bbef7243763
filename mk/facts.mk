# vmscape_facts (target-side facts module): focused targets. `make unit` / `make integration`
# (top Makefile) run these tests too.
.PHONY: facts-unit facts-integration facts-snapshots facts-local

facts-unit: venv
	$(BIN)/pytest -q tests/unit/plugins/module_utils/_facts $(PYTEST_ARGS)

# real Debian kernels (fetched into $(VMSCAPE_CACHE) by tools/oracle/kernels.py) and gather_facts runs
facts-integration: venv deps
	$(BIN)/pytest -q -s -m integration tests/integration/test_kernel_probe_real.py \
	  tests/integration/test_facts_gather_facts.py $(PYTEST_ARGS)

# regenerate the committed snapshot roots under tests/data/facts/snapshots
facts-snapshots: venv
	$(PY) tests/unit/facts_fixtures.py

# the facts of this machine
facts-local: venv
	$(BIN)/ansible localhost -m fleetsec.vmscape.vmscape_facts -a root=/
