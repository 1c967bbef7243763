# The lab fleet (docs/lab.md): QEMU VMs under TCG described by inventories/lab, state in
# $(VMSCAPE_CACHE)/lab. LAB_HOSTS="a b" limits start/stop/... to some hosts; LAB_PARALLEL sets
# how many boot at once (default 2); LAB_BOOT_TIMEOUT the seconds per boot (default 600),
# LAB_PROVISION_TIMEOUT the seconds of each step of a host's offline provisioning (default 1800;
# provisioning needs root, as lab-image does).
.PHONY: lab-image lab-start lab-stop lab-destroy lab-reset lab-status lab-test lab-molecule lab-molecule-hostops

LABCTL := $(ROOT)/tools/lab/labctl

# Base disk image from Debian's registries (root; rebuilt only when tools/lab/build-image.sh or
# tools/lab/repos.py change).
lab-image: deps
	$(ROOT)/tools/lab/build-image.sh

lab-start: venv deps lab-image
	$(LABCTL) start

lab-stop: venv
	$(LABCTL) stop

# quit the VMs at once and discard every change since provisioning
lab-destroy: venv
	$(LABCTL) destroy

lab-reset: venv
	$(LABCTL) reset

lab-status: venv
	$(LABCTL) status

# boots the fleet (fixture), checks CPU identities, cmdlines and one reboot through GRUB
lab-test: venv deps lab-image
	$(BIN)/pytest -q -m lab tests/integration/lab $(PYTEST_ARGS)

# molecule scenarios against the lab VMs, one fleet at a time: extensions/molecule/default
# (inventories/lab, every host converges; its libvirt host is drained, rebooted and undrained) and
# extensions/molecule/hostops (inventories/lab-hostops: a host whose update-grub fails or lies, where
# remediate.yml must stop cleanly and restore everything; docs/lab.md). `make test` runs
# LAB_SCENARIOS (default: both, in that order); `make lab-molecule-hostops` runs hostops alone,
# `make lab-molecule LAB_SCENARIOS=default` the default scenario alone. Both are in `make test`
# since hostops holds one host (grub-liar: about 5 minutes; docs/testing.md).
LAB_SCENARIOS ?= default hostops

lab-molecule: venv deps lab-image
	cd $(ROOT) && for s in $(LAB_SCENARIOS); do $(BIN)/molecule test -s $$s || exit 1; done

lab-molecule-hostops: venv deps lab-image
	cd $(ROOT) && $(BIN)/molecule test -s hostops
