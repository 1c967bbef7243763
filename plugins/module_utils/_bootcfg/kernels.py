# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernels installed under a root: the one list the facts and the backends use.

Target side: standard library only, importable by Python 3.6+.

A kernel is a release with an image: ``/boot/vmlinuz-<release>`` (what boot loaders point at; it
wins), else ``/usr/lib/modules/<release>/vmlinuz`` or ``/lib/modules/<release>/vmlinuz`` (Fedora's
and Debian 13's kernel-install layout). Names that are not a release are left out (``.old``,
``.bak``, ``.sig``, ``.efi.signed`` copies, ``0-rescue-*`` images). ``modules_dir`` and ``initrd``
tell what else is there: kernel-install only adds kernels with a modules directory, and a boot
into a kernel without one has no modules (``_facts.boot_image_check``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

MODULES_DIRS = ("/lib/modules", "/usr/lib/modules")
_NOT_A_RELEASE = (".old", ".bak", ".sig", ".efi.signed")
INITRDS = ("/boot/initrd.img-%s", "/boot/initramfs-%s.img")


class Kernel(object):
    """An installed kernel: ``release``, ``image`` (host path), ``modules_dir`` and ``initrd`` (host
    paths or None)."""

    __slots__ = ("image", "initrd", "modules_dir", "release")

    def __init__(self, release, image, modules_dir, initrd):
        self.release = release
        self.image = image
        self.modules_dir = modules_dir
        self.initrd = initrd

    def __repr__(self):
        return "Kernel(%r, %r)" % (self.release, self.image)


def modules_dir(root, release):
    """Host path of the release's modules directory, or None."""
    for base in MODULES_DIRS:
        hp = "%s/%s" % (base, release)
        if _rootpath.isdir(root, hp):
            return hp
    return None


def _initrd(root, release):
    for pattern in INITRDS:
        if _rootpath.isfile(root, pattern % release):
            return pattern % release
    return None


def installed(root):
    """[Kernel] sorted by release."""
    images = {}
    for md in reversed(MODULES_DIRS):  # /usr/lib/modules first: the real place on merged-/usr systems
        for rel in _rootpath.listdir(root, md):
            hp = "%s/%s/vmlinuz" % (md, rel)
            if rel not in images and _rootpath.isfile(root, hp):
                images[rel] = hp
    for name in _rootpath.listdir(root, "/boot"):
        if not name.startswith("vmlinuz-"):
            continue
        rel = name[len("vmlinuz-") :]
        if rel.endswith(_NOT_A_RELEASE) or "-rescue-" in rel or rel.startswith("0-rescue"):
            continue
        if _rootpath.isfile(root, "/boot/" + name):
            images[rel] = "/boot/" + name  # /boot wins: it is what boot loaders point at
    return [Kernel(rel, images[rel], modules_dir(root, rel), _initrd(root, rel)) for rel in sorted(images)]
