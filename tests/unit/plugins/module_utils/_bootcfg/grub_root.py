"""A Debian GRUB root written by hand, shared by the session tests (test_apply_session,
test_change_session, test_restore_plan): /etc/default/grub, grub.cfg's 10_linux section as
grub-mkconfig writes it, a kernel image, and a stand-in update-grub.

The stand-in is a shell script run by the real /bin/sh: it sources /etc/default/grub the way
grub-mkconfig does and writes grub.cfg from a heredoc, so the shell expands the variables named in
its entries. The real command needs chroot, root and mounted /proc, /sys, /dev: ``StandInRunner``
runs ``chroot <root> update-grub`` as ``/bin/sh <root>/usr/sbin/update-grub`` instead, and
``grub_root`` declares chroot possible. Expected grub.cfg texts come from ``grub_cfg`` with the
values written out by hand.
"""

import json
import os
import subprocess
from pathlib import Path

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.apply import Session, new_result
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import grub as grub_backend
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import command_runner as _command_runner

KERNEL = "/boot/vmlinuz-6.1.0-28-amd64"
INTENT = "var/lib/fleetsec-vmscape/kernel_cmdline-intent.json"
# what the stand-in puts in the normal entry (Debian's 10_linux: both variables) and the recovery one
LINUX = "${GRUB_CMDLINE_LINUX}"
LINUX_AND_DEFAULT = "${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}"


def write(root, rel, text, mode=0o644):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def defaults(linux, default=None):
    """/etc/default/grub: GRUB_DEFAULT=0, GRUB_CMDLINE_LINUX and (when given) GRUB_CMDLINE_LINUX_DEFAULT."""
    text = f'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="{linux}"\n'
    return text if default is None else text + f'GRUB_CMDLINE_LINUX_DEFAULT="{default}"\n'


def grub_cfg(normal, recovery=None, section="10_linux", menu_options=""):
    """A grub.cfg section with one normal entry whose linux line ends in ``normal`` and, when
    ``recovery`` is given, a recovery entry (``single``) whose linux line ends in it."""
    text = (
        f"### BEGIN /etc/grub.d/{section} ###\n"
        f"menuentry 'Debian GNU/Linux'{menu_options} {{\n"
        f"\tlinux\t{KERNEL} root=/dev/vda1 ro {normal}\n"
        "}\n"
    )
    if recovery is not None:
        text += (
            "menuentry 'Debian GNU/Linux (recovery mode)' {\n"
            f"\tlinux\t{KERNEL} root=/dev/vda1 ro single {recovery}\n"
            "}\n"
        )
    return text + f"### END /etc/grub.d/{section} ###\n"


def update_grub(root, normal=LINUX, recovery=None, section="10_linux"):
    """The stand-in update-grub: sources the defaults, writes ``grub_cfg(normal, recovery, section)``
    with the shell expanding the variables in it."""
    return (
        "#!/bin/sh\n"
        "set -e\n"
        f". '{root}/etc/default/grub'\n"
        f"cat > '{root}/boot/grub/grub.cfg' <<EOF\n" + grub_cfg(normal, recovery, section) + "EOF\n"
    )


def grub_root(root, monkeypatch, defaults_text, cfg_text, update_grub_text=None, kernel=True):
    """Writes the root; ``update_grub_text`` None: the stand-in (``update_grub(root)``)."""
    write(root, "etc/default/grub", defaults_text)
    write(root, "usr/sbin/update-grub", update_grub(root) if update_grub_text is None else update_grub_text, 0o755)
    if kernel:
        write(root, "boot/vmlinuz-6.1.0-28-amd64", "MZ kernel image\n")
    write(root, "boot/grub/grub.cfg", cfg_text)
    monkeypatch.setattr(grub_backend, "chroot_problem", lambda r: None)
    return root


class StandInRunner:
    """The session's runner: ``chroot <root> update-grub`` run as ``/bin/sh <root>/usr/sbin/update-grub``.
    Keeps every command line (``calls``) and the intent file as it was while each ran (``intents``)."""

    def __init__(self, root):
        self.root = str(root)
        self.calls, self.intents = [], []

    def __call__(self, argv):
        self.calls.append(list(argv))
        assert argv == ["chroot", self.root, "update-grub"]
        intent = os.path.join(self.root, INTENT)
        self.intents.append(json.loads(Path(intent).read_text()) if os.path.exists(intent) else None)
        script = os.path.join(self.root, "usr/sbin/update-grub")
        if not os.path.exists(script):
            return _command_runner.Result(argv, 127, "", "update-grub: not found", False, 0.0, 0)
        p = subprocess.run(["/bin/sh", script], capture_output=True, text=True, timeout=60, check=False)
        return _command_runner.Result(argv, p.returncode, p.stdout, p.stderr, False, 0.01, 0)


def run_session(root, op, monkeypatch=None, check_mode=False, regenerate=True, backup=True):
    """``op`` (a Change or a Restore) through ``Session.apply``; returns (result, warnings, runner).
    With ``monkeypatch`` the session's runner is a ``StandInRunner``; without it, the real runner
    (for runs that regenerate nothing). ``run_session.last`` keeps the three for a run that raised."""
    runner = StandInRunner(root)
    if monkeypatch is not None:
        monkeypatch.setattr(Session, "runner", lambda self: runner)
    warnings, result = [], new_result()
    run_session.last = (result, warnings, runner)
    with Session(
        str(root), "test", check_mode=check_mode, warn=warnings.append, regenerate=regenerate, backup=backup
    ) as s:
        s.apply(op, result)
    return result, warnings, runner
