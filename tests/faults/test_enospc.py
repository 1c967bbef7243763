"""A full file system (ENOSPC) and inode exhaustion at every step of a change.

The whole sandbox host (/etc/default, /boot, /var/lib, the run lock) lives on one small tmpfs
mounted under /tmp for the test (and unmounted after). Before each run a filler leaves exactly
``k`` free 4 KiB blocks (or ``k`` free inodes). The host is sized so that each phase of a change
needs more room than the one before - a grub.cfg of 62 kernels (~7 blocks: its backup, then
grub.cfg.new) and a journal of 48 earlier entries (~19 blocks: its rewrite) - so as ``k`` grows
the space runs out in turn at the run lock, the intent, the backups, the intent's ``ready``, the
regeneration (grub.cfg.new), the journal entry, and finally not at all.

Every run must either succeed completely (the intended configuration, journaled) or fail with
a message naming the problem, leaving the configuration as it was (or the intent for the next
run). Then the filler goes, and ``restore: latest`` (which first finishes or undoes whatever a
failed run left) must give the original configuration back. The host must be bootable after
each run and at the end.
"""

import contextlib
import json
import os
import subprocess
import tempfile

from harness import Sandbox

CHANGE = {"params": {"vmscape": "ibpb"}}
SIZE = "4m"
INODES = 400
BLOCKS = list(range(0, 48, 3))
INODES_FREE = list(range(0, 8))
EXTRA_KERNELS = 60
OLD_ENTRIES = 48


def old_journal(sb):
    """A journal of OLD_ENTRIES earlier changes, all restored already (so ``latest`` is ours)."""
    entries = []
    for i in range(OLD_ENTRIES):
        eid = f"20250101T0000{i // 60:02d}.{i % 60:06d}Z-100"
        files = [
            {
                "path": "/etc/default/grub",
                "backup": f"/etc/default/grub.100.2025-01-01@00:00:{i % 60:02d}~",
                "backup_sha256": "a" * 64,
                "sha256": "b" * 64,
                "existed": True,
                "generated": False,
            }
        ]
        entries.append(
            {
                "id": eid,
                "time": "2025-01-01T00:00:00Z",
                "params": {"vmscape": "ibpb"},
                "remove": [],
                "backend": "grub",
                "previous_cmdline": "quiet " + "console=ttyS0,115200n8 " * 40,
                "effective_cmdline": "vmscape=ibpb quiet " + "console=ttyS0,115200n8 " * 40,
                "files": files,
                "restored": {"time": "2025-01-01T00:00:01Z", "effective_cmdline": "quiet", "files": []},
            }
        )
    d = sb.varlib / "fleetsec-vmscape"
    d.mkdir(mode=0o700, exist_ok=True)
    (d / "kernel_cmdline-journal.json").write_text(json.dumps({"format": 1, "entries": entries}, indent=1) + "\n")


@contextlib.contextmanager
def tmpfs():
    d = tempfile.mkdtemp(prefix="fleetsec-faults-tmpfs-", dir="/tmp")
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},nr_inodes={INODES},mode=0755", "fleetsec-faults", d], check=True
    )
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", d], check=False)
        os.rmdir(d)


def fill(mnt, free_blocks=None, free_inodes=None):
    """Leave exactly ``free_blocks`` blocks or ``free_inodes`` inodes free on the tmpfs."""
    filler = os.path.join(mnt, "filler")
    os.makedirs(filler, exist_ok=True)
    if free_inodes is not None:
        n = 0
        while os.statvfs(mnt).f_favail > free_inodes:
            open(os.path.join(filler, f"i{n}"), "w").close()
            n += 1
    if free_blocks is not None:
        st = os.statvfs(mnt)
        extra = st.f_bavail - free_blocks
        if extra > 0:
            with open(os.path.join(filler, "blocks"), "wb") as f:
                f.write(b"\0" * (extra * st.f_bsize))
        while os.statvfs(mnt).f_bavail > free_blocks:  # rounding: one more block at a time
            with open(os.path.join(filler, "blocks"), "ab") as f:
                f.write(b"\0" * st.f_bsize)
    return filler


def unfill(filler):
    for n in os.listdir(filler):
        os.unlink(os.path.join(filler, n))


def _case(tmp_path, t, k, what, problems):
    with tmpfs() as mnt:
        sb = Sandbox(os.path.join(mnt, "sb"), scratch=tmp_path / f"args-{what}-{k}", extra_kernels=EXTRA_KERNELS)
        old_journal(sb)
        original = sb.config()
        filler = fill(mnt, free_blocks=k if what == "blocks" else None, free_inodes=k if what == "inodes" else None)
        res, _rc, _s, err = sb.run_module(CHANGE)
        t.runs += 1
        t.injected += 1
        label = f"{k} free {what}"
        if not res:
            problems.append(f"{label}: no result: {err[-400:]}")
            return
        bootable, why = sb.judge()
        if not bootable:
            t.unbootable += 1
            problems.append(f"{label}: unbootable after the run: {why}")
        now = sb.config()
        if res.get("failed"):
            msg = res.get("msg", "")
            # ENOSPC in our own steps, or the regeneration command's own report of it (dash says
            # "I/O error" when echo cannot write, cat "No space left on device")
            if "No space left on device" in msg or "Disk quota" in msg or "I/O error" in msg:
                t.clear_errors += 1
            else:
                problems.append(f"{label}: failed without saying why: {msg[:400]}")
            if now != original and not sb.intent_exists():
                t.data_lost += 1
                problems.append(f"{label}: failed, the configuration changed and no intent is left")
        else:
            t.succeeded += 1
            if res.get("journal_entry") is None:
                t.data_lost += 1
                problems.append(f"{label}: a change without a journal entry")
        unfill(filler)
        res2, _rc, _s, err2 = sb.run_module({"restore": "latest"})
        t.runs += 1
        if sb.config() != original:
            t.data_lost += 1
            problems.append(f"{label}: the original did not come back: {(res2 or {}).get('msg') or err2[-300:]}")
        if sb.intent_exists() or sb.litter():
            problems.append(f"{label}: left behind: intent={sb.intent_exists()} {sb.litter()}")
        bootable, why = sb.judge()
        if not bootable:
            t.unbootable += 1
            problems.append(f"{label}: unbootable at the end: {why}")
        t.notes.append(f"{label}: {'failed: ' + res.get('msg', '')[:160] if res.get('failed') else 'succeeded'}")


def test_full_file_system_at_every_step(tmp_path, tally):
    t = tally("ENOSPC (full file system)", f"{BLOCKS[0]}..{BLOCKS[-1]} free 4 KiB blocks (step 3) on a tmpfs")
    problems = []
    for k in BLOCKS:
        _case(tmp_path, t, k, "blocks", problems)
    assert not problems, "\n".join(map(str, problems))
    assert t.succeeded and t.clear_errors  # both outcomes were reached


def test_inode_exhaustion_at_every_step(tmp_path, tally):
    t = tally("inode exhaustion", f"{INODES_FREE[0]}..{INODES_FREE[-1]} free inodes on a tmpfs")
    problems = []
    for k in INODES_FREE:
        _case(tmp_path, t, k, "inodes", problems)
    assert not problems, "\n".join(map(str, problems))
    assert t.succeeded and t.clear_errors
