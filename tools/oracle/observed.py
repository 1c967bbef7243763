"""Regenerate tests/data/oracle-observed.json from the cached oracle results (no boots).

One row per cached boot of the current kernels/profiles/initramfs (stale results of older package
versions are left out): kernel, profile, cmdline -> vmscape, retbleed and spec_rstack_overflow
strings, whether the bugs line contains vmscape, and the VMSCAPE dmesg lines. The lead cross-checks
the decision tables against it.

    python -m tools.oracle.observed [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tools.oracle import boot, capture, initramfs
from tools.oracle.cache import REPO, cache_dir
from tools.oracle.kernels import fetch_all
from tools.oracle.profiles import load_profiles

OUT = REPO / "tests" / "data" / "oracle-observed.json"


def row(kernel, profile_id: str, cmdline: str, text: str) -> dict:
    cap = capture.parse_capture(text)
    vulns = capture.vulnerabilities(cap)
    first = capture.cpuinfo_first(cap)
    return {
        "kernel": kernel.id,
        "kernel_version": kernel.meta["upstream_version"],
        "kernel_package": f"{kernel.meta['package']} {kernel.meta['debian_version']}",
        "profile": profile_id,
        "cmdline": cmdline,
        "vmscape": vulns.get("vmscape"),
        "retbleed": vulns.get("retbleed"),
        "spec_rstack_overflow": vulns.get("spec_rstack_overflow"),
        "bugs_vmscape": "vmscape" in first.get("bugs", "").split(),
        "ibpb_flag": "ibpb" in first.get("flags", "").split(),
        "bhi_ctrl": capture.bhi_ctrl(cap),
        "dmesg_vmscape": [line.split("] ", 1)[-1] for line in cap["dmesg"] if "VMSCAPE" in line],
    }


def collect() -> list[dict]:
    kernels = fetch_all(log=lambda *_: None)
    profiles = {p.id: p for p in load_profiles()}
    initrd = initramfs.build()
    rows = []
    for side in sorted((cache_dir() / "oracle-results").glob("*.json")):
        meta = json.loads(side.read_text())
        kernel, profile = kernels.get(meta.get("kernel")), profiles.get(meta.get("profile"))
        if kernel is None or profile is None:
            continue
        if boot.result_key(kernel, profile, meta["cmdline"], initrd) != meta["key"]:
            continue  # stale: another package version, profile definition or initramfs
        log = side.with_suffix(".log")
        if log.exists():
            rows.append(row(kernel, profile.id, meta["cmdline"], log.read_text()))
    order = {k: i for i, k in enumerate(kernels)}
    porder = {p: i for i, p in enumerate(profiles)}
    rows.sort(key=lambda r: (order[r["kernel"]], porder[r["profile"]], r["cmdline"]))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    rows = collect()
    comment = (
        "What real Debian kernels printed under QEMU TCG per CPU profile and cmdline. "
        "Regenerate with: python -m tools.oracle.observed (from the oracle cache)."
    )
    # one row per line: compact, and diffs show which verdicts changed
    body = ",\n".join("  " + json.dumps(r) for r in rows)
    text = (
        f'{{"comment": {json.dumps(comment)},\n "base_cmdline": {json.dumps(boot.BASE_CMDLINE)},\n'
        f' "rows": [\n{body}\n ]\n}}\n'
    )
    json.loads(text)  # stays valid JSON
    args.out.write_text(text)
    print(f"{args.out}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
