"""Block rate and tx commit latency of a 4-validator devnet whose p2p links run through wide-area relays
(provchain/devnet/wan.py), as a ratio to the same devnet on plain loopback links in the same run.

    .venv/bin/python bench/wan.py [--seconds 40] [--seed 1]

Conditions: `loopback` (direct), `wan` (30-120 ms one way, 2% of chunks a 200-600 ms retransmission
timeout late), `wan+cuts` (the same, a random link cut every 3 s), `far` (100-250 ms one way, 5% late).
In each, one client sends a note tx every 0.5 s to the validators in turn and waits for its commit
(POST /broadcast_tx?wait=commit); the latency is submit to the answer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from provchain.chain import crypto  # noqa: E402
from provchain.chain.tx import SignedTx  # noqa: E402
from provchain.devnet.cluster import Cluster  # noqa: E402
from provchain.devnet.wan import WanProxies, route_cluster  # noqa: E402

CHAIN = "provchain-devnet"
CONDITIONS = {  # name: (relay settings or None, seconds between link cuts or None)
    "loopback": (None, None),
    "wan": (dict(delay_ms=(30, 120), loss=0.02, rto_ms=(200, 600)), None),
    "wan+cuts": (dict(delay_ms=(30, 120), loss=0.02, rto_ms=(200, 600)), 3.0),
    "far": (dict(delay_ms=(100, 250), loss=0.05, rto_ms=(200, 600)), None),
}


def run(name: str, seconds: float, seed: int) -> dict:
    relay, cut_every = CONDITIONS[name]
    cluster = Cluster(tempfile.mkdtemp(prefix=f"wan-{name}-"), n=4, app="note")
    net = WanProxies(seed, **relay) if relay else None
    if net:
        route_cluster(cluster, net)
    latencies, failed = [], 0
    try:
        cluster.start_all()
        cluster.wait_height(0, 2, timeout=60)
        h0, t0 = cluster.height(0), time.monotonic()
        last_cut, i = t0, 0
        while time.monotonic() - t0 < seconds:
            if cut_every and time.monotonic() - last_cut >= cut_every:
                net.cut()
                last_cut = time.monotonic()
            key = crypto.PrivateKey.from_seed((b"wan-bench-%d-%d" % (seed, i)).ljust(32, b"."))
            tx = SignedTx.create(key, CHAIN, "note", 0, b"wan %d" % i).encode()
            s = time.monotonic()
            try:
                st, body = cluster.rpc(i % 4, "/broadcast_tx?wait=commit&timeout=30", tx,
                                       content_type="application/octet-stream", timeout=40)
                ok = st == 200 and (body.get("result") or {}).get("code") == 0
            except OSError:
                ok = False
            if ok:
                latencies.append(time.monotonic() - s)
            else:
                failed += 1
            i += 1
            time.sleep(0.5)
        elapsed, blocks = time.monotonic() - t0, cluster.height(0) - h0
    finally:
        cluster.stop_all()
        if net:
            net.close()
    lat = sorted(latencies)
    return {"name": name, "blocks_per_s": blocks / elapsed, "txs": len(lat), "failed": failed,
            "p50": statistics.median(lat) if lat else float("nan"),
            "p90": lat[int(0.9 * (len(lat) - 1))] if lat else float("nan"),
            "cuts": net.cuts if net else 0}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    a = ap.parse_args()
    rows = [run(name, a.seconds, a.seed) for name in a.conditions.split(",")]
    base = next((r for r in rows if r["name"] == "loopback"), None)
    print("| condition | blocks/s | vs loopback | txs committed (failed) | commit latency p50 / p90 | links cut |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['blocks_per_s'] / base['blocks_per_s']:.2f}x" if base else "-"
        print(f"| {r['name']} | {r['blocks_per_s']:.2f} | {ratio} | {r['txs']} ({r['failed']}) | "
              f"{r['p50'] * 1000:.0f} / {r['p90'] * 1000:.0f} ms | {r['cuts']} |")
    return 0 if all(r["failed"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
