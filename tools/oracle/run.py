"""Boot the oracle matrix outside pytest (warms the cache) and print what each kernel said.

    python -m tools.oracle.run [--kernel ID ...] [--profile ID ...] [--workers 2] [--observed]

``--observed`` also rewrites tests/data/oracle-observed.json from the cache (tools/oracle/observed.py).
"""

from __future__ import annotations

import argparse
import sys
import time

from tools.oracle import boot, capture, matrix
from tools.oracle.kernels import fetch_all
from tools.oracle.profiles import load_profiles


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", action="append", default=[])
    ap.add_argument("--profile", action="append", default=[])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=boot.DEFAULT_TIMEOUT)
    ap.add_argument("--observed", action="store_true", help="rewrite tests/data/oracle-observed.json")
    args = ap.parse_args(argv)
    kernels = fetch_all()
    profiles = {p.id: p for p in load_profiles()}
    cases = matrix.cases(args.kernel or None, args.profile or None)
    jobs = [(kernels[c.kernel], profiles[c.profile], c.cmdline) for c in cases]
    start = time.monotonic()
    results, errors = boot.boot_many(jobs, workers=args.workers, timeout=args.timeout, log=print)
    took = time.monotonic() - start
    cold = [r for r in results.values() if not r.cached]
    for i, case in enumerate(cases):
        if i in results:
            cap = capture.parse_capture(results[i].text)
            print(f"{case.kernel:13} {case.profile:26} {case.cmdline or '(none)':45} {capture.vmscape(cap)}")
    print(
        f"{len(cases)} cases, {len(cold)} booted, {len(results) - len(cold)} cached, {len(errors)} errors, "
        f"{took:.0f}s wall; boot time sum {sum(r.seconds for r in cold):.0f}s"
    )
    for err in errors.values():
        print(err, file=sys.stderr)
    if args.observed:
        from tools.oracle import observed

        observed.main([])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
