"""Registrations/s committed on a 4-validator devnet, and bytes on disk per registered clip.

    .venv/bin/python bench/registrations.py [--clips 3000] [--seconds-per-clip 8]

Records carry real-sized fingerprints (5 samples/s x 34 bytes, random bits) and random content
hashes, signed by 100 creators; they are submitted round-robin to the validators' RPC as fast as the
client can. Disk use is the growth of node0's LevelDB folder (blocks + commits + tx index + records +
indexes) after a clean stop, divided by the number of clips. The Ed25519 ceiling is measured in the
same run, as in bench/throughput.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench.throughput import ed25519_ceiling, submit_all, watch_commits  # noqa: E402
from provchain.chain import crypto  # noqa: E402
from provchain.devnet.cluster import Cluster  # noqa: E402
from provchain.provenance.fingerprint import ALG, HASH_BYTES, SAMPLE_PERIOD_MS, Fingerprint  # noqa: E402
from provchain.provenance.record import MediaInfo, RegisterClip  # noqa: E402

CHAIN = "provchain-devnet"


def make_records(n: int, seconds: float, creators: int = 100) -> list[bytes]:
    rng = random.Random(1)
    keys = [crypto.PrivateKey.generate() for _ in range(creators)]
    samples = int(seconds * 1000 / SAMPLE_PERIOD_MS)
    txs = []
    for i in range(n):
        fp = Fingerprint(ALG, tuple(k * SAMPLE_PERIOD_MS for k in range(samples)),
                         tuple(rng.randbytes(HASH_BYTES) for _ in range(samples)))
        rec = RegisterClip(rng.randbytes(32), rng.randbytes(32), fp,
                           MediaInfo(int(seconds * 1000), 24000, 256, 256, "h264", "mp4"), 1_700_000_000_000)
        txs.append(rec.sign(keys[i % creators], CHAIN, i // creators).encode())
    return txs


def du(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=3000)
    ap.add_argument("--seconds-per-clip", type=float, default=8.0)
    a = ap.parse_args()
    per_core, ceiling = ed25519_ceiling(4)
    txs = make_records(a.clips, a.seconds_per_clip)
    print(f"{len(txs)} RegisterClip txs, {sum(map(len, txs)) / len(txs):.0f} bytes each on average")
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(tmp, n=4, app="provenance")
        cluster.start_all()
        try:
            cluster.wait_height(0, 2)
            db = os.path.join(tmp, "node0", "data", "state.db")
            before = du(db)

            async def go():
                sent, committed = {}, {}
                stop = asyncio.Event()
                watcher = asyncio.create_task(watch_commits(cluster.url(0), committed, stop, cluster.height(0)))
                t0 = time.perf_counter()
                rejected = await submit_all([cluster.url(i) for i in range(4)], txs, None, sent)
                while len(committed) < len(txs) - rejected and time.perf_counter() - t0 < 300:
                    await asyncio.sleep(0.1)
                stop.set()
                await watcher
                return len(committed), max(committed.values()) - t0, rejected

            n, secs, rejected = asyncio.run(go())
        finally:
            cluster.stop_all()
        after = du(db)
    print(f"committed {n} registrations ({rejected} rejected) in {secs:.1f}s: {n / secs:,.0f} registrations/s "
          f"= {n / secs / ceiling:.0%} of the Ed25519 ceiling ({ceiling:,.0f}/s for 4 validators)")
    print(f"disk: {(after - before) / max(n, 1):,.0f} bytes per registered clip on each validator "
          f"({a.seconds_per_clip:.0f} s clips; LevelDB, Snappy-compressed, includes blocks, commits and indexes)")


if __name__ == "__main__":
    main()
