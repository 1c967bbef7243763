# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which kernel boots next, and with which command line (read-only, small, self-contained).

Target side: standard library only, importable by Python 3.6+.

Order of evidence:
1. GRUB (``/boot/grub/grub.cfg`` or ``/boot/grub2/grub.cfg``): the generated ``set default=``
   lines, with grubenv's ``next_entry`` (one-shot) and ``saved_entry`` when the config
   refers to them; the default is an index path ("1>2"), an entry id or a title, resolved
   through menuentries and submenus. A ``blscfg`` command (Fedora/RHEL) inserts the BLS
   entries of ``/boot/loader/entries`` at its place, newest version first.
2. systemd-boot: ``loader/loader.conf`` ``default`` (a glob) over ``loader/entries/*.conf``.
3. The newest installed kernel (``/boot/vmlinuz-*``, ``/usr/lib/modules/*/vmlinuz``).
4. The running kernel.

Editing boot configuration is the kernel_cmdline module's business (its own backends); this
reader only observes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fnmatch
import posixpath
import re

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.kernel_version import version_key

GRUB_DIRS = ("/boot/grub", "/boot/grub2")
LOADER_DIRS = ("/boot/loader", "/efi/loader", "/boot/efi/loader")
LINUX_COMMANDS = ("linux", "linuxefi", "linux16")
IMAGE_PREFIXES = ("vmlinuz-", "vmlinux-", "bzImage-", "kernel-")
MAX_CFG = 4 * 1024 * 1024
_VAR_RE = re.compile(r"\$(?:\{([A-Za-z0-9_?#]+)\}|([A-Za-z_][A-Za-z0-9_]*|[0-9?#]))")


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


def parse_grubenv(text):
    """grubenv "# GRUB Environment Block" key=value lines -> dict (escapes undone)."""
    env = {}
    for line in text.split("\n"):
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _sep, value = line.partition("=")
        env[key] = re.sub(r"\\(.)", r"\1", value)
    return env


class MenuNode(object):
    __slots__ = ("args", "bls", "children", "id", "kind", "line", "linux", "title")

    def __init__(self, kind, title=None, id_=None, line=0):
        self.kind = kind  # menuentry | submenu | block | root
        self.title = title
        self.id = id_
        self.children = []
        self.linux = None
        self.args = None
        self.line = line
        self.bls = None


def parse_grub_cfg(text, path="grub.cfg"):
    """Parse grub.cfg into (root MenuNode, defaults_raw [(value, line)], env, has_blscfg).

    Only what deciding the default entry needs: menuentry/submenu blocks, ``linux`` lines,
    top-level ``set`` assignments (kept literally for ``default``), ``blscfg``.
    """
    root = MenuNode("root")
    stack = [root]
    defaults = []
    env = {"menuentry_id_option": "--id"}
    blscfg_at = None
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
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
            node = MenuNode(head, title, id_, lineno)
            stack[-1].children.append(node)
            stack.append(node)
            continue
        if literal[-1] == "{":
            node = MenuNode("block", line=lineno)
            stack.append(node)
            continue
        if head == "}" or line == "}":
            if len(stack) > 1:
                stack.pop()
            continue
        if in_entry and head in LINUX_COMMANDS:
            entry = [node for node in stack if node.kind == "menuentry"][-1]
            words = grub_words(line, env)
            if entry.linux is None and len(words) > 1:
                entry.linux = words[1]
                entry.args = words[2:]
            continue
        if head == "blscfg" and not in_entry:
            marker = MenuNode("bls-marker", line=lineno)
            stack[-1].children.append(marker)
            blscfg_at = lineno
            continue
        if head == "set" and len(literal) > 1 and not in_entry:
            for w in literal[1:]:
                if w == ";":
                    break
                if "=" in w:
                    key, _s, val = w.partition("=")
                    if key == "default":
                        defaults.append((val, lineno))
                    else:
                        # expand the assignment with what we know so far
                        expanded = grub_words(line, env)
                        for ew in expanded[1:]:
                            if ew.startswith(key + "="):
                                env[key] = ew[len(key) + 1 :]
                                break
    return root, defaults, env, blscfg_at


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


# --------------------------------------------------------------------------- BLS
def parse_bls_entry(text):
    """BLS type #1 entry -> dict key -> value (``options``/``initrd`` lines joined)."""
    out = {}
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        key = parts[0]
        val = parts[1].strip() if len(parts) > 1 else ""
        if key in ("options", "initrd") and key in out:
            out[key] = out[key] + " " + val
        else:
            out[key] = val
    return out


