# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Boot Loader Specification entries (``/boot/loader/entries/*.conf``): the one reader of them.

Target side: standard library only, importable by Python 3.6+.

GRUB's ``blscfg`` (RHEL/Rocky/Alma 8+, Fedora, CentOS Stream) and systemd-boot read these files;
``read_entries`` returns them newest first the way blscfg lists them (Fedora/RHEL grub2
``blscfg.c``: sorted with rpm's ``vercmp`` by ``version`` when every entry has one, then by file
name). The ``options`` line of each entry is the kernel command line after GRUB expands its
variables from grubenv (``expand``): RHEL 8 writes ``options $kernelopts $tuned_params`` and
keeps the parameters in grubenv's ``kernelopts``; RHEL 9 and Fedora write them literally
(``options root=... ro crashkernel=... $tuned_params``).

The facts (``_bootcfg.menu``), the grubby/grubenv backends (``_bootcfg.backends.bls``), the
detector and the checks after a regeneration all read entries through this module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import split_raw
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.text import decode

ENTRIES_DIR = "/boot/loader/entries"
MAX_ENTRY = 1024 * 1024
_VAR_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_KEY_RE = re.compile(r"^(\s*)(\S+)(\s*)(.*?)(\r?)\Z")


# --------------------------------------------------------------------------- versions
def rpmvercmp(a, b):
    """-1/0/1 like rpm's rpmvercmp (alphanumeric segments; numbers beat letters, ~ sorts first);
    GRUB's blscfg orders its entries with the same ``vercmp``."""
    if a == b:
        return 0
    seg = re.compile(r"(~|\^|[0-9]+|[A-Za-z]+)")
    sa = seg.findall(a)
    sb = seg.findall(b)
    for i in range(min(len(sa), len(sb))):
        x, y = sa[i], sb[i]
        if x == y:
            continue
        if x == "~" or y == "~":
            return -1 if x == "~" else 1
        # "^" sorts after the end of a version but before anything else (rpm 4.15+)
        if x == "^" or y == "^":
            return -1 if x == "^" else 1
        xn, yn = x.isdigit(), y.isdigit()
        if xn and yn:
            xi, yi = int(x), int(y)
            if xi != yi:
                return -1 if xi < yi else 1
            continue
        if xn != yn:
            return 1 if xn else -1
        return -1 if x < y else 1
    if len(sa) == len(sb):
        return 0
    longer = sa if len(sa) > len(sb) else sb
    nxt = longer[min(len(sa), len(sb))]
    if nxt == "~":
        # a pre-release of the shorter version: older ("1.0~rc1" < "1.0")
        return -1 if longer is sa else 1
    return 1 if longer is sa else -1


class _Newest(object):
    """Sort key of an entry as GRUB's blscfg (Fedora/RHEL grub2, ``bls_cmp``) orders them: by
    ``version`` when every entry has one, then by file name, both with ``vercmp``."""

    def __init__(self, entry, by_version):
        self.parts = ((entry.version,) if by_version else ()) + (entry.name,)

    def __lt__(self, other):
        for i in range(len(self.parts)):
            c = rpmvercmp(self.parts[i], other.parts[i])
            if c:
                return c < 0
        return False

    def __eq__(self, other):
        return not self < other and not other < self


# --------------------------------------------------------------------------- entries
class Entry(object):
    """One BLS entry file: ``lines`` keep the text (for editing), ``options`` index the options lines,
    ``fields`` hold the first value of every key (blanks at the end stripped)."""

    def __init__(self, host_path, real_path, text):
        self.host_path = host_path
        self.real_path = real_path
        self.text = text
        self.name = os.path.basename(host_path)
        self.id = self.name[: -len(".conf")]
        self.lines = text.split("\n")
        self.fields = {}
        self.options = []  # [(line_index, prefix, value, suffix)]
        for i, line in enumerate(self.lines):
            m = _KEY_RE.match(line)
            if not m or not m.group(2) or m.group(2).startswith("#"):
                continue
            key = m.group(2)
            self.fields.setdefault(key, m.group(4).rstrip())
            if key == "options":
                self.options.append((i, m.group(1) + key + m.group(3), m.group(4), m.group(5)))

    @property
    def version(self):
        return self.fields.get("version")

    @property
    def linux(self):
        return self.fields.get("linux")

    @property
    def title(self):
        return self.fields.get("title")

    @property
    def options_text(self):
        """Every options line joined (None: the entry has none)."""
        if not self.options:
            return None
        return " ".join(v for _i, _p, v, _s in self.options)

    def variables(self):
        """Names of the $variables its options take (GRUB expands them from grubenv)."""
        return sorted(set(v for _i, _p, text, _s in self.options for v in _vars_in(text)))

    def uses(self, var):
        return var in self.variables()

    def render(self, new_values):
        lines = list(self.lines)
        for n, (i, prefix, _v, suffix) in enumerate(self.options):
            value = new_values[n]
            if not value:
                prefix = prefix.rstrip()
            elif prefix == prefix.rstrip():
                prefix += " "
            lines[i] = prefix + value + suffix
        return "\n".join(lines)


def _vars_in(text):
    return [m.group(1) or m.group(2) for m in _VAR_RE.finditer(text)]


def expand(text, env):
    """GRUB's expansion of $var/${var} in an options line (unset = empty)."""
    return _VAR_RE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)


def read_entries(root, directory=ENTRIES_DIR, warnings=None):
    """The ``*.conf`` entries of a host directory, newest first as GRUB's blscfg lists them.

    An entry that cannot be read raises BootConfigError (nothing can be planned on a half-read
    configuration), or, with a ``warnings`` list (the facts), is named there and left out.
    """
    out = []
    for name in _rootpath.listdir(root, directory):
        if not name.endswith(".conf") or name.startswith("."):
            continue
        hp = directory + "/" + name
        if not _rootpath.isfile(root, hp):
            continue
        try:
            data = _rootpath.read_bytes(root, hp, MAX_ENTRY)
            if len(data) > MAX_ENTRY:
                raise OSError(errno.EFBIG, "larger than %d bytes; refusing to read it" % MAX_ENTRY, hp)
        except OSError as exc:
            why = _rootpath.describe_oserror(hp, exc)
            if warnings is None:
                raise BootConfigError(why) from None
            warnings.append(why)
            continue
        out.append(Entry(hp, _rootpath.under(root, hp), decode(data)))
    by_version = all(e.version for e in out)
    out.sort(key=lambda e: _Newest(e, by_version), reverse=True)
    return out


def uses_kernelopts(entries):
    """EL8 style: the entries take their parameters from grubenv's ``kernelopts``."""
    return any(e.uses("kernelopts") for e in entries)


def effective_tokens(entry, env):
    """The kernel's tokens of an entry's options once GRUB expanded the variables."""
    text = expand(entry.options_text or "", env) if entry is not None else ""
    return split_raw(text)
