"""Temporal alignment of a query fingerprint against candidate records, and the verdict.

Pure: numpy only, no I/O.  How it decides (constants below, measured in BENCHMARKS-fingerprint.md):

1. Distances.  For each candidate record, the Hamming distance between every query sample hash
   (the core hash and its crop variants) and every record sample hash (core only).
2. Votes.  Sample pairs with distance <= VOTE_DIST (both samples informative) vote for the time
   offset record_time - query_time; the most voted offsets overall and within each query window
   are the alignment hypotheses.
3. Windows.  The query is cut into windows of WINDOW_SAMPLES samples (~1 s).  For each window and
   each (record, offset, crop variant), every query sample is compared with the record sample(s)
   shown within one sample period of query_time + offset, and the window score is the mean
   distance.  A window is explained by the best (record, offset) whose score is <= WINDOW_DIST;
   the previous window's alignment is kept when it is within HYSTERESIS of the best (static
   content matches at many offsets).  Samples whose texture (stable DCT coefficients) is below
   WEAK_Q carry no usable hash: a pair with such a sample is ignored, except that a near-uniform
   sample against a clearly textured one counts as a mismatch.  A window with too few usable pairs
   is neutral: it neither explains nor contradicts (black frames, fades).
4. Segments.  Consecutive windows explained by the same record at the same offset (+- one sample
   period) form a Segment.  A record must explain at least MIN_WINDOWS windows (or the whole
   query when it is shorter) to be reported.
5. Verdict.  `match`: every non-neutral window is explained by one record at one offset.
   `altered`: some windows are explained and others are not, or are explained by another record
   or at another offset of the same record (splice, insertion, replaced region, re-ordering).
   `unregistered`: no window is explained.

Minimum evidence: a query shorter than MIN_EVIDENCE_SAMPLES samples (1 s of video on the 200 ms
grid) is too little to call anything a copy: match() answers `unregistered` for it, and `verify`
reports it as undecided with the reason from evidence_shortfall() (a file whose frames all carry
timestamp 0 fingerprints as a single sample).  The rule lives here only.

similarity (per record) = sum over the windows it explains of (1 - score / 128), divided by the
number of non-neutral windows: 1.0 for an exact copy, ~0.9 for a typical re-encode, lower when only
part of the query comes from the record; always in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .fingerprint import Fingerprint

VOTE_DIST = 56  # bits of 256: a sample pair close enough to vote for an alignment
WINDOW_DIST = 58  # mean bits over a window: a window explained by an alignment
HYSTERESIS = 8  # keep the previous window's alignment if within this of the best score
WEAK_Q = 64  # texture byte (number of stable DCT coefficients) below which a sample is weak
WINDOW_SAMPLES = 5
MIN_WINDOWS = 2
TOP_OFFSETS = 12
MIN_EVIDENCE_SAMPLES = 5  # 1 s of video: fewer samples are too little to call a clip a copy
_FAR = 128.0  # distance used for a sample that the alignment cannot explain


@dataclass(frozen=True)
class Segment:
    query_start_ms: int
    query_end_ms: int
    record_start_ms: int
    record_end_ms: int


@dataclass(frozen=True)
class RecordMatch:
    record_id: str
    similarity: float
    segments: tuple[Segment, ...]
    altered_segments: tuple[tuple[int, int], ...]  # query ms ranges not explained by this record


@dataclass(frozen=True)
class MatchResult:
    verdict: str  # "match" | "altered" | "unregistered"
    matches: tuple[RecordMatch, ...]


def _dist_matrices(qv: list[np.ndarray], r: np.ndarray) -> np.ndarray:
    """(V, n, m) uint16 Hamming distances, computed in row chunks to bound memory."""
    n, m = len(qv[0]), len(r)
    out = np.empty((len(qv), n, m), np.uint16)
    step = max(1, 2_000_000 // max(1, m))
    for v, q in enumerate(qv):
        for a in range(0, n, step):
            x = q[a : a + step, None, :] ^ r[None, :, :]
            out[v, a : a + step] = np.bitwise_count(x).sum(-1, dtype=np.uint16)
    return out


def _period(times: np.ndarray) -> float:
    if len(times) < 2:
        return 200.0
    return float(np.median(np.diff(times)))


class _Rec:
    def __init__(self, rid: str, fp: Fingerprint, q: "_Query"):
        self.rid = rid
        self.t = np.asarray(fp.times_ms, np.int64)
        self.qual = fp.stats_array()[:, 1].astype(np.int16)
        self.D = _dist_matrices(q.variants, fp.dct_array())  # (V, n, m)
        self.period = _period(self.t)
        # pair status per variant: 0 usable, 1 neutral, 2 forced mismatch (near-uniform vs
        # clearly textured)
        weak_r = self.qual < WEAK_Q
        flat_r = self.qual < WEAK_Q // 2
        strong_r = self.qual >= 2 * WEAK_Q
        st = []
        for qq in q.quals:
            s = ((qq < WEAK_Q)[:, None] | weak_r[None, :]).astype(np.int8)
            s[((qq < WEAK_Q // 2)[:, None] & strong_r[None, :])
              | ((qq >= 2 * WEAK_Q)[:, None] & flat_r[None, :])] = 2
            st.append(s)
        self.status = np.stack(st)  # (V, n, m)

    def offsets(self, q: "_Query") -> tuple[list[int], list[list[int]]]:
        ii, jj = np.nonzero(((self.D <= VOTE_DIST) & (self.status == 0)).any(axis=0))
        if len(ii) == 0:
            return [], [[] for _ in q.windows]
        offs = self.t[jj] - q.t[ii]
        u, c = np.unique(offs, return_counts=True)
        glob = [int(x) for x in u[np.argsort(-c, kind="stable")][:TOP_OFFSETS]]
        per = []
        for a, b in q.windows:
            sel = (ii >= a) & (ii < b)
            if not sel.any():
                per.append([])
                continue
            u, c = np.unique(offs[sel], return_counts=True)
            per.append([int(x) for x in u[np.argsort(-c, kind="stable")][:3]])
        return glob, per

    def aligned(self, q: "_Query", off: int) -> tuple[np.ndarray, np.ndarray]:
        """Per variant and query sample: (V, n) distances under this offset and a (V, n) status
        (0 usable, 1 neutral, 2 mismatch).  Record samples within one period of query_time + off
        count; a query sample outside the record is a mismatch."""
        n = len(q.t)
        V = self.D.shape[0]
        x = q.t + off
        hi = np.searchsorted(self.t, x, "left")
        best = np.full((V, n), np.inf)
        status = np.full((V, n), 2, np.int8)
        for j in (hi - 1, hi):
            ok = (j >= 0) & (j < len(self.t))
            jc = np.clip(j, 0, len(self.t) - 1)
            ok &= np.abs(self.t[jc] - x) < self.period
            if not ok.any():
                continue
            idx = np.nonzero(ok)[0]
            st = self.status[:, idx, jc[idx]]
            d = self.D[:, idx, jc[idx]].astype(np.float64)
            d[st != 0] = np.inf
            best[:, idx] = np.minimum(best[:, idx], d)
            # usable if any candidate is usable; else neutral if any is neutral; else mismatch
            status[:, idx] = np.minimum(status[:, idx], st)
        best[status == 2] = _FAR
        return best, status


class _Query:
    def __init__(self, fp: Fingerprint):
        self.t = np.asarray(fp.times_ms, np.int64)
        self.variants, quals = fp.variant_arrays()
        self.quals = [x.astype(np.int16) for x in quals]
        n = len(self.t)
        bounds = list(range(0, n, WINDOW_SAMPLES)) + [n]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] < (WINDOW_SAMPLES + 1) // 2:
            bounds.pop(-2)  # a short tail joins the previous window
        self.windows = [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]
        self.period = _period(self.t)

    def span(self, a: int, b: int) -> tuple[int, int]:
        """Query ms range covered by samples [a, b)."""
        return int(self.t[a]), int(self.t[b - 1] + self.period)


def _window_scores(dist: np.ndarray, status: np.ndarray, windows) -> list[float | None]:
    """Score per window under one alignment: the crop variant is chosen once for the whole
    alignment (a crop is a property of the clip), as the one with the lowest mean distance over
    its usable pairs; then each window's mean distance, or None when the window has too few
    usable pairs (neutral)."""
    use = status != 1  # (V, n)
    cnt = use.sum(axis=1)
    tot = np.where(use, dist, 0.0).sum(axis=1)
    mean = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.inf)
    v = int(np.argmin(mean))
    d, u = dist[v], use[v]
    out: list[float | None] = []
    for a, b in windows:
        need = max(1, int(np.ceil(0.4 * (b - a))))
        k = int(u[a:b].sum())
        out.append(float(d[a:b][u[a:b]].mean()) if k >= need else None)
    return out


def evidence_shortfall(query: Fingerprint) -> str | None:
    """Why `query` is too little video to judge perceptually, or None when it is enough."""
    n = len(query.times_ms)
    if n >= MIN_EVIDENCE_SAMPLES:
        return None
    return (f"too little video to compare: {n} sample(s) on the 200 ms grid, at least "
            f"{MIN_EVIDENCE_SAMPLES} (1 s of video) are needed")


def match(query: Fingerprint, candidates: Mapping[str, Fingerprint]) -> MatchResult:
    if evidence_shortfall(query):
        return MatchResult("unregistered", ())
    q = _Query(query)
    nw = len(q.windows)
    # per window: best (score, rid, offset) and the set of all acceptable hypotheses
    hyp_scores: dict[tuple[str, int], list] = {}
    for rid, fp in candidates.items():
        if len(fp.times_ms) == 0:
            continue
        rec = _Rec(rid, fp, q)
        glob, per = rec.offsets(q)
        offs = set(glob)
        for p in per:
            offs.update(p)
        for off in sorted(offs):
            dist, status = rec.aligned(q, off)
            hyp_scores[(rid, off)] = _window_scores(dist, status, q.windows)
    if not hyp_scores:
        return MatchResult("unregistered", ())

    # assign windows: best acceptable hypothesis, with hysteresis towards the previous choice
    assign: list[tuple[str, int, float] | None] = [None] * nw
    neutral = [True] * nw
    for w in range(nw):
        cands = []
        for (rid, off), scores in hyp_scores.items():
            s = scores[w]
            if s is None:
                continue
            neutral[w] = False
            if s <= WINDOW_DIST:
                cands.append((s, rid, off))
        if not cands:
            continue
        cands.sort(key=lambda c: (c[0], c[1], c[2]))
        pick = cands[0]
        prev = assign[w - 1] if w > 0 else None
        if prev is not None:
            near = [c for c in cands if c[1] == prev[0] and abs(c[2] - prev[1]) <= q.period
                    and c[0] <= pick[0] + HYSTERESIS]
            if near:
                pick = min(near, key=lambda c: (abs(c[2] - prev[1]), c[0], c[2]))
        assign[w] = (pick[1], pick[2], pick[0])
    # a neutral window takes its neighbours' alignment when they agree (or the only neighbour's)
    for w in range(nw):
        if neutral[w]:
            left = next((assign[k] for k in range(w - 1, -1, -1) if not neutral[k]), None)
            right = next((assign[k] for k in range(w + 1, nw) if not neutral[k]), None)
            if left is not None and right is not None and left[0] == right[0] and abs(left[1] - right[1]) <= q.period:
                assign[w] = (left[0], left[1], left[2])
    # drop records that explain too few windows
    counts: dict[str, int] = {}
    for a in assign:
        if a is not None:
            counts[a[0]] = counts.get(a[0], 0) + 1
    decidable = sum(1 for w in range(nw) if not neutral[w]) or nw
    need = min(MIN_WINDOWS, decidable)
    keep = {rid for rid, c in counts.items() if c >= need}
    assign = [a if a is not None and a[0] in keep else None for a in assign]
    if not keep:
        return MatchResult("unregistered", ())

    # segments per record
    matches = []
    for rid in sorted(keep):
        segs: list[list] = []  # [w_start, w_end, offset]
        sim = 0.0
        for w, a in enumerate(assign):
            if a is None or a[0] != rid:
                continue
            if not neutral[w]:
                sim += 1.0 - min(a[2], 128.0) / 128.0
            if segs and segs[-1][1] == w and abs(segs[-1][2] - a[1]) <= q.period:
                segs[-1][1] = w + 1
            else:
                segs.append([w, w + 1, a[1]])
        rec_end = int(candidates[rid].times_ms[-1] + _period(np.asarray(candidates[rid].times_ms)))
        segments = []
        for ws, we, off in segs:
            qs, qe = q.span(q.windows[ws][0], q.windows[we - 1][1])
            segments.append(Segment(qs, qe, max(0, qs + off), min(rec_end, max(0, qe + off))))
        unexplained = []
        for w, a in enumerate(assign):
            if neutral[w] and a is None:
                continue
            if a is None or a[0] != rid:
                s, e = q.span(*q.windows[w])
                if unexplained and unexplained[-1][1] == s:
                    unexplained[-1] = (unexplained[-1][0], e)
                else:
                    unexplained.append((s, e))
        matches.append(RecordMatch(rid, round(min(1.0, sim / decidable), 4), tuple(segments), tuple(unexplained)))
    matches.sort(key=lambda m: (-m.similarity, m.record_id))

    # verdict
    decided = [assign[w] for w in range(nw) if not neutral[w]]
    if decided and all(a is not None for a in decided):
        rids = {a[0] for a in decided}
        offs = [a[1] for a in decided]
        if len(rids) == 1 and max(offs) - min(offs) <= q.period:
            return MatchResult("match", tuple(matches))
    return MatchResult("altered", tuple(matches))
