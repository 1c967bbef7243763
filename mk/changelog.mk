# Changelog (antsibull-changelog, changelogs/config.yaml): each change adds a fragment
# changelogs/fragments/<issue>-<topic>.yml (sections: major_changes, minor_changes, bugfixes, ...).
# `make changelog` folds the fragments into changelogs/changelog.yaml under galaxy.yml's version
# (again and again while that version is unreleased) and renders CHANGELOG.rst and CHANGELOG.md.
# `make lint` checks the fragments and that both rendered files are current.
.PHONY: changelog changelog-lint

GALAXY_VERSION := $(shell sed -n 's/^version: *//p' $(ROOT)/galaxy.yml)

changelog: venv
	cd $(ROOT) && $(BIN)/antsibull-changelog release --version $(GALAXY_VERSION)

changelog-lint: venv
	cd $(ROOT) && $(BIN)/antsibull-changelog lint
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd $(ROOT) && \
	  for f in rst md; do \
	    $(BIN)/antsibull-changelog generate --output "$$tmp/CHANGELOG.$$f" --output-format $$f >/dev/null && \
	    { cmp -s "$$tmp/CHANGELOG.$$f" CHANGELOG.$$f || \
	      { echo "CHANGELOG.$$f is not what changelogs/changelog.yaml renders: run make changelog" >&2; exit 1; }; }; \
	  done

lint: changelog-lint
