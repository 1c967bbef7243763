# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a change of /etc/kernel/cmdline is written (read by ``_bootcfg.kernel_cmdline_file``).

Target side: standard library only, importable by Python 3.6+.

The file is edited token by token in place (lines are kept; a line emptied by a removal is
dropped). When it does not exist it is created from what kernel-install would have used (its
own fallback, one-off boot parameters left out), so nothing else changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.atomic_write import read_bytes
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.kernel_cmdline_file import KERNEL_CMDLINE, read
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import FileChange
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import edit_segments
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import split_raw
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.text import decode, encode


def _tokens(text):
    return split_raw(text)


class KernelCmdlinePlan(object):
    def __init__(self, root, real_path, change, tokens_before, tokens_after, request):
        self.root = root
        self.real_path = real_path
        self.change = change
        self.tokens_before = tokens_before
        self.tokens_after = tokens_after
        self.request = request

    def verify(self):
        data = read_bytes(self.real_path)
        if data is None:
            if self.change is None and self.tokens_after == self.tokens_before:
                return []  # left absent on purpose: kernel-install's fallback gives the same
            return ["%s is missing" % self.real_path]
        now = _tokens(decode(data))
        if now != self.tokens_after:
            return ["%s holds %r, planned %r" % (self.real_path, " ".join(now), " ".join(self.tokens_after))]
        return []


def plan(root, request, create=True, warnings=None):
    """Plan the edit of /etc/kernel/cmdline; None when absent and ``create`` is False."""
    real, _resolved = _rootpath.resolve(root, KERNEL_CMDLINE)
    if not create and read_bytes(real) is None:
        return None
    current = read(root)
    if warnings is not None:
        warnings.extend(current.notes)
    lines = current.text.split("\n")
    new_lines, tokens_before, tokens_after = edit_segments(lines, request, home=True, drop_emptied=True)
    new_text = "\n".join(new_lines)
    if not tokens_before and tokens_after:
        new_text = " ".join(tokens_after) + "\n"
    before_bytes = current.data
    if before_bytes is None and tokens_after == tokens_before:
        change = None  # kernel-install's fallback already gives the wanted parameters
    elif before_bytes is None or encode(new_text) != before_bytes:
        change = FileChange(real, before_bytes, encode(new_text), label=KERNEL_CMDLINE)
    else:
        change = None
    return KernelCmdlinePlan(root, real, change, tokens_before, tokens_after, request)
