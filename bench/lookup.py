"""Perceptual index look-up latency and memory at 10^4, 10^5, 10^6 registered clips.

Records are synthetic (no video decoded): 8 random 256-bit codes each (an 8 s clip indexed at one
code per second).  Queries are 40-sample fingerprints (an 8 s clip at 5 samples/s, 4 crop
variants per sample): half are noisy copies of a registered record (each sample = one of its codes
with 8..40 bits flipped; variants random), half are random (unregistered).  Prints build time,
p50/p99 query latency, recall of the true record in the top 16, and memory.

    .venv/bin/python bench/lookup.py [--sizes 10000,100000,1000000] [--queries 200]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from provchain.provenance.fingerprint import ALG, HASH_BYTES, QUERY_CROPS, Fingerprint, Variant  # noqa: E402
from provchain.provenance.pindex import PerceptualIndex  # noqa: E402

CODES_PER_RECORD = 8
SAMPLES = 40


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def flip(rng, code: np.ndarray, nbits: int) -> np.ndarray:
    b = np.unpackbits(code.view(np.uint8))
    idx = rng.choice(256, nbits, replace=False)
    b[idx] ^= 1
    return np.packbits(b).view(np.uint64)


def make_query(rng, base: np.ndarray | None) -> Fingerprint:
    hashes = []
    for i in range(SAMPLES):
        if base is not None:
            c = flip(rng, base[(i // 5) % len(base)], int(rng.integers(8, 41)))
        else:
            c = rng.integers(0, 2**64, 4, dtype=np.uint64)
        hashes.append(c.tobytes() + bytes([128, 200]))
    variants = tuple(Variant((0.0, 0.0, 1.0, 1.0), False, c, b"".join(
        rng.integers(0, 2**64, 4, dtype=np.uint64).tobytes() + bytes([200]) for _ in range(SAMPLES)))
        for c in QUERY_CROPS)
    assert len(hashes[0]) == HASH_BYTES
    return Fingerprint(ALG, tuple(range(0, 200 * SAMPLES, 200)), tuple(hashes), variants=variants)


def run(n: int, n_queries: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    ix = PerceptualIndex()
    all_codes = rng.integers(0, 2**64, (n, CODES_PER_RECORD, 4), dtype=np.uint64)
    ix.add_many(range(n), all_codes)  # bulk load (one sort); add() is the incremental path
    build = time.perf_counter() - t
    lat, found, false_cands = [], 0, 0
    for qi in range(n_queries):
        if qi % 2 == 0:
            target = int(rng.integers(0, n))
            fp = make_query(rng, all_codes[target])
        else:
            target = None
            fp = make_query(rng, None)
        t = time.perf_counter()
        res = ix.query(fp, max_candidates=16)
        lat.append(time.perf_counter() - t)
        if target is not None:
            found += any(k == target for k, _ in res)
            false_cands += sum(1 for k, _ in res if k != target)
        else:
            false_cands += len(res)
    lat_ms = np.array(lat) * 1000
    print(f"{n:>9,} records  {ix.n_codes:>10,} codes  build {build:6.1f} s  "
          f"query p50 {np.percentile(lat_ms, 50):6.2f} ms  p99 {np.percentile(lat_ms, 99):6.2f} ms  "
          f"recall {found}/{n_queries // 2 + n_queries % 2}  false candidates {false_cands}  "
          f"index {ix.nbytes() / 1e6:7.1f} MB  rss {rss_mb():7.0f} MB  "
          f"(max rss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)", flush=True)
    del ix, all_codes


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    a = ap.parse_args()
    for n in [int(x) for x in a.sizes.split(",")]:
        run(n, a.queries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
