"""Perceptual index at 10^4..10^6 records with REALISTIC fingerprints: look-up latency, recall and
the false-candidate rate.

Uniform random codes flatter an index: real fingerprints cluster (dark frames, fades, plain
gradients, the same kind of scene).  So the registered records are drawn from a pool of codes
computed with the real hash (fingerprint.describe) on:
  * textured frames: every reduced sample of the real excerpts in tests/data/realfootage and of
    procedural scenes, each randomly cropped (60-100%), mirrored and re-lit;
  * flat frames (FLAT_SHARE of the draws): dark noisy frames, fades of real frames to 5-30%
    brightness, plain gradients with noise, blurred blobs -- only those that pass the index's
    texture cut-off (the ones that would be indexed);
each draw with ~3% of its bits flipped.  8 codes per record (an 8 s clip at one code per second).
The real excerpts box and cockatoo are registered too.  Queries go through the real path
(analyze_file -> Fingerprint.wire_form -> PerceptualIndex.query -> match()):
  * copies: box/cockatoo mirrored, on a 9:16 canvas, 1.25x faster -> recall@16;
  * unrelated: the excerpts cup and bikes (not registered), procedural scenes, a dark fade, a
    plain gradient -> false candidates per query, and false matches after match() (must be 0).

    .venv/bin/python bench/lookup.py [--sizes 10000,100000,1000000] [--repeat 5] [--reuse-pool]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from provchain.provenance.fingerprint import (FULL, Geometry, analyze_file, analyze_frames, describe,  # noqa: E402
                                              reduced_size)
from provchain.provenance.match import WEAK_Q, match  # noqa: E402
from provchain.provenance.pindex import PerceptualIndex  # noqa: E402
from tests import corpus as C  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "realfootage")
CODES_PER_RECORD = 8
FLAT_SHARE = 0.3


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _codes(imgs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bits, _, tex, _ = describe(imgs, Geometry(FULL))
    return np.ascontiguousarray(bits).view(np.uint64), tex


def _reduced(frames) -> np.ndarray:
    import av

    h, w = frames[0].shape[:2]
    size = reduced_size(w, h)
    return np.stack([av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
                     .reformat(width=size[0], height=size[1], format="gray", interpolation="AREA").to_ndarray()
                     for f in frames])


def code_pool(rng, n_textured: int = 12_000, n_flat: int = 6_000) -> tuple[np.ndarray, np.ndarray]:
    """(textured codes, flat codes) computed with the real hash on realistic frames."""
    bases = []
    for c in ("box", "cockatoo", "cup", "bikes"):
        frames, _ = C.read_frames(os.path.join(DATA, c + ".mp4"))
        bases.append(_reduced(frames[::3]))
    for k, kind in enumerate(("natural", "flat", "striped", "gradient") * 3):
        bases.append(_reduced(list(C.Scene(kind, 900 + k, 256, 144).frames(4.0, 5))))
    H, W = 144, 256
    imgs = [C.resize_rgb(np.repeat(b[..., None], 3, -1), W, H)[..., 0] for base in bases for b in base]
    imgs = np.stack(imgs).astype(np.float32)
    tex_out, flat_out = [], []
    made = 0
    while made < n_textured:  # random crop / mirror / relight of a real or procedural frame
        m = min(4096, n_textured - made)
        idx = rng.integers(0, len(imgs), m)
        out = np.empty((m, H, W), np.uint8)
        for j, i in enumerate(idx):
            s = rng.uniform(0.6, 1.0)
            ch, cw = int(H * s), int(W * s)
            y, x = rng.integers(0, H - ch + 1), rng.integers(0, W - cw + 1)
            crop = imgs[i, y:y + ch, x:x + cw]
            crop = crop[:, ::-1] if rng.random() < 0.5 else crop
            ys = (np.arange(H) * ch / H).astype(int)
            xs = (np.arange(W) * cw / W).astype(int)
            out[j] = np.clip(crop[ys][:, xs] * rng.uniform(0.6, 1.3) + rng.uniform(-20, 20), 0, 255)
        codes, tex = _codes(out)
        tex_out.append(codes[tex >= WEAK_Q])
        made += m
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    got = 0
    while got < n_flat:
        m = 2048
        out = np.empty((m, H, W), np.uint8)
        for j in range(m):
            kind = j % 4
            if kind == 0:  # dark noisy frame
                img = rng.uniform(5, 40) + rng.normal(0, rng.uniform(1, 4), (H, W))
            elif kind == 1:  # fade of a real frame
                img = imgs[rng.integers(0, len(imgs))] * rng.uniform(0.05, 0.3)
            elif kind == 2:  # plain gradient + noise
                a = rng.uniform(0, 2 * np.pi)
                img = 128 + rng.uniform(10, 80) * ((xx / W - .5) * np.cos(a) + (yy / H - .5) * np.sin(a)) \
                    + rng.normal(0, 2, (H, W))
            else:  # a blurred blob on a plain background
                cx, cy, r = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(10, 60)
                img = rng.uniform(20, 230) + rng.uniform(-60, 60) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / r ** 2)
            out[j] = np.clip(img, 0, 255)
        codes, tex = _codes(out)
        flat_out.append(codes[tex >= WEAK_Q])  # only indexed samples matter
        got += int((tex >= WEAK_Q).sum())
    return np.concatenate(tex_out), np.concatenate(flat_out)[:n_flat]


def records(rng, pool_tex, pool_flat, n: int) -> np.ndarray:
    """(n, 8, 4) uint64: each code drawn from the pools (FLAT_SHARE flat) with ~3% of bits flipped."""
    out = np.empty((n, CODES_PER_RECORD, 4), np.uint64)
    step = 250_000
    for a in range(0, n, step):
        m = min(step, n - a)
        flat = rng.random((m, CODES_PER_RECORD)) < FLAT_SHARE
        t = pool_tex[rng.integers(0, len(pool_tex), (m, CODES_PER_RECORD))]
        f = pool_flat[rng.integers(0, len(pool_flat), (m, CODES_PER_RECORD))]
        c = np.where(flat[..., None], f, t)
        mask = rng.integers(0, 2**64, c.shape, dtype=np.uint64)
        for _ in range(4):  # AND of 5 random words: each bit set with probability 1/32
            mask &= rng.integers(0, 2**64, c.shape, dtype=np.uint64)
        out[a:a + m] = c ^ mask
    return out


def queries(tmp: str):
    """(copies {name: (fingerprint, true source)}, unrelated {name: fingerprint}, registered records)."""
    src = {c: C.read_frames(os.path.join(DATA, c + ".mp4")) for c in ("box", "cockatoo", "cup", "bikes")}
    regs = {c: analyze_file(os.path.join(DATA, c + ".mp4")).fingerprint.record_form() for c in ("box", "cockatoo")}
    copies = {}
    for c in regs:
        f, fps = src[c]
        for fam, (out, ofps) in {
            "mirror": ([np.ascontiguousarray(x[:, ::-1]) for x in f], fps),
            "canvas-9x16": (C.on_canvas(f, 270, 480, pos=(0.5, 0.3)), fps),
            "speed-1.25x": (C.speed(f, fps, 1.25), fps),
        }.items():
            p = C.write_video(os.path.join(tmp, f"{c}.{fam}.mp4"), out, fps=ofps, crf=26)
            copies[f"{c} {fam}"] = (analyze_file(p).fingerprint, c)
    unrelated = {c: analyze_file(os.path.join(DATA, c + ".mp4")).fingerprint for c in ("cup", "bikes")}
    for k, kind in enumerate(("natural", "flat", "striped", "gradient")):
        unrelated[f"scene-{kind}"] = analyze_frames(C.Scene(kind, 700 + k, 320, 180).frames(6.0, 25), 25.0)
    fade = [np.full((180, 320, 3), int(60 * (1 - t / 150)), np.uint8) + np.random.default_rng(t).integers(0, 3, (180, 320, 3), dtype=np.uint8)
            for t in range(150)]
    unrelated["dark-fade"] = analyze_frames(fade, 25.0)
    return copies, unrelated, regs


def run(n: int, pool, qs, repeat: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    copies, unrelated, regs = qs
    t = time.perf_counter()
    ix = PerceptualIndex()
    ix.add_many(range(n), records(rng, *pool, n))
    keys = {}
    for i, (c, fp) in enumerate(regs.items()):
        keys[n + i] = c
        ix.add(n + i, fp)
    build = time.perf_counter() - t
    lat, found, fc, fq, fm = [], 0, 0, 0, 0
    for _ in range(repeat):
        for name, (fp, true) in copies.items():
            w = fp.wire_form()
            t = time.perf_counter()
            res = ix.query(w)
            lat.append(time.perf_counter() - t)
            found += any(keys.get(k) == true for k, _ in res)
        for name, fp in unrelated.items():
            w = fp.wire_form()
            t = time.perf_counter()
            res = ix.query(w)
            lat.append(time.perf_counter() - t)
            fc += len(res)
            fq += bool(res)
            # the pool records carry only codes: judge the candidates as verify would
            cands = {}
            for k, _ in res:
                if k in keys:
                    cands[keys[k]] = regs[keys[k]]
            if cands and match(fp, cands).verdict != "unregistered":
                fm += 1
    nq_u = len(unrelated) * repeat
    lat_ms = np.array(lat) * 1000
    print(f"{n:>9,} records  build {build:6.1f} s  look-up p50 {np.percentile(lat_ms, 50):6.2f} ms  "
          f"p99 {np.percentile(lat_ms, 99):6.2f} ms  recall@16 {found}/{len(copies) * repeat}  "
          f"false candidates {fc / nq_u:.2f}/query ({fq}/{nq_u} queries with any)  false matches {fm}  "
          f"index {ix.nbytes() / 1e6:7.1f} MB  max rss {rss_mb():7.0f} MB", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--reuse-pool", action="store_true", help="reuse the code pool of the last run (its temp file)")
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    t = time.perf_counter()
    cache = os.path.join(tempfile.gettempdir(), "provchain-lookup-pool.npz")
    if a.reuse_pool and os.path.exists(cache):
        z = np.load(cache)
        pool = (z["tex"], z["flat"])
    else:
        pool = code_pool(rng)
        np.savez(cache, tex=pool[0], flat=pool[1])
    print(f"code pool: {len(pool[0]):,} textured + {len(pool[1]):,} flat codes in {time.perf_counter() - t:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        qs = queries(tmp)
        print(f"queries: {len(qs[0])} copies, {len(qs[1])} unrelated; wire form of an 8 s query: "
              f"{len(qs[0]['box mirror'][0].wire_form().times_ms)} samples x "
              f"{1 + len(qs[0]['box mirror'][0].variants)} geometries")
        for n in [int(x) for x in a.sizes.split(",")]:
            run(n, pool, qs, a.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
