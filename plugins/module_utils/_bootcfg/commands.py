# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Commands a backend runs for a root: where they are, and how they run for a root other than ``/``.

Target side: standard library only, importable by Python 3.6+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import posixpath

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

SEARCH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def find_tool(root, names, dirs=SEARCH_DIRS):
    """First of ``names`` found executable under ``root`` in ``dirs``: the host path, or None."""
    for name in names:
        for d in dirs:
            hp = posixpath.join(d, name)
            real = _rootpath.under(root, hp)
            if os.path.isfile(real) and os.access(real, os.X_OK):
                return hp
    return None


def chroot_problem(root):
    """None when commands can run chrooted into ``root``, else the reason they cannot."""
    if os.geteuid() != 0:
        return "chroot needs root privileges"
    missing = [d for d in ("/proc", "/sys", "/dev") if not os.path.ismount(os.path.join(root, d.lstrip("/")))]
    if missing:
        return (
            "%s is not prepared for chroot (%s not mounted there); regenerate inside it (chroot %s <command>) "
            "after mounting them" % (root, ", ".join(missing), root)
        )
    return None


def command_for_root(root, argv):
    """``argv`` as run for ``root``: as is on ``/``, through chroot otherwise."""
    if os.path.abspath(root) == "/":
        return list(argv)
    return ["chroot", root, *list(argv)]
