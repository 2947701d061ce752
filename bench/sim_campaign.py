"""Run many seeds of the production-node simulator (tests/sim/harness.py) and count failures by kind.

    PYTHONPATH=. .venv/bin/python bench/sim_campaign.py [--families power_loss,withholding] [--seeds 200]
        [--start 0] [--no-error-logs]

Prints, per family: seeds run, invariant checks, faults injected, failures by invariant with their seeds
(each replayable with `python tests/sim/harness.py FAMILY SEED`), and the CPU time.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "sim"))
from harness import FAMILIES, InvariantError, run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--no-error-logs", action="store_true", help="do not count ERROR logs as failures")
    ap.add_argument("--no-wal-sync", action="store_true",
                    help="experiment: the WAL never fsyncs (the rule of issue 12 finding 1 switched off)")
    ap.add_argument("--no-lock-check", action="store_true", help="let a lock violation run on (to a fork?)")
    args = ap.parse_args()
    if args.no_wal_sync:
        from provchain.consensus.wal import WAL
        WAL.sync = lambda self: None
    for family in args.families.split(","):
        t0 = time.process_time()
        fails = collections.defaultdict(list)
        totals = collections.Counter()
        for seed in range(args.start, args.start + args.seeds):
            try:
                world = run(family, seed, check_errors=not args.no_error_logs, check_locks=not args.no_lock_check)
                s = world.summary()
            except InvariantError as exc:
                fails[exc.kind].append(seed)
                s = exc.world.summary() if hasattr(exc, "world") else {}
            except Exception as exc:  # a crash of the code under test is a failure too
                fails[f"EXCEPTION {type(exc).__name__}"].append(seed)
                s = {}
            totals.update({k: v for k, v in s.items() if isinstance(v, int) and k != "seed"})
        cpu = time.process_time() - t0
        faults = {k: totals[k] for k in ("power_loss", "restarts", "bytes_lost", "partitions", "isolations",
                                         "withheld", "junk_votes", "junk_frames", "double_votes", "dropped", "duplicated")
                  if totals[k]}
        print(f"{family}: {args.seeds} seeds ({args.start}..{args.start + args.seeds - 1}), "
              f"{totals['checks']:,} invariant checks, {totals['commits']:,} commits, "
              f"{totals['signatures']:,} signatures, faults {faults}, {cpu:.1f} s CPU")
        for kind, seeds in sorted(fails.items()):
            print(f"  {kind}: {len(seeds)} seeds: {seeds[:30]}{' ...' if len(seeds) > 30 else ''}")
        if not fails:
            print("  no failures")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
