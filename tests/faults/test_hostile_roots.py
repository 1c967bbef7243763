"""Hostile roots: links out of the root, FIFOs, devices, link loops, huge and odd values.

Each case is a copy of a captured Debian 12 host (tests/data/facts/snapshots/debian12-skylake)
with one hostile change, given as ``root`` to the real modules: ``vmscape_facts`` (every read of
the facts readers) and ``kernel_cmdline`` (check mode, then for real - regeneration is skipped:
the root is not a prepared chroot). Each run gets 60 s: a FIFO read would block forever, a
device like /dev/zero would never end. A file outside the root holds a marker that must never
show up in any result (links are followed inside the root only), and so does a secret file
inside the root that a GRUB drop-in is linked to (error messages never echo file contents).
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import time

from harness import COLLECTIONS, REPO

SNAPSHOT = REPO / "tests" / "data" / "facts" / "snapshots" / "debian12-skylake"
REL = "6.1.0-56-amd64"
MARKER = "OUTSIDE-THE-ROOT-7d1e"
SECRET = "root:$6$SECRET-HASH-41b2$x:19000:0:99999:7:::"
VULNS = "sys/devices/system/cpu/vulnerabilities"


def _mod(name, args, tmp, timeout=60):
    path = tmp / f"args-{time.monotonic_ns()}.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS), PYTHONDONTWRITEBYTECODE="1")
    t = time.monotonic()
    try:
        p = subprocess.run(
            [sys.executable, str(REPO / "plugins" / "modules" / f"{name}.py"), str(path)],
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, timeout
    try:
        return json.loads(p.stdout), time.monotonic() - t
    except ValueError:
        return {"failed": True, "msg": "no JSON: " + p.stderr.decode()[-400:], "crashed": True}, time.monotonic() - t


def _outside(tmp):
    d = tmp / "outside"
    d.mkdir(exist_ok=True)
    (d / "secret").write_text(MARKER + "\n")
    return d / "secret"


def vuln_abs_link(root, tmp):
    p = root / VULNS / "vmscape"
    p.unlink()
    p.symlink_to(_outside(tmp))  # absolute: resolved as <root><that path>, which does not exist


def vuln_rel_link(root, tmp):
    p = root / VULNS / "vmscape"
    p.unlink()
    depth = len(p.relative_to("/").parts) + 3
    p.symlink_to("../" * depth + str(_outside(tmp)).lstrip("/"))  # ".." stops at the root


def vuln_fifo(root, tmp):
    p = root / VULNS / "spectre_v2"
    if p.exists():
        p.unlink()
    os.mkfifo(p)


def vuln_device(root, tmp):
    p = root / VULNS / "mds"
    p.unlink()
    os.mknod(p, 0o444 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero: endless


def boot_loop(root, tmp):
    shutil.rmtree(root / "boot")
    (root / "boot").symlink_to("boot")  # /boot -> /boot


def image_loop(root, tmp):
    img = root / "boot" / f"vmlinuz-{REL}"
    img.unlink()
    img.symlink_to(f"vmlinuz-{REL}")


def image_fifo(root, tmp):
    img = root / "boot" / f"vmlinuz-{REL}"
    img.unlink()
    os.mkfifo(img)


def sysmap_fifo_config_zero(root, tmp):
    (root / "boot" / f"System.map-{REL}").unlink()
    os.mkfifo(root / "boot" / f"System.map-{REL}")
    (root / "boot" / f"config-{REL}").unlink()
    os.mknod(root / "boot" / f"config-{REL}", 0o444 | stat.S_IFCHR, os.makedev(1, 5))


def grub_cfg_fifo(root, tmp):
    (root / "boot" / "grub" / "grub.cfg").unlink()
    os.mkfifo(root / "boot" / "grub" / "grub.cfg")


def dropin_fifo(root, tmp):
    (root / "etc" / "default" / "grub.d").mkdir(exist_ok=True)
    os.mkfifo(root / "etc" / "default" / "grub.d" / "50-fifo.cfg")


def dropin_secret(root, tmp):
    (root / "etc" / "default" / "grub.d").mkdir(exist_ok=True)
    (root / "etc" / "shadow").write_text(SECRET + "\n")
    (root / "etc" / "default" / "grub.d" / "60-x.cfg").symlink_to("/etc/shadow")


def defaults_link_out(root, tmp):
    g = root / "etc" / "default" / "grub"
    g.unlink()
    g.symlink_to(_outside(tmp))


def cpuinfo_fifo(root, tmp):
    (root / "proc" / "cpuinfo").unlink()
    os.mkfifo(root / "proc" / "cpuinfo")


CASES = [
    ("vulnerabilities: absolute link out", vuln_abs_link),
    ("vulnerabilities: relative link out", vuln_rel_link),
    ("vulnerabilities: FIFO", vuln_fifo),
    ("vulnerabilities: /dev/zero", vuln_device),
    ("/boot -> /boot loop", boot_loop),
    ("next-boot image link loop", image_loop),
    ("next-boot image FIFO", image_fifo),
    ("System.map FIFO, config /dev/zero", sysmap_fifo_config_zero),
    ("grub.cfg FIFO", grub_cfg_fifo),
    ("GRUB drop-in FIFO", dropin_fifo),
    ("GRUB drop-in linked to a secret", dropin_secret),
    ("/etc/default/grub links out", defaults_link_out),
    ("/proc/cpuinfo FIFO", cpuinfo_fifo),
]


def test_hostile_roots(tmp_path, tally):
    t = tally("hostile roots", "; ".join(c[0] for c in CASES))
    problems = []
    for name, make in CASES:
        root = tmp_path / name.replace(" ", "_").replace("/", "_").replace(":", "").replace(">", "")
        shutil.copytree(SNAPSHOT, root, symlinks=True)
        make(root, tmp_path)
        t.injected += 1
        runs = [
            ("vmscape_facts", {"root": str(root), "probe_image": "always"}),
            ("kernel_cmdline", {"root": str(root), "params": {"vmscape": "ibpb"}, "_ansible_check_mode": True}),
            ("kernel_cmdline", {"root": str(root), "params": {"vmscape": "ibpb"}}),
        ]
        for mod, args in runs:
            res, seconds = _mod(mod, args, tmp_path)
            t.runs += 1
            label = f"{name} / {mod}{' --check' if args.get('_ansible_check_mode') else ''}"
            if res is None:
                problems.append(f"{label}: did not finish in 60 s")
                continue
            text = json.dumps(res)
            if MARKER in text or "SECRET-HASH" in text:
                problems.append(f"{label}: a file's content leaked into the result")
            if res.get("crashed") or "Traceback" in text:
                problems.append(f"{label}: crashed: {res.get('msg', '')[:300]}")
                continue
            if res.get("failed"):
                msg = res.get("msg", "")
                # a refusal must say where and what: a path under the root or a named file kind
                if "/" in msg and any(w in msg for w in ("FIFO", "link", "not a", "missing", "cannot", "no ")):
                    t.clear_errors += 1
                else:
                    problems.append(f"{label}: unclear failure: {msg[:300]}")
            else:
                t.succeeded += 1
                if mod == "vmscape_facts":
                    facts = res["ansible_facts"]["vmscape"]
                    if name.startswith("vulnerabilities: ") and "link" in name and facts["sysfs"].get("vmscape"):
                        problems.append(f"{label}: read a value through a link out of the root")
            t.notes.append(
                f"{label}: {'failed: ' + res.get('msg', '')[:150] if res.get('failed') else 'ok'} ({seconds:.1f} s)"
            )
    assert not problems, "\n".join(problems)


def _defaults_root(tmp, n):
    root = tmp / f"tokens-{n}"
    (root / "etc" / "default").mkdir(parents=True)
    value = " ".join(f"p{i}=v{i}" for i in range(n))
    (root / "etc" / "default" / "grub").write_text(
        f'GRUB_CMDLINE_LINUX="{value}"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n'
    )
    return root


def test_huge_grub_value_is_parsed_in_linear_time(tmp_path, tally):
    t = tally(
        "huge GRUB value (linear parsing)", "GRUB_CMDLINE_LINUX of 8k and 128k tokens (was quadratic: 42 s at 256k)"
    )
    times = {}
    for n in (8192, 131072):
        root = _defaults_root(tmp_path, n)
        res, seconds = _mod(
            "kernel_cmdline", {"root": str(root), "params": {"vmscape": "ibpb"}, "backup": False}, tmp_path, 300
        )
        t.injected += 1
        t.runs += 1
        assert res is not None and not res.get("failed"), res
        t.succeeded += 1
        times[n] = seconds
        text = (root / "etc" / "default" / "grub").read_text()
        assert text.count("vmscape=ibpb") == 1 and f"p{n - 1}=v{n - 1} vmscape=ibpb" in text
    t.notes.append(f"8k tokens: {times[8192]:.1f} s, 128k tokens: {times[131072]:.1f} s (whole module run)")
    # 16 times the input: linear is ~16x (less, with the fixed start-up), quadratic would be ~256x
    assert times[131072] < 90
    assert times[131072] / times[8192] < 40, times


def test_values_with_a_trailing_newline_are_refused(tmp_path, tally):
    t = tally("input validation (\\Z, not $)", "trailing newline in a value, a name, a removed name")
    root = tmp_path / "root"
    shutil.copytree(SNAPSHOT, root, symlinks=True)
    before = (root / "etc" / "default" / "grub").read_bytes()
    for args in ({"params": {"vmscape": "ibpb\n"}}, {"params": {"vmscape\n": "ibpb"}}, {"remove": ["vmscape\n"]}):
        res, _s = _mod("kernel_cmdline", dict(args, root=str(root)), tmp_path)
        t.injected += 1
        t.runs += 1
        assert res and res.get("failed"), res
        assert "invalid" in res["msg"] or "not a value" in res["msg"], res["msg"]
        t.clear_errors += 1
    assert (root / "etc" / "default" / "grub").read_bytes() == before
