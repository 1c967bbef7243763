# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""grub.cfg: the one reader of the generated GRUB menu, and where GRUB keeps its files.

Target side: standard library only, importable by Python 3.6+.

``parse`` reads the menu the way deciding the default entry needs it (``_bootcfg.menu``) and the
way checking a regenerated menu needs it (``_bootcfg.menu_check``, the GRUB backend): entries and
submenus with their ids and titles, the first ``linux`` line of each entry, every ``linux`` line
with the ``/etc/grub.d`` script that wrote it (grub-mkconfig's ``### BEGIN``/``### END`` markers),
``set default=`` lines, ``blscfg``. It never executes anything; GRUB's words are split with
``grub_words`` (quotes, backslashes, ``$variables``).

GRUB reads its configuration and its environment block (grubenv) from its prefix directory:
``/boot/grub`` (Debian, Ubuntu, Proxmox: grub-mkconfig) or ``/boot/grub2`` (RHEL family, SUSE:
grub2-mkconfig); ``grub_dir`` finds it under a root, the same way for every reader.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.text import decode

GRUB_DIRS = ("/boot/grub", "/boot/grub2")
LINUX_COMMANDS = ("linux", "linuxefi", "linux16")
# the scripts that write the Linux entries from the GRUB defaults (10_linux; Ubuntu's 10_linux_zfs)
LINUX_SECTION = "10_linux"
MAX_CFG = 4 * 1024 * 1024
_VAR_RE = re.compile(r"\$(?:\{([A-Za-z0-9_?#]+)\}|([A-Za-z_][A-Za-z0-9_]*|[0-9?#]))")


def grub_dir(root):
    """The host directory GRUB reads (grub.cfg, grubenv) under ``root``: the first of GRUB_DIRS with a
    grub.cfg, else the first with a grubenv (links followed inside root), else None."""
    for name in ("grub.cfg", "grubenv"):
        for d in GRUB_DIRS:
            if _rootpath.isfile(root, d + "/" + name):
                return d
    return None


def expand_vars(text, env):
    """$var / ${var} from env (GRUB semantics: unset expands to nothing), blanks squeezed."""
    if text is None:
        return None
    out = _VAR_RE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)
    return " ".join(out.split())


# --------------------------------------------------------------------------- GRUB script words
# --------------------------------------------------------------------------- GRUB script words
def grub_words(line, env=None):
    """Split one GRUB script line into words (quotes, backslashes, $variables).

    With ``env`` None variables are kept literally (``${saved_entry}``); otherwise they are
    expanded from ``env`` (unset = empty, as GRUB does) and an unquoted empty expansion
    yields no word.
    """
    words = []
    cur = []
    have = False
    i = 0
    n = len(line)

    def var_at(pos):
        m = _VAR_RE.match(line, pos)
        if not m:
            return "$", pos + 1
        if env is None:
            return m.group(0), m.end()
        return env.get(m.group(1) or m.group(2), ""), m.end()

    while i < n:
        c = line[i]
        if c in " \t":
            if have:
                words.append("".join(cur))
                cur = []
                have = False
            i += 1
        elif c == "#" and not have:
            break
        elif c == ";" and not cur:
            if have:
                words.append("".join(cur))
                cur = []
                have = False
            words.append(";")
            i += 1
        elif c == "'":
            j = line.find("'", i + 1)
            j = n if j == -1 else j
            cur.append(line[i + 1 : j])
            have = True
            i = j + 1
        elif c == '"':
            have = True
            i += 1
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n and line[i + 1] in '$"\\':
                    cur.append(line[i + 1])
                    i += 2
                elif line[i] == "$":
                    val, i = var_at(i)
                    cur.append(val)
                else:
                    cur.append(line[i])
                    i += 1
            i += 1
        elif c == "\\" and i + 1 < n:
            cur.append(line[i + 1])
            have = True
            i += 2
        elif c == "$":
            val, i = var_at(i)
            cur.append(val)
            have = have or bool(val)
        else:
            cur.append(c)
            have = True
            i += 1
    if have:
        words.append("".join(cur))
    return words


# --------------------------------------------------------------------------- the menu
class GrubCfg(object):
    """A parsed grub.cfg: ``tree`` (MenuNode), ``defaults`` [(raw value, line)] of ``set default=``,
    ``env`` (variables set at top level), ``blscfg_at`` (line of ``blscfg`` or None), ``linux_lines``
    (every LinuxLine inside an entry) and ``sections`` (the grub.d scripts that wrote something)."""

    def __init__(self, path):
        self.path = path
        self.tree = MenuNode("root")
        self.defaults = []
        self.env = {"menuentry_id_option": "--id"}
        self.blscfg_at = None
        self.linux_lines = []
        self.sections = set()

    def linux_section_lines(self):
        """The LinuxLines of the entries 10_linux (10_linux_zfs) wrote from the GRUB defaults; None when
        the file has no such section (a BLS or hand-written grub.cfg)."""
        if not any(s.startswith(LINUX_SECTION) for s in self.sections):
            return None
        return [ln for ln in self.linux_lines if (ln.section or "").startswith(LINUX_SECTION)]

    def images(self):
        """Basenames of the kernel images the menu's entries boot."""
        return set(ln.image.rsplit("/", 1)[-1] for ln in self.linux_lines if ln.image)


class LinuxLine(object):
    """One ``linux`` line of an entry: its line number, the grub.d script that wrote it, the image
    and the raw text of the arguments after it (quotes kept, as the kernel tokenizes them)."""

    __slots__ = ("args_text", "image", "line", "section")

    def __init__(self, line, section, image, args_text):
        self.line = line
        self.section = section
        self.image = image
        self.args_text = args_text


