"""Parse what the oracle initramfs printed on ttyS0 (tools/oracle/init.sh) into a dict.

The serial log holds firmware and kernel messages, then sections::

    @@ORACLE BEGIN@@
    @@ORACLE FILE /proc/cpuinfo@@      <file content, then one extra newline>
    @@ORACLE END@@
    @@ORACLE CMD uname -r@@ ... @@ORACLE END@@
    @@ORACLE DMESG@@ ... @@ORACLE END@@
    @@ORACLE CPUID@@
    CPUID 00000007.00000002 eax=... ebx=... ecx=... edx=...
    @@ORACLE END@@
    @@ORACLE DONE@@

Result::

    {"files": {"/proc/cpuinfo": "...", "/sys/devices/system/cpu/vulnerabilities/vmscape": "...\n"},
     "uname_r": "6.1.0-56-amd64", "dmesg": ["[ 0.3] VMSCAPE: ..."],
     "cpuid": {(7, 2): (eax, ebx, ecx, edx), ...}}
"""

from __future__ import annotations

import re

MARK = re.compile(r"^@@ORACLE (?P<what>[A-Z]+)(?: (?P<arg>.*?))?@@$")
CPUID_LINE = re.compile(
    r"^CPUID (?P<leaf>[0-9a-f]{8})\.(?P<sub>[0-9a-f]{8}) "
    r"eax=(?P<eax>[0-9a-f]{8}) ebx=(?P<ebx>[0-9a-f]{8}) ecx=(?P<ecx>[0-9a-f]{8}) edx=(?P<edx>[0-9a-f]{8})$"
)
VULN_DIR = "/sys/devices/system/cpu/vulnerabilities/"


class CaptureError(ValueError):
    pass


def parse_capture(text: str, source: str = "capture") -> dict:
    """Parse a serial log; raise CaptureError (naming source and line) when it is incomplete."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    result: dict = {"files": {}, "uname_r": None, "dmesg": [], "cpuid": {}}
    begun = done = False
    section: tuple[str, str | None] | None = None
    body: list[str] = []
    start = 0
    for no, line in enumerate(lines, 1):
        m = MARK.match(line)
        if not m:
            if section is not None:
                body.append(line)
            continue
        what, arg = m.group("what"), m.group("arg")
        if what == "BEGIN":
            begun = True
        elif what == "DONE":
            done = True
            break
        elif what == "END":
            if section is None:
                raise CaptureError(f"{source}:{no}: END without an open section")
            _store(result, section, body, f"{source}:{start}")
            section, body = None, []
        elif what in ("FILE", "CMD", "DMESG", "CPUID"):
            if not begun:
                raise CaptureError(f"{source}:{no}: section {what} before BEGIN")
            if section is not None:
                raise CaptureError(f"{source}:{no}: section {what} opened inside {section[0]} (line {start})")
            section, body, start = (what, arg), [], no
        else:
            raise CaptureError(f"{source}:{no}: unknown marker {line!r}")
    if not begun:
        raise CaptureError(f"{source}: no '@@ORACLE BEGIN@@' marker: the initramfs never ran")
    if section is not None:
        raise CaptureError(f"{source}:{start}: section {section[0]} {section[1] or ''} not closed (truncated log)")
    if not done:
        raise CaptureError(f"{source}: no '@@ORACLE DONE@@' marker (truncated log)")
    for need in ("/proc/cpuinfo", "/proc/cmdline", "/proc/version"):
        if need not in result["files"]:
            raise CaptureError(f"{source}: {need} missing from the capture")
    return result


def _store(result: dict, section: tuple[str, str | None], body: list[str], where: str) -> None:
    what, arg = section
    if what == "FILE":
        # init.sh prints the file, then a newline of its own before the END marker: the lines
        # between the markers, joined, are exactly the file's content
        result["files"][arg] = "\n".join(body)
    elif what == "CMD" and arg == "uname -r":
        result["uname_r"] = "\n".join(body).strip() or None
    elif what == "DMESG":
        result["dmesg"] = [line for line in body if line.strip()]
    elif what == "CPUID":
        for line in body:
            m = CPUID_LINE.match(line.strip())
            if not m:
                raise CaptureError(f"{where}: bad CPUID line {line!r}")
            regs = tuple(int(m.group(r), 16) for r in ("eax", "ebx", "ecx", "edx"))
            result["cpuid"][(int(m.group("leaf"), 16), int(m.group("sub"), 16))] = regs


def vulnerabilities(capture: dict) -> dict[str, str]:
    """{file name: content without the trailing newline} for every vulnerabilities file."""
    return {
        path[len(VULN_DIR) :]: content.rstrip("\n")
        for path, content in capture["files"].items()
        if path.startswith(VULN_DIR)
    }


def vmscape(capture: dict) -> str | None:
    """The vmscape sysfs string the kernel printed, or None when the kernel has no such file."""
    return vulnerabilities(capture).get("vmscape")


def cpuinfo_first(capture: dict) -> dict[str, str]:
    """Fields of the first processor stanza of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in capture["files"]["/proc/cpuinfo"].split("\n"):
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def processors(capture: dict) -> int:
    return sum(1 for line in capture["files"]["/proc/cpuinfo"].split("\n") if re.match(r"^processor\s*:", line))


def bhi_ctrl(capture: dict) -> bool | None:
    """CPUID.(EAX=7,ECX=2):EDX[4], None when leaf 7 reports fewer than 2 subleaves or was not captured."""
    leaf7 = capture["cpuid"].get((7, 0))
    sub2 = capture["cpuid"].get((7, 2))
    if leaf7 is None or sub2 is None or leaf7[0] < 2:
        return None
    return bool(sub2[3] & (1 << 4))
