# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is the boot menu a regeneration produced bootable? Checked after every regeneration.

Target side: standard library only, importable by Python 3.6+.

A regeneration command that exits 0 is not trusted: an update-grub that wrote an empty grub.cfg,
one without Linux entries, a truncated menuentry, an entry for a kernel that is not there, or
entries without the parameters just configured, would make the next boot fail or boot without
the mitigation. After the commands ran (``check``):

1. GRUB: the generated grub.cfg exists and is not blank; the real ``grub-script-check`` (or
   ``grub2-script-check``) of the root accepts it, when installed (a truncated file has an
   unterminated menuentry; the check is bounded by ``SCRIPT_CHECK_TIMEOUT``).
2. The default entry, resolved the way the facts resolve it (``_bootcfg.menu``: ``set default``,
   grubenv ``saved_entry``/``next_entry``, submenus, ``blscfg`` with the BLS entries; for
   systemd-boot ``loader.conf`` over ``loader/entries``), exists and boots a kernel image that
   exists under the root and is not empty.
3. The kernel the old menu booted by default, if its image is still installed and not empty, is
   still offered by an entry (a regeneration must never drop the kernel the host runs next).
4. The default entry carries the expected command line: every token the configuration gives it
   (``GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT``, the BLS options, /etc/kernel/cmdline), in
   order (the boot loader may add its own, e.g. ``root=``, ``ro``, ``$vt_handoff``), when the
   default entry is one the configuration writes (a 10_linux entry for GRUB; a custom default
   entry only gets a warning).

Any problem makes the run put every file back and fail (``_bootcfg.apply.execute``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import bls as _bls
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_cfg as _grub_cfg
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import loader as _loader
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import menu as _menu
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import command_runner as _command_runner
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import MENU_SOURCES

SCRIPT_CHECK_TIMEOUT = 60
SCRIPT_CHECK_TOOLS = ("grub-script-check", "grub2-script-check")


def default_boot(root, backend):
    """The default entry of the menu as it is now: the ``_bootcfg.menu`` boot dict (release,
    source, image), its configured command line and the reader's warnings."""
    warnings = []
    boot, menu, _tried = _menu.default_boot(root, warnings, only=backend if backend == "systemd-boot" else None)
    if not boot or boot.get("source") not in MENU_SOURCES:
        return None, None, warnings
    return boot, (menu or {}).get("configured_cmdline"), warnings


def _image_size(root, host_path):
    try:
        st = os.stat(_rootpath.under(root, host_path))
    except OSError:
        return None
    return st.st_size if os.path.isfile(_rootpath.under(root, host_path)) else None


def offered_images(root, backend, grub_cfg_real=None):
    """Basenames of every kernel image some menu entry boots."""
    names = set()
    if grub_cfg_real:
        try:
            text = _rootpath.read_real(grub_cfg_real, _grub_cfg.MAX_CFG).decode("utf-8", "replace")
        except OSError:
            text = ""
        names.update(_grub_cfg.parse(text, grub_cfg_real).images())
    if backend != "systemd-boot":
        dirs = [_bls.ENTRIES_DIR]
    else:
        dirs = [d + "/entries" for d in _loader.LOADER_DIRS]
    for d in dirs:
        for e in _bls.read_entries(root, d, []):
            if e.linux:
                names.add(os.path.basename(e.linux))
    return names


def script_check(root, cfg_host, command_for_root, find_tool):
    """Problems the real grub-script-check finds in the generated grub.cfg ([] when not installed)."""
    tool = find_tool(root, SCRIPT_CHECK_TOOLS)
    if tool is None:
        return []
    argv = command_for_root(root, [tool, cfg_host])
    if not os.path.isabs(argv[0]):
        for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
            if os.access(os.path.join(d, argv[0]), os.X_OK):
                argv[0] = os.path.join(d, argv[0])
                break
    try:
        res = _command_runner.run(argv, SCRIPT_CHECK_TIMEOUT)
    except OSError as e:
        return ["%s could not run: %s" % (tool, e.strerror or e)]
    if res.rc == 0:
        return []
    why = "did not finish in %d s" % SCRIPT_CHECK_TIMEOUT if res.timed_out else "rc=%s" % res.rc
    # grub-script-check names the line; the file's text is not echoed.
    detail = res.summary(300)
    return ["%s rejects %s (%s)%s" % (tool, cfg_host, why, ": " + detail if detail else "")]


def _subsequence(want, have):
    it = iter(have)
    return all(any(w == h for h in it) for w in want)


def check(root, backend, before, expected_tokens, grub_cfg_real=None, linux_lines=None):
    """(problems, warnings) for the menu after a regeneration (see the module docstring).

    ``before``: the default boot dict before the change (or None); ``expected_tokens``: the
    tokens the default entry must carry in order (None: not checked); ``linux_lines``: the
    argument lists of the 10_linux entries (GRUB), to tell a generated default entry from a
    custom one.
    """
    problems = []
    boot, cmdline, warnings = default_boot(root, backend)
    where = "the regenerated boot menu"
    if boot is None:
        problems.append("%s has no bootable default entry" % where)
        return problems, warnings
    image = boot.get("image")
    size = _image_size(root, image) if image else None
    if not image:
        problems.append(
            "the default entry of %s boots %s, whose kernel image does not exist under %s"
            % (where, boot.get("release") or "a kernel", root)
        )
    elif not size:
        problems.append("the default entry of %s boots %s, which is empty (0 bytes)" % (where, image))
    if before is not None and before.get("image"):
        old = before["image"]
        if _image_size(root, old) and os.path.basename(old) not in offered_images(root, backend, grub_cfg_real):
            problems.append(
                "%s has no entry for %s (%s), the kernel the host booted by default before"
                % (where, before.get("release") or old, old)
            )
    if expected_tokens is not None and cmdline is not None:
        have = cmdline.split()
        generated = linux_lines is None or any(_subsequence(args, have) and args for args in linux_lines)
        if not _subsequence(expected_tokens, have):
            if generated:
                missing = [t for t in expected_tokens if t not in have]
                problems.append(
                    "the default entry of %s does not carry the configured command line in order%s"
                    % (where, " (missing: %s)" % " ".join(missing) if missing else "")
                )
            else:
                warnings.append(
                    "the default entry of %s is not one the GRUB defaults write (a custom entry?); its "
                    "command line was not checked" % where
                )
    return problems, warnings
