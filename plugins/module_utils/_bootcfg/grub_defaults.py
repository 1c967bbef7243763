# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GRUB defaults (/etc/default/grub + /etc/default/grub.d/*.cfg): the one reader of them.

Target side: standard library only, importable by Python 3.6+.

grub-mkconfig sources /etc/default/grub, then every /etc/default/grub.d/*.cfg in glob order
(dash sorts by bytes), and gives every Linux entry ``GRUB_CMDLINE_LINUX
GRUB_CMDLINE_LINUX_DEFAULT``; recovery entries get only ``GRUB_CMDLINE_LINUX`` (Debian adds
``single`` before it). The files are followed with ``grub_shell`` (never executed).

This module reads them (``load``, ``evaluate``, ``current``); ``grub_defaults_edit`` plans a change
of them. The facts (``bootloader.source_cmdline``) and the grub backend read them here alike.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import posixpath
import stat

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_shell import ShellError, follow
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import split_spans
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.text import decode

MAIN = "/etc/default/grub"
DROPIN_DIR = "/etc/default/grub.d"
DROPIN = "/etc/default/grub.d/99-fleetsec-vmscape.cfg"
LINUX = "GRUB_CMDLINE_LINUX"
DEFAULT = "GRUB_CMDLINE_LINUX_DEFAULT"
DROPIN_HEADER = (
    "# Managed by fleetsec.vmscape.kernel_cmdline: kernel parameters for every GRUB entry,\n"
    "# added here because no other file assigns GRUB_CMDLINE_LINUX. update-grub reads it.\n"
)


class DefaultsFile(object):
    def __init__(self, host_path, real_path, text, exists=True):
        self.host_path = host_path
        self.real_path = real_path
        self.text = text
        self.exists = exists


def list_files(root):
    """The files grub-mkconfig sources, in order: [(host_path, real_path)]."""
    out = []
    main_real = _rootpath.under(root, MAIN)
    if os.path.isfile(main_real):
        out.append((MAIN, main_real))
    names = [n for n in _rootpath.listdir(root, DROPIN_DIR) if n.endswith(".cfg") and not n.startswith(".")]
    for name in sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape")):
        hp = posixpath.join(DROPIN_DIR, name)
        real = _rootpath.under(root, hp)
        if not os.path.exists(real):
            continue  # [ -e "$x" ] skips dangling links
        if os.path.isdir(real):
            raise BootConfigError("%s is a directory; grub-mkconfig would fail sourcing it" % real)
        out.append((hp, real))
    return out


def _is_dev_null(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def load(root):
    files = []
    for hp, real in list_files(root):
        try:
            st = os.stat(real)
        except OSError as e:
            raise BootConfigError("%s: %s" % (real, e.strerror or e)) from None
        if _is_dev_null(st):
            # a drop-in masked with a link to /dev/null: sourcing it does nothing
            files.append(DefaultsFile(hp, real, "", exists=False))
            continue
        what = _rootpath.kind_of(st)
        if what is not None:
            raise BootConfigError(
                "%s is %s, not a file: grub-mkconfig would %s sourcing it; refusing to go on"
                % (real, what, "block" if stat.S_ISFIFO(st.st_mode) else "fail or read garbage")
            )
        try:
            data = _rootpath.read_real(real)
        except (IOError, OSError) as e:
            raise BootConfigError("%s: %s" % (real, e.strerror or e)) from None
        files.append(DefaultsFile(hp, real, decode(data)))
    return files


def evaluate(files):
    """Follow the files; return (state, linux_tokens, default_tokens, linux_value, default_value)."""
    try:
        state = follow([(f.real_path, f.text) for f in files])
    except ShellError as e:
        raise BootConfigError(str(e)) from None
    lv = state.value(LINUX)
    dv = state.value(DEFAULT)
    lt = [lv.text[s:e] for s, e in split_spans(lv.text)] if lv is not None else []
    dt = [dv.text[s:e] for s, e in split_spans(dv.text)] if dv is not None else []
    return state, lt, dt, lv, dv


def current(root):
    """The tokens the GRUB defaults give every Linux entry now: ``GRUB_CMDLINE_LINUX`` then
    ``GRUB_CMDLINE_LINUX_DEFAULT`` (what kernel_cmdline starts from). Raises BootConfigError."""
    _state, lt, dt, _lv, _dv = evaluate(load(root))
    return lt + dt
