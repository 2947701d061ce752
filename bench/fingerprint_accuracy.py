"""Fingerprint + match accuracy on the synthetic corpus (tests/corpus.py).

Builds the corpus in a temp dir (8 registered sources: flat, striped, gradient, natural x2; 14
transformations each; 8 unrelated clips), registers the sources in a PerceptualIndex, and for each
query runs the real flow: index candidates -> match().  Prints case / expected / got / similarity,
then the Hamming distance statistics behind the thresholds.  Exits 1 if any case is wrong.

    .venv/bin/python bench/fingerprint_accuracy.py [--size 320x180] [--seconds 8] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from provchain.provenance.fingerprint import analyze_file  # noqa: E402
from provchain.provenance.match import VOTE_DIST, WEAK_Q, WINDOW_DIST, WINDOW_SAMPLES, match  # noqa: E402
from provchain.provenance.pindex import PerceptualIndex  # noqa: E402
from tests.corpus import build_corpus  # noqa: E402


def dists(q, r) -> np.ndarray:
    """(V, n, m) distances; usable pairs only (both textures >= WEAK_Q), others NaN."""
    hs, qs = q.variant_arrays()
    R = r.dct_array()
    rq = r.stats_array()[:, 1]
    out = []
    for h, qq in zip(hs, qs):
        d = np.bitwise_count(h[:, None, :] ^ R[None, :, :]).sum(-1).astype(float)
        d[qq < WEAK_Q, :] = np.nan
        d[:, rq < WEAK_Q] = np.nan
        out.append(d)
    return np.stack(out)


def aligned(q, r, off: int) -> np.ndarray:
    """Per query sample, distance to the record sample(s) within one period of t + off, best
    crop variant for the whole clip."""
    d = dists(q, r)
    rt = np.asarray(r.times_ms)
    best = None
    for v in range(d.shape[0]):
        per = []
        for i, t in enumerate(q.times_ms):
            x = t + off
            js = [j for j in range(len(rt)) if abs(rt[j] - x) < 200]
            vals = [d[v, i, j] for j in js if not np.isnan(d[v, i, j])]
            per.append(min(vals) if vals else np.nan)
        per = np.array(per)
        if best is None or np.nanmean(per) < np.nanmean(best):
            best = per
    return best


def window_means(per: np.ndarray) -> list[float]:
    out = []
    for a in range(0, len(per) - WINDOW_SAMPLES + 1, WINDOW_SAMPLES):
        w = per[a : a + WINDOW_SAMPLES]
        if np.isfinite(w).sum() >= 2:
            out.append(float(np.nanmean(w)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--keep", help="build (or reuse) the corpus in this directory")
    a = ap.parse_args()
    w, h = (int(x) for x in a.size.split("x"))
    tmp = tempfile.TemporaryDirectory()
    d = a.keep or tmp.name
    t = time.perf_counter()
    sources, cases = build_corpus(d, width=w, height=h, seconds=a.seconds)
    print(f"corpus: {len(sources)} sources, {len(cases)} queries, {w}x{h}, {a.seconds:g} s "
          f"(built in {time.perf_counter() - t:.0f} s)")
    t = time.perf_counter()
    recs = {rid: analyze_file(p).fingerprint.record_form() for rid, p in sources.items()}
    queries = {c.name: analyze_file(c.query).fingerprint for c in cases}
    print(f"fingerprinted {len(recs) + len(queries)} clips in {time.perf_counter() - t:.1f} s")
    ix = PerceptualIndex()
    keys = {}
    for i, (rid, fp) in enumerate(recs.items()):
        ix.add(i, fp)
        keys[i] = rid

    wrong = 0
    print(f"\n{'case':44s} {'expected':12s} {'got':12s} similarity  records")
    for c in cases:
        cand = {keys[k]: recs[keys[k]] for k, _ in ix.query(queries[c.name])}
        r = match(queries[c.name], cand)
        ids = [m.record_id for m in r.matches]
        ok = r.verdict == c.expected and set(c.records) <= set(ids)
        if c.expected == "match":
            ok = ok and ids == [c.records[0]]
        wrong += not ok
        sim = " ".join(f"{m.similarity:.2f}" for m in r.matches) or "-"
        print(f"{c.name:44s} {c.expected:12s} {r.verdict:12s} {sim:11s} {','.join(ids) or '-'}"
              f"{'' if ok else '   <-- WRONG'}")

    # distance statistics
    print(f"\nper-sample Hamming distance (256 bits) at the true alignment, usable samples; "
          f"window = mean over {WINDOW_SAMPLES} samples")
    print(f"{'transformation':22s} {'median':>6s} {'p90':>5s} {'max':>5s} {'max window':>10s}")
    bycat = defaultdict(list)
    for c in cases:
        if c.expected != "match":
            continue
        per = aligned(queries[c.name], recs[c.records[0]], c.offset_ms)
        bycat[c.name.split(" ", 1)[1]].append(per)
    all_same, all_win = [], []
    for cat, pers in bycat.items():
        x = np.concatenate(pers)
        x = x[np.isfinite(x)]
        wm = max(max(window_means(p), default=0) for p in pers)
        all_same.append(x)
        all_win.append(wm)
        print(f"{cat:22s} {np.median(x):6.0f} {np.percentile(x, 90):5.0f} {x.max():5.0f} {wm:10.1f}")
    x = np.concatenate(all_same)
    print(f"{'ALL same-content':22s} {np.median(x):6.0f} {np.percentile(x, 90):5.0f} {x.max():5.0f} "
          f"{max(all_win):10.1f}")
    # different content: every pair of distinct clips among sources + unrelated
    pool = dict(recs)
    for c in cases:
        if c.expected == "unregistered":
            pool[c.name] = queries[c.name]
    names = list(pool)
    fmin, wmin, fmed = np.inf, np.inf, []
    kernel = np.ones(WINDOW_SAMPLES)
    for i in range(len(names)):
        for j in range(len(names)):
            if i == j:
                continue
            dv = dists(pool[names[i]], pool[names[j]])
            if not np.isfinite(dv).any():
                continue
            dd = np.nanmin(np.where(np.isfinite(dv), dv, np.inf), axis=0)
            dd[~np.isfinite(dd)] = np.nan
            fmin = min(fmin, np.nanmin(dd))
            fmed.append(np.nanmedian(dd))
            n, m = dd.shape
            for v in range(dv.shape[0]):  # one crop variant per alignment, as match() does
                for off in range(-n + 1, m):
                    diag = np.diagonal(dv[v], off)
                    if len(diag) < WINDOW_SAMPLES:
                        continue
                    ok = np.isfinite(diag)
                    cnt = np.convolve(ok, kernel, "valid")
                    tot = np.convolve(np.where(ok, diag, 0.0), kernel, "valid")
                    good = cnt >= 2
                    if good.any():
                        wmin = min(wmin, float((tot[good] / cnt[good]).min()))
    print(f"{'different content':22s} median {np.median(fmed):.0f}, min sample {fmin:.0f}, "
          f"min window {wmin:.1f}  (any offset, crop variants included)")
    print(f"thresholds: vote <= {VOTE_DIST}, window <= {WINDOW_DIST}, weak texture < {WEAK_Q}")
    print(f"\n{len(cases) - wrong}/{len(cases)} cases right")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
