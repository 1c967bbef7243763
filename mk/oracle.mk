# The real-kernel oracle (tests/integration/oracle, docs/testing.md). `make oracle` (top Makefile)
# runs the tests, which fetch kernels and QEMU 10 themselves on first use; these targets do the
# fetching/booting separately. Everything lands in $(VMSCAPE_CACHE).
.PHONY: oracle-kernels oracle-qemu oracle-warm oracle-observed

oracle-kernels: venv
	$(PY) -m tools.oracle.kernels

oracle-qemu: venv
	$(PY) -m tools.qemu

# boot the whole matrix (2 at a time) without pytest: fills the results cache
oracle-warm: venv deps oracle-kernels oracle-qemu
	$(PY) -m tools.oracle.run

# rewrite tests/data/oracle-observed.json from the results cache (no boots)
oracle-observed: venv
	$(PY) -m tools.oracle.observed
