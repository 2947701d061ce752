"""Fault campaign on 4 real validator processes under registration load (provchain/devnet/faults.py).

    .venv/bin/python bench/fault_campaign.py --minutes 10 [--seed 1] [--submitters 6]

Prints each fault as it is injected, then: registrations acknowledged (the submitter got a commit
confirmation) against those present on every node at the end, forks (heights where the nodes' blocks
differ), Python tracebacks and ERROR lines in the node logs. Exit status 1 if an acknowledged
registration is missing or the nodes forked.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from provchain.devnet.faults import run_campaign  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--submitters", type=int, default=6)
    ap.add_argument("--keep", help="keep the node homes and logs in this folder")
    a = ap.parse_args()
    t0 = time.monotonic()
    root = a.keep or tempfile.mkdtemp(prefix="faults-")
    r = run_campaign(os.path.join(root, "net"), a.seed, a.minutes * 60, a.submitters,
                     log=lambda s: print(f"[{time.monotonic() - t0:6.1f} s] {s}", flush=True))
    print(r.summary())
    print(f"wall time {time.monotonic() - t0:.0f} s; registrations acknowledged per minute of faults: "
          f"{r.acknowledged / a.minutes:.0f}")
    print(r.details())
    if r.ok and not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    elif not r.ok:
        print(f"node homes, WALs and logs kept in {root}")
    return 0 if r.ok else 1


if __name__ == "__main__":
    sys.exit(main())
