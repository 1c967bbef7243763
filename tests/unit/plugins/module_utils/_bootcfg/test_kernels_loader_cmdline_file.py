"""The small readers of the boot configuration, on roots written by hand (found by `make mutation`:
they were reached only through the end-to-end module tests, which the mutation run leaves out).

- ``_bootcfg.kernels``: the installed kernels (``/boot/vmlinuz-<release>`` and the kernel-install
  layout ``/usr/lib/modules/<release>/vmlinuz``), without dracut's rescue images
  (``/boot/vmlinuz-0-rescue-<machine-id>``, dracut's 51-dracut-rescue.install);
- ``_bootcfg.loader``: the ``default`` of systemd-boot's loader.conf (loader.conf(5): a key, white
  space, the value to the end of the line; systemd-boot keeps the last of repeated keys);
- ``_bootcfg.kernel_cmdline_file``: /etc/kernel/cmdline and kernel-install's fallbacks, with the
  path each answer belongs to and errors that name the file that failed.
"""

import errno
import os

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import kernel_cmdline_file as kcf
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.kernels import Kernel, installed
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.loader import default_pattern

MID = "3f1b5a7c9d2e4f60a1b2c3d4e5f60718"


def touch(root, rel, data=b"x"):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------ kernels
def test_rescue_images_and_copies_are_not_kernels(tmp_path):
    for name in (
        "vmlinuz-6.1.0-28-amd64",
        "vmlinuz-6.1.0-28-amd64.old",
        f"vmlinuz-0-rescue-{MID}",  # dracut's rescue image (Fedora, RHEL)
        "vmlinuz-0-rescue",  # the same without a machine id
        "config-6.1.0-28-amd64",
    ):
        touch(tmp_path, "boot/" + name)
    assert [(k.release, k.image) for k in installed(str(tmp_path))] == [
        ("6.1.0-28-amd64", "/boot/vmlinuz-6.1.0-28-amd64")
    ]


def test_a_kernel_reads_back_as_its_release_and_image():
    k = Kernel("6.1.0-28-amd64", "/boot/vmlinuz-6.1.0-28-amd64", None, None)
    assert repr(k) == "Kernel('6.1.0-28-amd64', '/boot/vmlinuz-6.1.0-28-amd64')"


# ------------------------------------------------------------------------------------------- loader
@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("timeout 3\neditor no\n", None),  # no default: None, not an empty pattern
        ("", None),
        (None, None),
        ("default  debian-*.conf  \n", "debian-*.conf"),
        ("default\tarch linux*.conf\n", "arch linux*.conf"),  # the value runs to the end of the line
        ("default a.conf\ntimeout 3\ndefault @saved\n", "@saved"),  # the last one counts
        ("default\n", None),  # a key without a value
        ("  default   b.conf\n", "b.conf"),
        ("defaults x.conf\n", None),
    ],
)
def test_the_default_pattern_of_loader_conf(text, want):
    assert default_pattern(text) == want


# ------------------------------------------------------------------------------ /etc/kernel/cmdline
def test_each_source_of_the_command_line_names_the_file_it_belongs_to(tmp_path):
    real = str(tmp_path / "etc/kernel/cmdline")
    touch(tmp_path, "proc/cmdline", b"BOOT_IMAGE=/vmlinuz-6.1.0-28-amd64 root=/dev/vda2 ro single\n")
    got = kcf.read(str(tmp_path))
    assert (got.real_path, got.data, got.text) == (real, None, "root=/dev/vda2 ro\n")
    touch(tmp_path, "usr/lib/kernel/cmdline", b"root=/dev/vda3 quiet\n")
    got = kcf.read(str(tmp_path))
    assert (got.real_path, got.data, got.text, got.notes) == (
        real,
        None,
        "root=/dev/vda3 quiet\n",
        ["/etc/kernel/cmdline created from /usr/lib/kernel/cmdline"],
    )
    touch(tmp_path, "etc/kernel/cmdline", b"root=/dev/vda4\n")
    got = kcf.read(str(tmp_path))
    assert (got.real_path, got.data, got.text, got.notes) == (real, b"root=/dev/vda4\n", "root=/dev/vda4\n", [])


def test_a_link_to_the_command_line_is_read_where_it_points(tmp_path):
    touch(tmp_path, "etc/kernel/cmdline.d/main", b"root=/dev/vda2\n")
    os.symlink("/etc/kernel/cmdline.d/main", tmp_path / "etc/kernel/cmdline")
    got = kcf.read(str(tmp_path))
    assert (got.real_path, got.text) == (str(tmp_path / "etc/kernel/cmdline.d/main"), "root=/dev/vda2\n")


def test_an_unreadable_source_is_named_with_the_systems_reason(tmp_path):
    (tmp_path / "etc/kernel/cmdline").mkdir(parents=True)
    with pytest.raises(BootConfigError) as err:
        kcf.read(str(tmp_path))
    assert str(err.value) == f"{tmp_path}/etc/kernel/cmdline: {os.strerror(errno.EISDIR)}"
    (tmp_path / "etc/kernel/cmdline").rmdir()
    (tmp_path / "usr/lib/kernel/cmdline").mkdir(parents=True)  # the fallback fails: it is named, not /etc's
    with pytest.raises(BootConfigError) as err:
        kcf.read(str(tmp_path))
    assert str(err.value) == f"{tmp_path}/usr/lib/kernel/cmdline: Is a directory"


def test_read_file_names_the_host_path_when_it_cannot_read(tmp_path):
    (tmp_path / "etc/kernel/cmdline").mkdir(parents=True)
    with pytest.raises(BootConfigError) as err:
        kcf.read_file(str(tmp_path))
    assert str(err.value) == "/etc/kernel/cmdline: Is a directory"
    (tmp_path / "etc/kernel/cmdline").rmdir()
    (tmp_path / "etc/kernel/cmdline").write_bytes(b"root=/dev/vda2 \xff\n")
    assert kcf.read_file(str(tmp_path)) == "root=/dev/vda2 \\xff\n"