def read_bls_entries(root, entries_dir, warnings):
    """List of (id, fields) from ``*.conf`` in a host directory, sorted newest first the way
    GRUB's blscfg orders them: by ``version`` (vercmp), then file name, descending."""
    entries = []
    for name in _rootpath.listdir(root, entries_dir):
        if not name.endswith(".conf"):
            continue
        hp = entries_dir + "/" + name
        try:
            text = _rootpath.read_text(root, hp, MAX_CFG)
        except OSError as exc:
            warnings.append(_rootpath.describe_oserror(hp, exc))
            continue
        entries.append((name[: -len(".conf")], parse_bls_entry(text)))
    entries.sort(
        key=lambda e: (e[1].get("version") is not None, version_key(e[1].get("version", "")), version_key(e[0])),
        reverse=True,
    )
    return entries


def expand_vars(text, env):
    """$var / ${var} from env (GRUB semantics: unset expands to nothing)."""
    if text is None:
        return None
    out = _VAR_RE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)
    return " ".join(out.split())


# --------------------------------------------------------------------------- images
def release_from_image(path):
    """Kernel release from an image path, or None."""
    if not path:
        return None
    base = posixpath.basename(path)
    for prefix in IMAGE_PREFIXES:
        if base.startswith(prefix) and len(base) > len(prefix):
            return base[len(prefix) :]
    if base in ("vmlinuz", "linux", "vmlinux", "bzImage"):
        parent = posixpath.basename(posixpath.dirname(path))
        if parent and re.match(r"^[0-9]+\.[0-9]+", parent):
            return parent
    return None


def locate_image(root, path, bases=("/", "/boot")):
    """Host path of a boot entry's image path (which is relative to its partition)."""
    if not path:
        return None
    path = re.sub(r"^\([^)]*\)", "", path)  # (hd0,gpt2)/vmlinuz-...
    if not path.startswith("/"):
        path = "/" + path
    cands = [_rootpath.host_join(b, path) for b in bases]
    if "/boot/" in path:
        cands.append(path[path.index("/boot/") :])  # btrfs subvolume prefix "/@/boot/..."
    for cand in cands:
        if _rootpath.isfile(root, cand):
            return cand
    return None


def installed_kernels(root):
    """{release: host image path} for /boot/vmlinuz-* and /usr/lib/modules/*/vmlinuz."""
    found = {}
    for mod_dir in ("/usr/lib/modules", "/lib/modules"):
        for rel in _rootpath.listdir(root, mod_dir):
            hp = "%s/%s/vmlinuz" % (mod_dir, rel)
            if rel not in found and _rootpath.isfile(root, hp):
                found[rel] = hp
    for name in _rootpath.listdir(root, "/boot"):
        if not name.startswith("vmlinuz-"):
            continue
        rel = name[len("vmlinuz-") :]
        if rel.endswith((".old", ".bak", ".sig", ".efi.signed")) or "-rescue-" in rel or rel.startswith("0-rescue"):
            continue
        hp = "/boot/" + name
        if _rootpath.isfile(root, hp):
            found[rel] = hp  # /boot wins: it is what boot loaders point at
    return found


# --------------------------------------------------------------------------- the decision
def _read(root, hp, warnings, quiet_missing=True):
    return _read_why(root, hp, warnings, quiet_missing)[0]


def _read_why(root, hp, warnings, quiet_missing=True):
    """(text, None, False), or (None, "<path>: reason", absent) where ``absent`` tells a missing
    file from an unreadable one; a missing file is only warned about when not ``quiet_missing``."""
    try:
        return _rootpath.read_text(root, hp, MAX_CFG), None, False
    except OSError as exc:
        why = _rootpath.describe_oserror(hp, exc)
        absent = exc.errno in (errno.ENOENT, errno.ENOTDIR)
        if not (quiet_missing and absent):
            warnings.append(why)
        return None, why, absent


def _missing(path, why, absent):
    """``<path>, which is absent`` or ``<path>, which cannot be read (<why>)``."""
    if absent:
        return path + ", which is absent"
    return "%s, which cannot be read (%s)" % (path, why)


