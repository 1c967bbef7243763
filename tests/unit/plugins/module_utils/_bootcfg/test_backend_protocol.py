"""The backend protocol's shared methods (``backends.base``: detect and read by the backend's own
name) and the change's decision to regenerate (``_bootcfg.change``), on roots written by hand
(found by `make mutation`: only the end-to-end module tests reached them)."""

from types import SimpleNamespace

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import registry as backends
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.change import Change
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_each_backend_detects_and_reads_its_own_configuration(tmp_path):
    write(tmp_path, "boot/efi/loader/loader.conf", "timeout 3\n")
    write(tmp_path, "etc/kernel/cmdline", "root=/dev/vda2 rw\n")
    write(tmp_path, "etc/default/grub", 'GRUB_CMDLINE_LINUX="console=ttyS0"\n')
    root = str(tmp_path)
    sd, grub = backends.get("systemd-boot"), backends.get("grub")
    assert sd.detect(root) == (2, "/boot/efi/loader/loader.conf (systemd-boot)")  # 2: configured
    assert sd.read(root) == (["root=/dev/vda2", "rw"], [])
    assert grub.detect(root) == (2, "/etc/default/grub (GRUB defaults, update-grub/grub-mkconfig)")
    assert grub.read(root) == (["console=ttyS0"], [])
    assert backends.get("grubby").detect(root) is None  # no BLS entries


def session(regenerate=True):
    return SimpleNamespace(regenerate=regenerate)


def plan(regen=("update-grub",), skipped=None, stale=None):
    return SimpleNamespace(regen=list(regen), regen_skipped=skipped, regen_stale=stale)


@pytest.mark.parametrize(
    ("sess", "pl", "predicted", "want"),
    [
        (session(), plan(), True, True),  # the files change: regenerate
        (session(), plan(), False, False),  # nothing changes, nothing is stale
        (session(), plan(stale="grub.cfg is older than /etc/default/grub"), False, True),  # stale alone
        (session(regenerate=False), plan(), True, False),  # regenerate=false
        (session(), plan(regen=()), True, False),  # a backend without a generator
        (session(), plan(skipped="chroot needs root privileges"), True, False),
        (session(), plan(skipped="chroot needs root privileges", stale="stale"), False, False),
    ],
)
def test_a_change_regenerates_only_when_asked_possible_and_needed(sess, pl, predicted, want):
    assert Change(build_request({"vmscape": "ibpb"}, [])).will_regenerate(sess, pl, predicted) is want
