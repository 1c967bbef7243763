# Fault-injection suite (tests/faults, marker `faults`; tests/faults/README.md): SIGKILL at
# random points, concurrent runs, ENOSPC/inode exhaustion on a tmpfs, failing/hanging/lying
# update-grub, journal corruption, decompression bombs, hostile roots. Needs root (mount
# namespaces, tmpfs). Prints the table README's "Reliability" section shows; the report is
# build/faults-report.json. Part of `make test`.
.PHONY: faults
faults: venv deps
	$(BIN)/pytest -q -p no:cacheprovider -n 2 tests/faults $(PYTEST_ARGS)