def _grub(root, grub_dir, cfg_text, warnings):
    """Returns (boot dict or None, bootloader dict) for a GRUB setup."""
    cfg_path = grub_dir + "/grub.cfg"
    env_path = grub_dir + "/grubenv"
    env_text, env_why, env_absent = _read_why(root, env_path, warnings)
    genv = parse_grubenv(env_text) if env_text else {}
    tree, defaults, cfg_env, blscfg_at = parse_grub_cfg(cfg_text, cfg_path)
    env = dict(cfg_env)
    env.update(genv)
    backend = "grub"
    if blscfg_at is not None:
        entries = read_bls_entries(root, "/boot/loader/entries", warnings)
        backend = "grubby"
        _insert_bls(tree, entries, env)
        if any(
            "$kernelopts" in (e.get("options") or "") or "${kernelopts}" in (e.get("options") or "")
            for _i, e in entries
        ):
            backend = "grubenv"
    # Which default: next_entry (one-shot) wins when the config honours it, then the last
    # unconditional value (a literal or ${saved_entry}).
    spec = None
    source = "grub_cfg"
    # Why the entry found is a guess rather than what GRUB will pick (None: it is what GRUB picks).
    # grubenv holds what grub-set-default / grub2-set-default and grub-reboot saved; when the
    # default is taken from it and it cannot be read, the next boot is unknown.
    guessed = None
    unreadable = env_text is None and not env_absent
    honours_next = any("next_entry" in v for v, _l in defaults)
    if honours_next and unreadable:
        guessed = "%s honours a one-shot next_entry from grubenv, which cannot be read (%s)" % (cfg_path, env_why)
    if honours_next and genv.get("next_entry"):
        spec, source = genv["next_entry"], "grubenv_saved"
        warnings.append("%s/grubenv: one-shot next_entry=%s boots next" % (grub_dir, spec))
    else:
        plain = [v for v, _l in defaults if "next_entry" not in v]
        if plain:
            raw = plain[-1]
            if "saved_entry" in raw:
                if env_text is None:
                    guessed = "%s takes the default entry from saved_entry in %s" % (
                        cfg_path,
                        _missing(env_path, env_why, env_absent),
                    )
                spec = genv.get("saved_entry") or ""
                source = "grubenv_saved"
                if not spec:
                    spec = "0"
                    source = "grub_cfg"
            else:
                spec = _VAR_RE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), raw) or "0"
        else:
            spec = "0"
    entry = resolve_default(tree, spec)
    if entry is None and spec != "0":
        warnings.append("%s: default entry %r not found; GRUB falls back to the first entry" % (cfg_path, spec))
        entry = resolve_default(tree, "0")
        source = "grub_cfg"
    bootloader = {"backend": backend, "configured_cmdline": None, "configured_cmdline_reason": None}
    if entry is None:
        warnings.append("%s: no bootable menu entry found" % cfg_path)
        bootloader["configured_cmdline_reason"] = "%s: no bootable menu entry found" % cfg_path
        return None, bootloader
    cmdline_why = None
    if entry.bls is not None:
        source = "bls" if source == "grub_cfg" else source
        fields = entry.bls
        image = locate_image(root, fields.get("linux"))
        release = fields.get("version") or release_from_image(fields.get("linux"))
        cmdline = expand_vars(fields.get("options"), env) if "options" in fields else None
        raw_image = fields.get("linux")
        if cmdline is None:
            cmdline_why = "BLS entry %s has no options line" % entry.id
        elif env_text is None:
            # EL8 keeps the whole cmdline in grubenv ($kernelopts): without grubenv it is unknown.
            missing = sorted({m.group(1) or m.group(2) for m in _VAR_RE.finditer(fields["options"])} - set(cfg_env))
            if missing:
                cmdline = None
                cmdline_why = "BLS entry %s takes %s from %s" % (
                    entry.id,
                    ", ".join("$" + v for v in missing),
                    _missing(env_path, env_why, env_absent),
                )
    else:
        raw_image = entry.linux
        image = locate_image(root, entry.linux)
        release = release_from_image(entry.linux)
        cmdline = " ".join(entry.args) if entry.args is not None else None
        if entry.linux is None:
            warnings.append("%s:%d: default entry %r has no linux line" % (cfg_path, entry.line, entry.title))
            cmdline_why = "%s:%d: default entry %r has no linux line" % (cfg_path, entry.line, entry.title)
    if image is None and raw_image:
        warnings.append("%s: image %s of the default entry not found" % (cfg_path, raw_image))
    bootloader["configured_cmdline"] = cmdline
    bootloader["configured_cmdline_reason"] = cmdline_why
    return {"release": release, "source": source, "image": image, "source_reason": guessed}, bootloader


def _insert_bls(tree, entries, env):
    """Replace blscfg markers with menuentries built from BLS entries (GRUB's blscfg)."""

    def walk(node):
        new = []
        for child in node.children:
            if child.kind == "bls-marker":
                for eid, fields in entries:
                    n = MenuNode("menuentry", fields.get("title", eid), eid, child.line)
                    n.bls = fields
                    new.append(n)
            else:
                walk(child)
                new.append(child)
        node.children = new

    walk(tree)


