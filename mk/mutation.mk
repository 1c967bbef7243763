# Mutation testing (issue 12, docs/testing.md "Mutation testing"): mutmut over the decision core and
# the boot-config editor, each mutant run against the unit tests that reach it. Not part of
# `make test` or CI; writes docs/mutation-score.json and the score sections of docs/testing.md.
#   make mutation                                        all files (~30 min on 2 idle cores)
#   make mutation MUTATE=plugins/module_utils/_common/cmdline.py one file (or a comma-separated list)
#   MUTATION_JOBS=2                                      parallel mutants (default: the core count)
.PHONY: mutation

MUTATE        ?=
MUTATION_JOBS ?= $(shell nproc)

# mutmut as pinned by pyproject.toml's `mutation` extra (installed alone: no reinstall of the project)
MUTMUT_REQ = $(shell sed -n 's/^mutation = \["\(.*\)"\]/\1/p' pyproject.toml)

$(VENV)/.mutation-stamp: pyproject.toml | $(VENV)/.venv-stamp
	$(PY) -m pip install -q '$(MUTMUT_REQ)'
	touch $@

mutation: venv deps $(VENV)/.mutation-stamp
	$(PY) -m tools.mutation.run --jobs $(MUTATION_JOBS) $(if $(MUTATE),--mutate "$(MUTATE)")
