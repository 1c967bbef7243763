# Execution environment for AWX / AAP (issue 10, docs/awx.md): execution-environment.yml.
#   make ee   collection tarball + `ansible-builder create` (build/ee/context) + `build` where podman
#             or docker runs containers. tests/integration/test_execution_environment.py checks the
#             context installs the collection and its requirements.
.PHONY: ee

ee: venv
	$(ROOT)/tools/ee/build.sh