def _systemd_boot(root, warnings):
    # Only a loader.conf (bootctl install always writes one) makes a directory systemd-boot's: BLS
    # entries alone are also GRUB's (blscfg on Fedora/RHEL), whose default lives in grub.cfg and
    # grubenv, and reading them as systemd-boot's would guess the next boot.
    for ldir in LOADER_DIRS:
        conf = _read(root, ldir + "/loader.conf", warnings)
        if conf is None:
            continue
        entries = read_bls_entries(root, ldir + "/entries", warnings)
        default = None
        for line in (conf or "").split("\n"):
            parts = line.strip().split(None, 1)
            if len(parts) == 2 and parts[0] == "default":
                default = parts[1].strip()
        chosen = None
        if default and default not in ("@saved", "@default"):
            for eid, fields in entries:
                if fnmatch.fnmatchcase(eid, default) or fnmatch.fnmatchcase(eid + ".conf", default):
                    chosen = (eid, fields)
                    break
            if chosen is None:
                warnings.append("%s/loader.conf: default %r matches no entry" % (ldir, default))
        guessed = None
        if default in ("@saved", "@default"):
            guessed = "%s/loader.conf: default %s is kept in EFI variables, which a snapshot does not show" % (
                ldir,
                default,
            )
            warnings.append("%s; using the first entry" % guessed)
        if chosen is None and entries:
            chosen = entries[0]
        bootloader = {"backend": "systemd-boot", "configured_cmdline": None, "configured_cmdline_reason": None}
        if chosen is None:
            bootloader["configured_cmdline_reason"] = "%s/entries: no boot entry" % ldir
            return None, bootloader
        eid, fields = chosen
        esp = ldir[: -len("/loader")] or "/"
        image = locate_image(root, fields.get("linux"), bases=(esp, "/", "/boot"))
        release = fields.get("version") or release_from_image(fields.get("linux"))
        if "options" in fields:
            bootloader["configured_cmdline"] = " ".join(fields["options"].split())
        else:
            kc, why, _absent = _read_why(root, "/etc/kernel/cmdline", warnings)
            bootloader["configured_cmdline"] = " ".join(kc.split()) if kc is not None else None
            if kc is None:
                bootloader["configured_cmdline_reason"] = "%s/entries/%s.conf has no options line and %s" % (
                    ldir,
                    eid,
                    why,
                )
        if image is None and fields.get("linux"):
            warnings.append("%s/entries/%s.conf: image %s not found" % (ldir, eid, fields.get("linux")))
        return {"release": release, "source": "systemd_boot", "image": image, "source_reason": guessed}, bootloader
    return None, None


def find_boot_kernel(root, running_release):
    """Return (boot, bootloader, warnings).

    ``boot``: {release, source, image, source_reason}: ``source_reason`` is None when the kernel is
    the one the boot configuration names, else why it is a guess (no readable configuration, a
    default kept where it cannot be read). ``bootloader``: {backend, configured_cmdline,
    configured_cmdline_reason} (the reason is set when the cmdline is null).
    """
    warnings = []
    boot = None
    bootloader = None
    tried = []
    for gdir in GRUB_DIRS:
        text, why, absent = _read_why(root, gdir + "/grub.cfg", warnings)
        if text is not None:
            boot, bootloader = _grub(root, gdir, text, warnings)
            break
        tried.append(why if not absent else gdir + "/grub.cfg")
    if bootloader is None:
        boot, bootloader = _systemd_boot(root, warnings)
    if bootloader is None:
        tried.append("loader/entries under " + ", ".join(LOADER_DIRS))
        none_found = "no boot loader configuration found (%s)" % "; ".join(tried)
        bootloader = {"backend": "unknown", "configured_cmdline": None, "configured_cmdline_reason": none_found}
        kc = _read(root, "/etc/kernel/cmdline", warnings)
        if kc:
            bootloader["configured_cmdline"] = " ".join(kc.split())
            bootloader["configured_cmdline_reason"] = None
    if boot is None or not boot.get("release"):
        why = bootloader.get("configured_cmdline_reason") or "the boot configuration names no kernel"
        installed = installed_kernels(root)
        if installed:
            rel = max(installed, key=version_key)
            boot = {
                "release": rel,
                "source": "newest_installed",
                "image": installed[rel],
                "source_reason": "%s: guessed the newest installed kernel" % why,
            }
        elif running_release:
            img = None
            for cand in ("/boot/vmlinuz-%s" % running_release, "/usr/lib/modules/%s/vmlinuz" % running_release):
                if _rootpath.isfile(root, cand):
                    img = cand
                    break
            boot = {
                "release": running_release,
                "source": "running",
                "image": img,
                "source_reason": "%s and no installed kernel image found: assumed the running kernel" % why,
            }
        else:
            boot = {
                "release": None,
                "source": None,
                "image": None,
                "source_reason": "%s, no installed kernel image found and the running kernel is unknown" % why,
            }
    return boot, bootloader, warnings