class MenuNode(object):
    __slots__ = ("args", "bls", "children", "id", "kind", "line", "linux", "section", "title")

    def __init__(self, kind, title=None, id_=None, line=0, section=None):
        self.kind = kind  # menuentry | submenu | block | root | bls-marker
        self.title = title
        self.id = id_
        self.children = []
        self.linux = None
        self.args = None
        self.line = line
        self.section = section  # the /etc/grub.d script that wrote it ("10_linux"), from the ### markers
        self.bls = None  # the BLS entry (_bootcfg.bls.Entry) a blscfg command turns into this menu entry


def parse(text, path="grub.cfg"):
    """Parse grub.cfg (``GrubCfg``): what deciding the default entry and checking a regenerated menu need.

    menuentry/submenu blocks and their first ``linux`` line, top-level ``set`` assignments (kept
    literally for ``default``), ``blscfg``, and the ``### BEGIN /etc/grub.d/<script> ###`` markers
    grub-mkconfig writes around each script's output (the ``section`` of every entry).
    """
    cfg = GrubCfg(path)
    stack = [cfg.tree]
    env = cfg.env
    section = None
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if line.startswith("### BEGIN "):
            section = _section_name(line)
            cfg.sections.add(section)
            continue
        if line.startswith("### END "):
            section = None
            continue
        if not line or line.startswith("#"):
            continue
        literal = grub_words(line, None)
        if not literal:
            continue
        head = literal[0]
        in_entry = any(node.kind == "menuentry" for node in stack)
        if head in ("menuentry", "submenu") and literal[-1] == "{":
            words = grub_words(line, env)[:-1]
            title = words[1] if len(words) > 1 else ""
            id_ = None
            for k, w in enumerate(words):
                if w == "--id" and k + 1 < len(words):
                    id_ = words[k + 1]
                elif w.startswith("--id="):
                    id_ = w[5:]
            node = MenuNode(head, title, id_, lineno, section)
            stack[-1].children.append(node)
            stack.append(node)
            continue
        if literal[-1] == "{":
            node = MenuNode("block", line=lineno, section=section)
            stack.append(node)
            continue
        if head == "}" or line == "}":
            if len(stack) > 1:
                stack.pop()
            continue
        if in_entry and head in LINUX_COMMANDS:
            entry = [node for node in stack if node.kind == "menuentry"][-1]
            words = grub_words(line, env)
            parts = line.split(None, 2)
            cfg.linux_lines.append(
                LinuxLine(lineno, section, words[1] if len(words) > 1 else None, parts[2] if len(parts) > 2 else "")
            )
            if entry.linux is None and len(words) > 1:
                entry.linux = words[1]
                entry.args = words[2:]
            continue
        if head == "blscfg" and not in_entry:
            marker = MenuNode("bls-marker", line=lineno, section=section)
            stack[-1].children.append(marker)
            cfg.blscfg_at = lineno
            continue
        if head == "set" and len(literal) > 1 and not in_entry:
            for w in literal[1:]:
                if w == ";":
                    break
                if "=" in w:
                    key, _s, val = w.partition("=")
                    if key == "default":
                        cfg.defaults.append((val, lineno))
                    else:
                        # expand the assignment with what we know so far
                        expanded = grub_words(line, env)
                        for ew in expanded[1:]:
                            if ew.startswith(key + "="):
                                env[key] = ew[len(key) + 1 :]
                                break
    return cfg


def _section_name(marker):
    """``10_linux`` from ``### BEGIN /etc/grub.d/10_linux ###``."""
    name = marker[len("### BEGIN ") :].strip().rstrip("#").strip()
    return name.rsplit("/", 1)[-1]


def _boot_entries(node):
    return [c for c in node.children if c.kind in ("menuentry", "submenu")]


def resolve_default(root, spec):
    """Follow a GRUB default ("2", "1>0", an id, a title, "Advanced...>Debian, with ...")."""
    node = root
    for part in spec.split(">"):
        kids = _boot_entries(node)
        found = None
        if re.match(r"^[0-9]+$", part):
            idx = int(part)
            if idx < len(kids):
                found = kids[idx]
        else:
            for kid in kids:
                if part in (kid.id, kid.title):
                    found = kid
                    break
        if found is None:
            return None
        node = found
    return node if node.kind == "menuentry" else None


# --------------------------------------------------------------------------- which file to write
def is_stub(text):
    """An EFI stub that only loads the real grub.cfg (EL9+ ``configfile``), not a menu."""
    return "configfile" in text and "menuentry" not in text and "blscfg" not in text and "### BEGIN" not in text


def _stub_at(real):
    try:
        data = _rootpath.read_real(real, MAX_CFG)
    except OSError:
        return False
    return is_stub(decode(data))


def target(root, tool):
    """Host path of the grub.cfg that ``tool`` should write. Never an EFI stub (EL9+)."""
    if tool in ("update-grub", "grub-mkconfig"):
        candidates = ["/boot/grub/grub.cfg"]
    else:
        candidates = ["/boot/grub2/grub.cfg"]
        # EL8 on UEFI keeps the real config on the ESP; EL9+ leaves a stub there that must stay.
        for vendor in _rootpath.listdir(root, "/boot/efi/EFI"):
            hp = "/boot/efi/EFI/%s/grub.cfg" % vendor
            real = _rootpath.under(root, hp)
            full = _rootpath.isfile(root, hp) and not _stub_at(real)
            if full and not _rootpath.exists(root, "/boot/grub2/grub.cfg"):
                candidates = [hp]
    hp = candidates[0]
    real, resolved = _rootpath.resolve(root, hp)
    if _stub_at(real):
        raise BootConfigError(
            "%s (-> %s) is an EFI stub that loads the real grub.cfg; refusing to overwrite it" % (hp, resolved)
        )
    return resolved
