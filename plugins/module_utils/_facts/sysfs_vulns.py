# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every file of /sys/devices/system/cpu/vulnerabilities as raw strings.

Target side: standard library only, importable by Python 3.6+.

Values are reported as the kernel printed them, one trailing newline stripped. Anything odd
(binary data, a file far larger than a sysfs attribute, an unreadable file) is reported as
far as it can be, with a warning; reading never fails the module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

VULN_DIR = "/sys/devices/system/cpu/vulnerabilities"
# A sysfs attribute is at most one page; real strings are < 200 bytes.
SIZE_CAP = 4096


def _decode(name, data, shown, warnings):
    if len(data) > SIZE_CAP:
        warnings.append("%s: larger than %d bytes; truncated" % (shown, SIZE_CAP))
        data = data[:SIZE_CAP]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "backslashreplace")
        warnings.append("%s: not UTF-8 text; undecodable bytes escaped" % shown)
    if "\x00" in text or any(ord(c) < 32 and c not in "\t\n" for c in text):
        warnings.append("%s: contains control characters" % shown)
    if text.endswith("\n"):
        text = text[:-1]
    if "\n" in text:
        warnings.append("%s: more than one line" % shown)
    return text


def read_vulnerabilities(root, vuln_dir=VULN_DIR):
    """Return (dict name -> str or None, reason, warnings).

    The dict is None (and ``reason`` says why) when the directory itself cannot be listed: then
    nothing is known about any file, which is not the same as a directory without a vmscape file.
    A file that is listed but unreadable is a key whose value is None (the reason in warnings).
    """
    warnings = []
    values = {}
    real_dir = _rootpath.under(root, vuln_dir)
    try:
        names = sorted(os.listdir(real_dir))
    except OSError as exc:
        reason = _rootpath.describe_oserror(vuln_dir, exc)
        warnings.append(reason)
        return None, reason, warnings
    for name in names:
        shown = vuln_dir + "/" + name
        # Links are followed inside root only; FIFOs and devices are refused, never read.
        if _rootpath.isdir(root, shown):
            warnings.append("%s: is a directory; ignored" % shown)
            continue
        try:
            data = _rootpath.read_bytes(root, shown, SIZE_CAP)
        except OSError as exc:
            warnings.append(_rootpath.describe_oserror(shown, exc))
            values[name] = None
            continue
        values[name] = _decode(name, data, shown, warnings)
    return values, None, warnings
