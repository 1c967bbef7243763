# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""/proc/cpuinfo parser (x86 layout: one ``key<TAB>: value`` stanza per processor).

Target side: standard library only, importable by Python 3.6+.

Observations only: an unknown vendor is reported as printed (the plan decides what it
means). Input that is not cpuinfo at all raises CpuinfoError naming the file and line.
A last stanza cut short (a capture interrupted while writing) is dropped with a warning.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Fields that make up a CPU's identity; a processor differing in any of them from the boot
# CPU sets identities_differ (mixed steppings/microcode across sockets happen in practice).
IDENTITY_KEYS = ("vendor_id", "cpu family", "model", "stepping", "microcode")
_INT_KEYS = (("cpu family", "family"), ("model", "model"), ("stepping", "stepping"))


class CpuinfoError(Exception):
    """cpuinfo that cannot be parsed; the message names the file (and line)."""


def _int_field(stanza, key, path):
    raw = stanza["fields"].get(key)
    if raw is None:
        return None
    text = raw.strip()
    try:
        if text.lower().startswith("0x"):
            return int(text, 16)
        return int(text, 10)
    except ValueError:
        raise CpuinfoError("%s:%d: %r is not an integer (%r)" % (path, stanza["lines"].get(key, 0), key, raw)) from None


def _split_stanzas(text, path):
    """Yield stanza dicts {fields, lines, first_line, last_line, terminated}."""
    if "\x00" in text:
        raise CpuinfoError(
            "%s:%d: binary data (NUL byte), not a cpuinfo file" % (path, text[: text.index("\x00")].count("\n") + 1)
        )
    lines = text.split("\n")
    ends_with_newline = text.endswith("\n")
    if ends_with_newline:
        lines = lines[:-1]
    stanzas = []
    current = None
    for idx, line in enumerate(lines):
        lineno = idx + 1
        if not line.strip():
            if current is not None:
                current["terminated"] = True
                stanzas.append(current)
                current = None
            continue
        if ":" not in line:
            raise CpuinfoError("%s:%d: not a 'key : value' line: %r" % (path, lineno, line[:80]))
        key, _sep, value = line.partition(":")
        key = key.strip()
        if not key:
            raise CpuinfoError("%s:%d: empty key: %r" % (path, lineno, line[:80]))
        value = value.strip()
        if current is None:
            if key != "processor":
                raise CpuinfoError(
                    "%s:%d: stanza does not start with 'processor' (found %r); not an x86 cpuinfo" % (path, lineno, key)
                )
            current = {"fields": {}, "lines": {}, "first_line": lineno, "last_line": lineno, "terminated": False}
        elif key == "processor":
            # A new processor without a blank line in between: treat as a stanza boundary.
            current["terminated"] = True
            stanzas.append(current)
            current = {"fields": {}, "lines": {}, "first_line": lineno, "last_line": lineno, "terminated": False}
        current["fields"][key] = value
        current["lines"][key] = lineno
        current["last_line"] = lineno
    if current is not None:
        # The file ended inside a stanza (no blank line after it): complete only if the
        # text ended with a newline and it carries every key of the first stanza.
        current["terminated"] = False
        current["cut_line"] = not ends_with_newline
        stanzas.append(current)
    return stanzas


def _identity(stanza):
    return tuple(stanza["fields"].get(k) for k in IDENTITY_KEYS)


def parse_cpuinfo(text, path="/proc/cpuinfo"):
    """Parse cpuinfo text. Returns (cpu_dict, warnings). Raises CpuinfoError.

    ``cpu_dict`` has the schema's cpu fields except the bhi_ctrl ones.
    """
    warnings = []
    if not text.strip():
        raise CpuinfoError("%s: empty file, no processor found" % path)
    stanzas = _split_stanzas(text, path)
    if not stanzas:
        raise CpuinfoError("%s: no processor stanza found" % path)
    first_keys = set(stanzas[0]["fields"])
    complete = []
    truncated = []
    for i, st in enumerate(stanzas):
        is_last = i == len(stanzas) - 1
        ok = True
        if is_last and not st["terminated"]:
            if st.get("cut_line"):
                ok = False
            elif i > 0 and not first_keys.issubset(st["fields"]):
                ok = False
        if ok:
            complete.append(st)
        else:
            truncated.append(st)
    if truncated:
        st = truncated[0]
        if complete:
            warnings.append(
                "%s:%d: last processor stanza (processor %s) is truncated; ignored"
                % (path, st["first_line"], st["fields"].get("processor", "?"))
            )
        else:
            # Only the boot CPU and it is cut: keep what is whole, drop the cut line.
            if st.get("cut_line"):
                last_key = None
                for k, ln in st["lines"].items():
                    if ln == st["last_line"]:
                        last_key = k
                if last_key is not None and last_key != "processor":
                    del st["fields"][last_key]
                    del st["lines"][last_key]
            warnings.append(
                "%s:%d: the only processor stanza is truncated after line %d; using the complete lines"
                % (path, st["first_line"], st["last_line"])
            )
            complete.append(st)
    boot = complete[0]
    f = boot["fields"]
    cpu = {
        "vendor": f.get("vendor_id"),
        "family": _int_field(boot, "cpu family", path),
        "model": _int_field(boot, "model", path),
        "stepping": _int_field(boot, "stepping", path),
        "microcode": f.get("microcode"),
        "model_name": f.get("model name"),
    }
    for key in ("vendor_id", "cpu family", "model"):
        if key not in f:
            warnings.append("%s: boot CPU has no %r line" % (path, key))
    # An absent line is not an empty one: x86 kernels always print "flags" and "bugs" (even with
    # nothing after the colon), so a missing line means the text is incomplete, and what the
    # line would have said is unknown (null + reason), never "no flag" / "no bug".
    for key in ("flags", "bugs"):
        if key in f:
            cpu[key] = f[key].split()
            cpu[key + "_reason"] = None
        else:
            cpu[key] = None
            cpu[key + "_reason"] = "%s: boot CPU has no '%s' line" % (path, key)
            warnings.append(cpu[key + "_reason"])
    flags = cpu["flags"]
    cpu["hypervisor"] = None if flags is None else "hypervisor" in flags
    cpu["ibpb"] = None if flags is None else "ibpb" in flags
    cpu["processors"] = len(stanzas)
    sockets = set()
    for st in stanzas:
        pid = st["fields"].get("physical id")
        if pid is not None:
            sockets.add(pid)
    cpu["sockets"] = len(sockets) if sockets else 1
    boot_id = _identity(boot)
    differ = []
    for st in complete[1:]:
        if _identity(st) != boot_id:
            differ.append(st)
    cpu["identities_differ"] = bool(differ)
    if differ:
        st = differ[0]
        diffs = [
            "%s %s != %s" % (k, st["fields"].get(k), boot["fields"].get(k))
            for k in IDENTITY_KEYS
            if st["fields"].get(k) != boot["fields"].get(k)
        ]
        warnings.append(
            "%s: %d processor(s) differ from the boot CPU (first: processor %s: %s)"
            % (path, len(differ), st["fields"].get("processor", "?"), ", ".join(diffs))
        )
    return cpu, warnings
