"""The local-feature route for issue 11's stretch goals, measured before anyone chooses it.

ORB keypoints + descriptors (OpenCV, `pip install '.[orb]'`) of each registered source on a sparse
time grid at reduced resolution; the same, with more keypoints, for each query.  Query samples are
matched against record samples (brute-force Hamming, Lowe's ratio test) and each pair verified
geometrically (RANSAC similarity: rotation + uniform scale + translation, which covers crops,
rotation + zoom, picture-in-picture, canvases and screen recordings).  A source is named when at
least Params.min_samples query samples have a verified pair (the most first), with the time
alignment (record time of the best pair of each verified query sample).  Two routes choose the
pairs: `exhaustive` (every query sample x every record sample) and `index` (SubstringIndex: the
record samples sharing most 32-bit descriptor substrings with the query sample).

Input: a real corpus of bench/real_corpus.py (cases.json; read only).  Each query is judged with
all sources registered (right: its own source named first) and with its own source left out (false
source: any source named that the query does not carry; picture-in-picture and splices carry the
next clip too, and a face-sized swap a region of it, so there that clip is left out as well).
Costs, same run: extraction time per second of video as a ratio to PyAV decode-only of the same
files, ORB time per sample, matching time per query against N records, the bytes per second of
video the record's keypoints would cost (x, y as uint16 + 32-byte descriptor per keypoint), and the
substring index's noise extrapolated to 10^6 records.  Deterministic: fixed parameters, OpenCV's
RNG seeded, one OpenCV thread.

    .venv/bin/python bench/local_features.py [--real-dir /tmp/real11] [--families crop-9x16,...]
        [--rate 2] [--long 480] [--record-features 500] [--query-features 1500] [--mirror]
        [--global-candidates] [--cost-clip F] [--no-exhaustive] [-v]
Exits 1 if any source is named falsely.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import av  # noqa: E402
import numpy as np  # noqa: E402

try:
    import cv2  # noqa: E402
except ImportError:  # pragma: no cover - an optional extra
    sys.exit("bench/local_features.py needs OpenCV: pip install '.[orb]' (opencv-python-headless)")

from bench import real_corpus  # noqa: E402
from bench.verify_speed import decode_only  # noqa: E402

STRETCH = ("crop-9x16", "rotate-zoom", "pip40")
SANITY = ("reencode", "downscale-fps", "mirror", "canvas-blur-9x16", "screen-moving", "speed-fast", "thumb128",
          "excerpt", "swap")
CARRIES_NEXT = ("pip40", "splice", "swap")  # these carry footage of the next clip (real_corpus.build) too


@dataclass
class Params:
    rate: float = 2.0  # samples per second of video
    long: int = 480  # long side of the reduced luma image (never upscaled)
    record_features: int = 500  # keypoints a record keeps per sample
    query_features: int = 1500  # keypoints a query extracts per sample (free: nothing is stored)
    ratio: float = 0.8  # Lowe's ratio test
    ransac_px: float = 4.0  # reprojection threshold at the reduced resolution
    min_inliers: int = 20  # a verified pair
    min_inlier_ratio: float = 0.25  # inliers / ratio-test survivors
    min_samples: int = 2  # verified query samples to name a source
    scale_range: tuple = (0.2, 5.0)  # plausible similarity scale query->record
    max_bucket: int = 64  # substring index: a substring this common is a stop-word
    min_hits: int = 3  # substring index: a record sample is a candidate with this many hits...
    top_candidates: int = 4  # ...and among the top few of a query sample


@dataclass
class Features:
    times: list  # seconds from the first frame
    kps: list  # per sample: (n, 2) float32 x, y at the reduced resolution
    descs: list  # per sample: (n, 32) uint8 or None
    size: tuple  # reduced (w, h)
    seconds: float  # duration covered


def sampled_grey(path: str, rate: float, long: int):
    """(t, grey uint8 image) on a 1/rate grid anchored at the first decoded frame, long side <= long."""
    period = 1.0 / rate
    with av.open(path) as c:
        st = c.streams.video[0]
        st.thread_type = "AUTO"
        t0, nxt = None, 0.0
        for f in c.decode(st):
            t = float(f.time) if f.time is not None else 0.0
            if t0 is None:
                t0 = t
            t -= t0
            if t + 1e-3 < nxt:
                continue
            while nxt <= t + 1e-3:
                nxt += period
            s = min(1.0, long / max(f.width, f.height))
            w, h = max(16, int(round(f.width * s))), max(16, int(round(f.height * s)))
            yield t, f.reformat(width=w, height=h, format="gray", interpolation="AREA").to_ndarray()


ORB_COST = defaultdict(lambda: [0.0, 0])  # n_features -> [seconds in detectAndCompute, samples]


def extract(path: str, p: Params, n_features: int, mirror: bool = False) -> list[Features]:
    """ORB keypoints of each sample; with mirror=True also those of the horizontally flipped frame
    (ORB is not invariant to reflection), from the same decode."""
    orb = cv2.ORB_create(nfeatures=n_features, scaleFactor=1.2, nlevels=8, fastThreshold=12)
    views = 2 if mirror else 1
    times, kps, descs, size = [], [[] for _ in range(views)], [[] for _ in range(views)], (0, 0)
    for t, img in sampled_grey(path, p.rate, p.long):
        times.append(t)
        size = (img.shape[1], img.shape[0])
        for v in range(views):
            t0 = time.perf_counter()
            k, d = orb.detectAndCompute(np.ascontiguousarray(img[:, ::-1]) if v else img, None)
            ORB_COST[n_features][0] += time.perf_counter() - t0
            ORB_COST[n_features][1] += 1
            kps[v].append(np.array([kp.pt for kp in k], np.float32).reshape(-1, 2))
            descs[v].append(d)
    seconds = (times[-1] + 1.0 / p.rate) if times else 0.0
    return [Features(times, kps[v], descs[v], size, seconds) for v in range(views)]


def verify_pair(bf, qk, qd, rk, rd, p: Params) -> int:
    """Inliers of a RANSAC similarity between a query sample and a record sample (0: none)."""
    if qd is None or rd is None or len(qd) < 2 or len(rd) < 2:
        return 0
    good = [m for m, n in (x for x in bf.knnMatch(qd, rd, k=2) if len(x) == 2) if m.distance < p.ratio * n.distance]
    if len(good) < p.min_inliers:
        return 0
    src = qk[[m.queryIdx for m in good]]
    dst = rk[[m.trainIdx for m in good]]
    M, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=p.ransac_px,
                                          maxIters=2000, confidence=0.99)
    if M is None:
        return 0
    scale = float(np.hypot(M[0, 0], M[1, 0]))
    if not p.scale_range[0] <= scale <= p.scale_range[1]:
        return 0
    inl = int(mask.sum())
    return inl if inl / len(good) >= p.min_inlier_ratio else 0


@dataclass
class SourceScore:
    verified: int  # query samples with a verified pair
    best_inliers: int  # most inliers over all pairs (also unverified, for the margin)
    align: list  # (query t, record t) of each verified query sample


def score_query(q: Features, recs: dict, p: Params, cands: list | None = None) -> dict[str, SourceScore]:
    """Per record: the query samples with a verified pair.  cands[qi] = the (record id, record
    sample) pairs to verify for query sample qi; None: every pair (exhaustive)."""
    bf = cv2.BFMatcher(cv2.NORM_HAMMING)
    out = {}
    for rid, r in recs.items():
        verified, best, align = 0, 0, []
        for qi in range(len(q.times)):
            ris = range(len(r.times)) if cands is None else [ri for cr, ri in cands[qi] if cr == rid]
            inl = {ri: verify_pair(bf, q.kps[qi], q.descs[qi], r.kps[ri], r.descs[ri], p) for ri in ris}
            j = max(inl, key=inl.get, default=None)
            if j is not None and inl[j] >= p.min_inliers:
                verified += 1
                align.append((q.times[qi], r.times[j]))
            best = max(best, max(inl.values(), default=0))
        out[rid] = SourceScore(verified, best, align)
    return out


class SubstringIndex:
    """Which record samples share descriptors with a query sample, without scanning every record:
    multi-index hashing as in provchain/provenance/pindex.py, applied to the 256-bit ORB
    descriptors.  Each descriptor is cut into 8 substrings of 32 bits, one sorted table per
    position; a query descriptor hits a record sample when one of its substrings is equal.  A
    substring shared by more than max_bucket descriptors is a stop-word (flat, dark texture)."""

    def __init__(self, recs: dict, max_bucket: int = 64):
        self.keys, self.ids, self.samples = [], [], []
        codes, owner = [], []
        for rid, r in recs.items():
            for ri, d in enumerate(r.descs):
                if d is not None and len(d):
                    codes.append(d.view(np.uint32))
                    owner.append(np.full(len(d), len(self.samples), np.int32))
                    self.samples.append((rid, ri))
        codes, owner = np.concatenate(codes), np.concatenate(owner)
        self.max_bucket, self.n_codes = max_bucket, len(codes)
        for t in range(codes.shape[1]):
            order = np.argsort(codes[:, t], kind="stable")
            self.keys.append(codes[order, t])
            self.ids.append(owner[order])

    def nbytes(self) -> int:
        return sum(k.nbytes + i.nbytes for k, i in zip(self.keys, self.ids))

    def hits(self, d: np.ndarray | None) -> np.ndarray:
        """Hits per record sample (query descriptors with a shared substring)."""
        out = np.zeros(len(self.samples), np.int32)
        if d is None or not len(d):
            return out
        q = d.view(np.uint32)
        for t in range(q.shape[1]):
            lo = np.searchsorted(self.keys[t], q[:, t], "left")
            hi = np.searchsorted(self.keys[t], q[:, t], "right")
            ok = (hi > lo) & (hi - lo <= self.max_bucket)
            for a, b in zip(lo[ok], hi[ok]):
                out[self.ids[t][a:b]] += 1
        return out

    def candidates(self, q: Features, min_hits: int, top: int) -> tuple[list, list]:
        """Per query sample: the `top` record samples with >= min_hits hits; and every hit count."""
        cands, counts = [], []
        for d in q.descs:
            h = self.hits(d)
            best = np.argsort(-h, kind="stable")[:top]
            cands.append([self.samples[i] for i in best if h[i] >= min_hits])
            counts.append(h)
        return cands, counts


def named(scores: dict[str, SourceScore], p: Params, exclude=()) -> list[str]:
    ok = [(s.verified, s.best_inliers, rid) for rid, s in scores.items()
          if rid not in exclude and s.verified >= p.min_samples]
    return [rid for *_, rid in sorted(ok, reverse=True)]


def expected_record_time(c, tq: float) -> float | None:
    """Where query time tq should land in the source, for families whose timing is known."""
    if c.family == "excerpt":
        return c.params["start_s"] + tq
    if c.family.startswith("speed"):
        return c.params["factor"] * tq
    if c.family in ("splice",):
        return None
    return tq


def record_bytes(f: Features) -> int:
    """A record's keypoints if kept: per sample a count, per keypoint x, y (uint16) + 32-byte descriptor."""
    return sum(2 + len(k) * (4 + 32) for k in f.kps)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real-dir", default="/tmp/real11")
    ap.add_argument("--families", default=",".join(STRETCH + SANITY))
    ap.add_argument("--rate", type=float, default=Params.rate)
    ap.add_argument("--long", type=int, default=Params.long)
    ap.add_argument("--record-features", type=int, default=Params.record_features)
    ap.add_argument("--query-features", type=int, default=Params.query_features)
    ap.add_argument("--min-inliers", type=int, default=Params.min_inliers)
    ap.add_argument("--cost-clip", help="also time extraction vs decode-only on this file (e.g. an 8 s 1080p clip)")
    ap.add_argument("--global-candidates", action="store_true",
                    help="also ask the global fingerprint's PerceptualIndex whether it offers the source as a candidate")
    ap.add_argument("--no-exhaustive", action="store_true", help="only the substring-index route")
    ap.add_argument("--mirror", action="store_true", help="match each query's flipped frames too (2x query cost)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    p = Params(rate=a.rate, long=a.long, record_features=a.record_features, query_features=a.query_features,
               min_inliers=a.min_inliers)
    cv2.setNumThreads(1)
    cv2.setRNGSeed(11)
    sources, cases = real_corpus.load(a.real_dir)
    fams = a.families.split(",")
    cases = [c for c in cases if c.family in fams]
    print(f"params: {p}")
    print(f"opencv {cv2.__version__}, {len(sources)} sources, {len(cases)} queries from {a.real_dir}")

    # extraction vs decode-only, interleaved per file so that load from other processes hits both alike
    recs, dec_s, ext_s, rec_seconds, rec_bytes = {}, 0.0, 0.0, 0.0, 0
    for rid, path in sorted(sources.items()):
        t = time.perf_counter()
        decode_only(path)
        dec_s += time.perf_counter() - t
        t = time.perf_counter()
        recs[rid] = extract(path, p, p.record_features)[0]
        ext_s += time.perf_counter() - t
        rec_seconds += recs[rid].seconds
        rec_bytes += record_bytes(recs[rid])
    if a.cost_clip:
        best = [float("inf"), float("inf")]
        for _ in range(3):
            t = time.perf_counter()
            decode_only(a.cost_clip)
            best[0] = min(best[0], time.perf_counter() - t)
            t = time.perf_counter()
            f = extract(a.cost_clip, p, p.record_features)[0]
            best[1] = min(best[1], time.perf_counter() - t)
        with av.open(a.cost_clip) as ctr:
            st = ctr.streams.video[0]
            dims = f"{st.codec_context.width}x{st.codec_context.height}"
        print(f"extraction on {os.path.basename(a.cost_clip)} ({dims}, {f.seconds:.1f} s): {best[1] * 1000:.0f} ms = "
              f"{best[1] / best[0]:.2f}x PyAV decode-only ({best[0] * 1000:.0f} ms), best of 3 each")
    kp_per_sample = np.mean([len(k) for r in recs.values() for k in r.kps])
    qfeat, qdec_s, qext_s = {}, 0.0, 0.0
    for c in cases:
        t = time.perf_counter()
        decode_only(c.query)
        qdec_s += time.perf_counter() - t
        t = time.perf_counter()
        qfeat[c.name] = extract(c.query, p, p.query_features, mirror=a.mirror)
        qext_s += time.perf_counter() - t

    names = [n.removeprefix("src-") for n in sorted(sources)]
    nxt = {f"src-{n}": f"src-{names[(i + 1) % len(names)]}" for i, n in enumerate(names)}
    t = time.perf_counter()
    index = SubstringIndex(recs, p.max_bucket)
    index_s = time.perf_counter() - t
    routes = ("index",) if a.no_exhaustive else ("exhaustive", "index")
    rows = {rt: defaultdict(lambda: {"right": 0, "total": 0, "false": 0, "inl": [], "align": []}) for rt in routes}
    wrong_inl = {rt: [] for rt in routes}  # best inliers on a source the query does not carry
    wrong_ver = {rt: [] for rt in routes}  # verified query samples on such a source
    cost = {rt: [0.0, 0] for rt in routes}  # seconds, verified pairs
    own_hits, other_hits = [], []  # substring hits per (query sample, record sample)
    for c in cases:
        views = qfeat[c.name]
        carried = {c.source} | ({nxt[c.source]} if c.family in CARRIES_NEXT else set())
        for rt in routes:
            t = time.perf_counter()
            sc, npairs = None, 0
            for q in views:  # the flipped view (--mirror): per source, the better reading
                if rt == "index":
                    cands, counts = index.candidates(q, p.min_hits, p.top_candidates)
                    npairs += sum(map(len, cands))
                    if q is views[0]:
                        for h in counts:
                            own_hits.append(max(h[si] for si, (rid, _) in enumerate(index.samples) if rid == c.source))
                            other_hits.extend(h[si] for si, (rid, _) in enumerate(index.samples) if rid not in carried)
                else:
                    cands = None
                    npairs += len(q.times) * sum(len(r.times) for r in recs.values())
                s2 = score_query(q, recs, p, cands)
                sc = s2 if sc is None else {rid: max(x, s2[rid], key=lambda y: (y.verified, y.best_inliers))
                                           for rid, x in sc.items()}
            cost[rt][0] += time.perf_counter() - t
            cost[rt][1] += npairs
            got, loo = named(sc, p), named(sc, p, exclude=carried)
            ok = c.source in got if c.family in CARRIES_NEXT else got[:1] == [c.source]
            r = rows[rt][c.family]
            r["right"] += ok
            r["total"] += 1
            r["false"] += bool(loo)
            r["inl"].append(sc[c.source].best_inliers)
            errs = [abs(tr - e) for tq, tr in sc[c.source].align if (e := expected_record_time(c, tq)) is not None]
            r["align"].extend(errs)
            wrong_inl[rt].extend(x.best_inliers for rid, x in sc.items() if rid not in carried)
            wrong_ver[rt].extend(x.verified for rid, x in sc.items() if rid not in carried)
            if a.verbose or not ok or loo:
                print(f"  {rt:10s} {'ok   ' if ok else 'MISS '} {c.name:28s} named={got} own: "
                      f"{sc[c.source].verified}/{len(views[0].times)} samples, best {sc[c.source].best_inliers} inliers"
                      f"{'  FALSE SOURCE ' + str(loo) if loo else ''}"
                      f"{'  align err p50 %.2f s' % np.median(errs) if errs else ''}")

    gcand = {}
    if a.global_candidates:  # could the second stage check only the global index's candidates?
        from provchain.provenance.fingerprint import analyze_file
        from provchain.provenance.pindex import PerceptualIndex

        ix, keys = PerceptualIndex(), sorted(sources)
        for i, rid in enumerate(keys):
            ix.add(i, analyze_file(sources[rid]).fingerprint.record_form())
        for c in cases:
            got = [keys[k] for k, _ in ix.query(analyze_file(c.query).fingerprint)]
            gcand.setdefault(c.family, [0, 0])
            gcand[c.family][0] += c.source in got
            gcand[c.family][1] += 1

    head = "".join(f"{rt + ' right':>17s} {'false src':>10s}" for rt in routes)
    print(f"\n{'family':18s}{head} {'own inliers':>12s} {'align err p50/max s':>20s}"
          f"{'  global index offers it' if gcand else ''}")
    for fam in fams:
        if fam not in rows[routes[0]]:
            continue
        line = ""
        for rt in routes:
            r = rows[rt][fam]
            line += f"{r['right']:>14d}/{r['total']:<2d} {r['false']:>8d}/{r['total']:<2d}"
        r = rows[routes[0]][fam]
        al = f"{np.median(r['align']):.2f}/{max(r['align']):.2f}" if r["align"] else "-"
        g = f"{gcand[fam][0]:>14d}/{gcand[fam][1]}" if fam in gcand else ""
        print(f"{fam:18s}{line} {min(r['inl']):>5d}-{max(r['inl']):<6d} {al:>20s}{g}")
    tot_false = sum(r["false"] for rt in routes for r in rows[rt].values())
    for rt in routes:
        print(f"{rt}: unrelated (query, source) pairs: best inliers max {max(wrong_inl[rt])}, p99 "
              f"{np.percentile(wrong_inl[rt], 99):.0f} (a pair is verified at >= {p.min_inliers}); "
          f"{sum(v >= 1 for v in wrong_ver[rt])} of {len(wrong_ver[rt])} had a verified query sample, most "
          f"{max(wrong_ver[rt])} (a source is named at >= {p.min_samples})")
    oh, own = np.array(other_hits), np.array(own_hits)
    thr = np.percentile(own, 10)
    noise = float(np.mean(oh >= thr))
    print(f"substring index, hits of a query sample: on its source's best sample p10 {thr:.0f} p50 "
          f"{np.median(own):.0f}; on an unrelated record sample p50 {np.median(oh):.0f} p99 "
          f"{np.percentile(oh, 99):.0f} max {oh.max()}; unrelated samples with >= {thr:.0f} hits: {noise:.1e} "
          f"-> {noise * 16e6:.0f} noise candidates per query sample at 10^6 records of 8 s")
    print(f"records: {len(recs)}, {rec_seconds:.1f} s of video, {kp_per_sample:.0f} keypoints/sample")
    print(f"extraction (records): {ext_s / rec_seconds * 1000:.0f} ms per s of video = "
          f"{ext_s / dec_s:.2f}x PyAV decode-only ({dec_s / rec_seconds * 1000:.0f} ms per s)")
    q_seconds = sum(q[0].seconds for q in qfeat.values())
    print(f"extraction (queries, {p.query_features} kp): {qext_s / q_seconds * 1000:.0f} ms per s of video = "
          f"{qext_s / qdec_s:.2f}x PyAV decode-only")
    print("ORB detectAndCompute per sample (beyond decode): " + ", ".join(
        f"{n} keypoints {sec / cnt * 1000:.1f} ms" for n, (sec, cnt) in sorted(ORB_COST.items())))
    for rt in routes:
        sec, npairs = cost[rt]
        print(f"matching ({rt}): {sec / len(cases) * 1000:.0f} ms per query against {len(recs)} records, "
              f"{npairs / len(cases):.0f} pairs verified per query ({sec / max(1, npairs) * 1e6:.0f} us per pair incl. look-up)")
    print(f"substring index: {index.n_codes} descriptors, built in {index_s * 1000:.0f} ms, "
          f"{index.nbytes() / rec_seconds:.0f} B per s of video in memory")
    print(f"record cost: {rec_bytes / rec_seconds:.0f} B per s of video "
          f"({p.rate:g} samples/s x {kp_per_sample:.0f} keypoints x 36 B)")
    return 1 if tot_false else 0


if __name__ == "__main__":
    sys.exit(main())
