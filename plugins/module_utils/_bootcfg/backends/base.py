# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The protocol every boot-configuration backend of kernel_cmdline follows.

Target side: standard library only, importable by Python 3.6+.

A backend is named (``name``: one of ``_vocabulary.BACKENDS``) and answers four questions:

- ``detect(root)``: does ``root`` have my configuration? ``(level, reason)`` or None
  (``_bootcfg.detect``: the one detector asks every backend, in its order);
- ``read(root)``: ``(tokens, notes)``, the parameters my configuration gives the default entry now
  (``_bootcfg.current``; what the facts report as ``bootloader.source_cmdline``);
- ``plan(root, request)``: the ``_bootcfg.plan.Plan`` of a change: file changes and commands, the
  command line before and after, the checks, and the regeneration (``regenerate``);
- ``regenerate(root, plan, request)``: fill in ``plan.regen`` (the commands that rebuild what the
  boot loader reads: update-grub, grub2-mkconfig, kernel-install, proxmox-boot-tool), or
  ``plan.regen_skipped`` with the reason they cannot run, and ``plan.verify_regen`` (the check of
  what they wrote: every entry carries ``request``, the menu is bootable).

A restore builds its plan from the journal entry and asks the backend only to ``regenerate``
(``_bootcfg.restore``), so a change and a restore regenerate and are checked the same way, and
``_bootcfg.apply`` carries out both.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import current as _current
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import detect as _detect


class Backend(object):
    name = None

    def detect(self, root):
        return _detect.CLAIMS[self.name](root)

    def read(self, root):
        return _current.tokens(root, self.name)

    def plan(self, root, request):
        raise NotImplementedError

    def regenerate(self, root, plan, request):
        raise NotImplementedError
