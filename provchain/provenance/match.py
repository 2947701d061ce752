"""Temporal alignment of a query fingerprint against candidate records, and the verdict.

Pure: numpy only, no I/O.  How it decides (constants below, measured in BENCHMARKS.md):

1. Distances.  For each candidate record, the Hamming distance between every query sample hash
   (full frame and every variant: mirror, crops, content rectangles) and every record sample hash.
2. Votes.  Sample pairs with distance <= VOTE_DIST (both samples informative) vote for the line
   record_time = slope * query_time + offset, for slopes from 0.74 to 1.35 (2% steps: a copy
   played 0.75x-1.33x as fast) and 1.0; the most voted lines overall and the most voted slope-1
   offsets within each query window are the alignment hypotheses.
3. Windows.  The query is cut into windows of WINDOW_SAMPLES samples (~1 s).  Under a hypothesis,
   every query sample is compared with the record sample(s) shown within one sample period of
   slope * query_time + offset, with one variant chosen for the whole hypothesis (a mirror or a
   canvas is a property of the clip); the window score is the mean distance.  A window is
   explained by a hypothesis whose score is <= WINDOW_DIST.  Each record is judged on its own:
   its best line (most windows explained, then lowest mean score, then slope nearest 1; refined
   on a finer grid; a line of another speed whose explained windows score SPEED_EVIDENCE bits
   better on average wins over the tie-breaks: static content fits lines of any slope) explains
   every window where it is acceptable -- static content fits many
   lines, so no per-window competition -- and its other lines only the windows the best line
   cannot (a splice or re-ordering of the same record).  Samples whose texture is below WEAK_Q carry no usable hash:
   a pair with such a sample is ignored, except that a near-uniform sample against a clearly
   textured one counts as a mismatch.  A window with too few usable pairs is neutral.
4. Segments.  Consecutive windows explained by the same record on the same line (+- one sample
   period) form a Segment.  A record must explain at least MIN_WINDOWS windows (or the whole query
   when it is shorter) to be reported.
5. Regions.  Along the alignment, each record thumbnail (16x16 levels, every 2nd sample) is
   paired with the query sample showing the same frame (of those within 1.5 query periods of
   the line, the nearest in hash: no motion between the two, even hand-held), the query's
   thumbnail taken in the chosen variant's geometry.  Levels are mapped through a per-clip
   grade curve (and a per-frame linear refit where a fifth of the cells differ); a cell differs
   when it is >= REGION_LEVEL levels off (one more in an estimated rectangle -- canvas, window,
   crop -- or at another speed, where it is measured against the range of the copy's frames
   around the pair: the copy may lack the record's frame) and that much more than its lower
   quartile over the clip.  A group of >= REGION_CELLS connected cells differing
   in two consecutive thumbnails (one, when they are REGION_RUN_MS or more apart), by half a
   level more than that on average, is a replaced region: an AlteredSegment with its time span and
   its rectangle in the query frame (x, y, w, h fractions).
6. Verdict.  `match`: one record explains every non-neutral window in one segment, and no
   region differs.  `altered`: some windows are explained and others are not, or by another
   record or line (splice, insertion, re-ordering), or a region differs.  `unregistered`: no
   window is explained.

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

from .fingerprint import FULL, SAMPLE_PERIOD_MS, THUMB_SIDE, Fingerprint, unpack_thumbs

VOTE_DIST = 56  # bits of 256: a sample pair close enough to vote for an alignment
WINDOW_DIST = 58  # mean bits over a window: a window explained by an alignment
WEAK_Q = 64  # texture byte (number of stable DCT coefficients) below which a sample is weak
WINDOW_SAMPLES = 5
WINDOW_MS = WINDOW_SAMPLES * SAMPLE_PERIOD_MS
MIN_WINDOWS = 2
TOP_LINES = 12
SPEED_EVIDENCE = 6  # bits of mean window score: another speed fits clearly better than the tie-break
SLOPES = tuple(sorted({1.0} | {round(1.02**k, 4) for k in range(-15, 16)}))
OFFSET_BIN_MS = 40
GRID_SLACK_MS = 20  # a line this close to a record sample is on it
LINE_TOL_MS = SAMPLE_PERIOD_MS  # two lines this close over a span are the same alignment
REGION_LEVEL = 2  # of 15 thumbnail levels
REGION_CELLS = 3
REGION_RUN_MS = 800  # thumbnails closer than this: a region must differ in two consecutive ones
REGION_MIN_AREA = 0.02  # of the query frame: smaller differences (a corner logo) are not reported
REGION_MAX_AREA = 0.5  # a larger difference in a window the alignment cannot explain is the whole picture
MIN_EVIDENCE_SAMPLES = 5  # 1 s of video: fewer samples are too little to call a clip a copy
_FAR = 128.0  # distance used for a sample that the alignment cannot explain


@dataclass(frozen=True)
class Segment:
    query_start_ms: int
    query_end_ms: int
    record_start_ms: int
    record_end_ms: int


@dataclass(frozen=True)
class AlteredSegment:
    """A query time span not explained by the record; `region` (x, y, w, h fractions of the query
    frame) when only that part of the picture differs, None when the whole picture does."""

    query_start_ms: int
    query_end_ms: int
    region: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class RecordMatch:
    record_id: str
    similarity: float
    segments: tuple[Segment, ...]
    altered_segments: tuple[AlteredSegment, ...]


@dataclass(frozen=True)
class MatchResult:
    verdict: str  # "match" | "altered" | "unregistered"
    matches: tuple[RecordMatch, ...]


@dataclass(frozen=True)
class _Line:
    slope: float
    offset: float

    def at(self, t):
        return self.slope * t + self.offset

    def same(self, other: "_Line", t0: float, t1: float, tol: float) -> bool:
        return abs(self.at(t0) - other.at(t0)) <= tol and abs(self.at(t1) - other.at(t1)) <= tol


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


class _Query:
    def __init__(self, fp: Fingerprint):
        self.fp = fp
        self.t = np.asarray(fp.times_ms, np.int64)
        self.variants, quals = fp.variant_arrays()
        self.quals = [x.astype(np.int16) for x in quals]
        n = len(self.t)
        self.period = _period(self.t)
        # windows of WINDOW_MS of query time (5 samples on the record grid; more when the query
        # was analysed densely)
        wid = (self.t - self.t[0]) // WINDOW_MS if n else self.t
        bounds = [0] + [int(i) for i in np.nonzero(np.diff(wid))[0] + 1] + [n]
        if len(bounds) > 2 and (self.t[-1] + self.period - self.t[bounds[-2]]) < 0.6 * WINDOW_MS:
            bounds.pop(-2)  # a short tail joins the previous window
        self.windows = [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]
        self._thumbs: dict[int, np.ndarray | None] = {}

    def span(self, a: int, b: int) -> tuple[int, int]:
        """Query ms range covered by samples [a, b)."""
        return int(self.t[a]), int(self.t[b - 1] + self.period)

    def thumbs(self, v: int) -> np.ndarray | None:
        """(n, 16, 16) thumbnail levels of every sample in variant v's geometry, if known."""
        if v not in self._thumbs:
            fp = self.fp
            if v == 0:
                ok = fp.thumb_step == 1 and len(fp.thumbs) == len(self.t)
                self._thumbs[v] = fp.thumb_array() if ok else None
            else:
                var = fp.variants[v - 1]
                self._thumbs[v] = unpack_thumbs(var.thumbs) if var.thumbs else None
        return self._thumbs[v]

    def geometry(self, v: int):
        if v == 0:
            return FULL, False, 1.0
        var = self.fp.variants[v - 1]
        return var.rect, var.mirror, var.crop


class _Rec:
    def __init__(self, rid: str, fp: Fingerprint, q: _Query):
        self.rid = rid
        self.fp = fp
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
        r = fp.dct_array()
        # distance between consecutive record samples: between two samples that differ this
        # much (a cut, a flash), the record does not say what was shown
        self.jump = np.bitwise_count(r[1:] ^ r[:-1]).sum(-1) if len(r) > 1 else np.zeros(0, np.int64)
        if len(self.jump) and (self.jump > VOTE_DIST).mean() > 0.25:
            self.jump = np.zeros_like(self.jump)  # cuts are exceptions, not the rule (no excuses)

    def lines(self, q: _Query) -> list[_Line]:
        ii, jj = np.nonzero(((self.D <= VOTE_DIST) & (self.status == 0)).any(axis=0))
        if len(ii) == 0:
            return []
        tq, tr = q.t[ii].astype(np.float64), self.t[jj].astype(np.float64)
        found: dict[tuple[float, int], int] = {}
        for s in SLOPES:
            b = np.rint((tr - s * tq) / OFFSET_BIN_MS).astype(np.int64)
            u, c = np.unique(b, return_counts=True)
            for k in np.argsort(-c, kind="stable")[:4]:
                found[(s, int(u[k]))] = int(c[k])
        best = sorted(found.items(), key=lambda kv: (-kv[1], abs(kv[0][0] - 1.0), kv[0][1]))[:TOP_LINES]
        # exact slope-1 offsets first (ties between lines go to the earlier one), overall and per
        # window (splices, insertions, static content); then the voted lines of any slope
        offs = tr - tq
        u, c = np.unique(offs, return_counts=True)
        exact = {float(x) for x in u[np.argsort(-c, kind="stable")][:TOP_LINES]}
        for a, b in q.windows:
            sel = (ii >= a) & (ii < b)
            if sel.any():
                u, c = np.unique(offs[sel], return_counts=True)
                exact.update(float(x) for x in u[np.argsort(-c, kind="stable")][:3])
        return [_Line(1.0, o) for o in sorted(exact)] + [_Line(s, b * OFFSET_BIN_MS) for (s, b), _ in best]

    def aligned(self, q: _Query, line: _Line) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per variant and query sample: (V, n) distances along the line, a (V, n) status
        (0 usable, 1 neutral, 2 mismatch) and a (V, n) mask of the samples made neutral by falling
        between two very different record samples (excused).  Record samples within one period of the line's record
        time count; a query sample outside the record is a mismatch."""
        n = len(q.t)
        V = self.D.shape[0]
        x = line.at(q.t.astype(np.float64))
        hi = np.searchsorted(self.t, x, "left")
        best = np.full((V, n), np.inf)
        # a dense query has a sample within half its period of every record sample: only those
        # are compared, the others (between record samples) are ignored (status 3); a query on
        # the record grid
        # compares every sample with the record samples within one record period
        tol = self.period - 1 if q.period >= self.period else q.period / 2 + 1
        inside = (x >= self.t[0] - tol) & (x < self.t[-1] + max(tol, self.period))  # the last sample shows until the end
        status = np.where(inside, 3, 2).astype(np.int8)[None, :].repeat(V, 0)
        for j in (hi - 1, hi):
            ok = (j >= 0) & (j < len(self.t))
            jc = np.clip(j, 0, len(self.t) - 1)
            ok &= np.abs(self.t[jc] - x) <= tol
            if not ok.any():
                continue
            idx = np.nonzero(ok)[0]
            st = self.status[:, idx, jc[idx]]
            d = self.D[:, idx, jc[idx]].astype(np.float64)
            d[st != 0] = np.inf
            best[:, idx] = np.minimum(best[:, idx], d)
            cur = status[:, idx]
            status[:, idx] = np.where(cur == 3, st, np.minimum(cur, st))
        # a sample that falls between two very different record samples (played at another
        # speed across a cut) and is far from both is neutral, not a mismatch
        between = (hi > 0) & (hi < len(self.t))
        hc = np.clip(hi, 1, max(1, len(self.t) - 1))
        between &= (np.abs(self.t[hc - 1] - x) > GRID_SLACK_MS) & (np.abs(self.t[np.minimum(hc, len(self.t) - 1)] - x) > GRID_SLACK_MS)
        if len(self.jump):
            between &= self.jump[np.minimum(hc - 1, len(self.jump) - 1)] > VOTE_DIST
        cut = between[None, :] & (status == 0) & (best > VOTE_DIST)
        status[cut] = 1
        best[status == 2] = _FAR
        return best, status, cut


def _plain_speed(q: _Query, rec: _Rec, v: int, line: _Line, a: int, b: int) -> _Line:
    """The line to report for query samples [a, b): `line`, or the slope-1 line through the
    close sample pairs along it when nearly all of them say the copy plays at the record's speed
    (a window straddling a cut can tilt the best line by a few per cent)."""
    if abs(line.slope - 1.0) > 0.06:
        return line
    t = q.t[a:b].astype(np.float64)
    x = line.at(t)
    j = np.clip(np.rint((x - rec.t[0]) / rec.period).astype(np.int64), 0, len(rec.t) - 1)
    i = np.arange(a, b)
    close = (np.abs(rec.t[j] - x) <= rec.period / 2) & (rec.D[v, i, j] <= VOTE_DIST) & (rec.status[v, i, j] == 0)
    if close.sum() < MIN_EVIDENCE_SAMPLES:
        return line
    offs = rec.t[j[close]] - t[close]
    med = float(np.median(offs))
    if (np.abs(offs - med) <= GRID_SLACK_MS).mean() >= 0.9:
        return _Line(1.0, med)
    return line


def _window_scores(dist: np.ndarray, status: np.ndarray, excused: np.ndarray, windows) -> tuple[list[float | None], int]:
    """Scores per window under one alignment and the variant chosen for it: the variant with the
    lowest mean distance over its usable pairs; a window with too few usable pairs, or with
    more than 40% of its samples excused, is None."""
    use = (status == 0) | (status == 2)  # (V, n): compared (ignored: 1 neutral, 3 off the grid)
    cnt = use.sum(axis=1)
    tot = np.where(use, dist, 0.0).sum(axis=1)
    mean = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.inf)
    v = int(np.argmin(mean))
    d, u, e = dist[v], use[v], excused[v]
    out: list[float | None] = []
    on = status[v] != 3
    for a, b in windows:
        m = int(on[a:b].sum())  # samples facing a record sample
        need = max(1, int(np.ceil(0.4 * m)))
        k = int(u[a:b].sum())
        ok = m > 0 and k >= need and e[a:b].sum() <= 0.4 * m
        out.append(float(d[a:b][u[a:b]].mean()) if ok else None)
    return out, v


# ------------------------------------------------------------------------------------- regions


def _grade_curve(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Monotone map of record levels to query levels (16 entries) from paired cells: the median
    query level per record level, empty levels interpolated (a grade, gamma or greyscale)."""
    qf, rf = q.ravel().astype(np.int64), r.ravel().astype(np.int64)
    lut = np.full(16, np.nan)
    for lv in range(16):
        sel = rf == lv
        if sel.sum() >= 4:
            lut[lv] = np.median(qf[sel])
    known = np.nonzero(~np.isnan(lut))[0]
    if len(known) < 2:
        return np.arange(16, dtype=np.float64)
    lut = np.interp(np.arange(16), known, lut[known])
    return np.maximum.accumulate(lut)


def _residuals(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """|q - r| per cell of each (16, 16) pair; where a fifth of the frame or more differs, against
    a per-pair fit a * r + b instead.  Each thumbnail is stretched between its own darkest and
    brightest cells, so a swap or an overlay that brings a new extreme rescales every level of
    its frame; a face-sized edit alone cannot move a fifth of the cells.  The fit: least
    squares on the cells within 1.5 levels of the median offset, then of the first fit."""
    n = len(q)
    x, y = r.reshape(n, -1), q.reshape(n, -1)
    plain = np.abs(y - x)
    res = np.abs(y - x - np.median(y - x, axis=1, keepdims=True))
    for _ in range(2):
        w = (res <= 1.5).astype(np.float64)
        sw = np.maximum(w.sum(1, keepdims=True), 1)
        mx, my = (w * x).sum(1, keepdims=True) / sw, (w * y).sum(1, keepdims=True) / sw
        var = (w * (x - mx) ** 2).sum(1, keepdims=True)
        a = np.where(var > 1e-6, (w * (x - mx) * (y - my)).sum(1, keepdims=True) / np.maximum(var, 1e-6), 1.0)
        a = a.clip(0.5, 2.0)
        res = np.abs(y - (a * x + my - a * mx))
    wide = (plain >= REGION_LEVEL).mean(1) >= 0.2
    return np.where(wide[:, None], res, plain).reshape(q.shape)


def _components(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected components of a 2-D bool mask, as index arrays (rows, cols)."""
    seen = np.zeros_like(mask, bool)
    out = []
    h, w = mask.shape
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        stack, cells = [(y0, x0)], []
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            cells.append((y, x))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        out.append(np.array(cells))
    return out


def _cells_to_rect(cells: np.ndarray, geom) -> tuple[float, float, float, float]:
    (x, y, w, h), mirror, crop = geom
    cx, cy = x + w / 2, y + h / 2
    w, h = w / crop, h / crop
    x, y = cx - w / 2, cy - h / 2
    r0, r1 = cells[:, 0].min(), cells[:, 0].max() + 1
    c0, c1 = cells[:, 1].min(), cells[:, 1].max() + 1
    if mirror:
        c0, c1 = THUMB_SIDE - c1, THUMB_SIDE - c0
    x0 = min(1.0, max(0.0, x + w * c0 / THUMB_SIDE))
    x1 = min(1.0, max(0.0, x + w * c1 / THUMB_SIDE))
    y0 = min(1.0, max(0.0, y + h * r0 / THUMB_SIDE))
    y1 = min(1.0, max(0.0, y + h * r1 / THUMB_SIDE))
    return (round(float(x0), 4), round(float(y0), 4), round(float(x1 - x0), 4), round(float(y1 - y0), 4))


def region_edits(q: _Query, rec: _Rec, v: int, line: _Line, samples: np.ndarray) -> list[AlteredSegment]:
    """Replaced regions within the query samples `samples` explained by `rec` along `line` in
    variant v's geometry (see the module doc, step 5)."""
    qth = q.thumbs(v)
    rfp = rec.fp
    if qth is None or not rfp.thumbs or len(samples) < 2:
        return []
    rth = rfp.thumb_array()
    rtt = rec.t[:: rfp.thumb_step][: len(rth)].astype(np.float64)
    # pairs: each record thumbnail with the query sample showing the same frame -- of those
    # within 1.5 query periods of the line (fitted to 40 ms or so), the one whose hash is
    # nearest the record sample's.  No motion between the two, so a few levels of difference
    # are an edit, not hand-held shake.
    x = line.at(q.t[samples].astype(np.float64))
    near = np.abs(x[None, :] - rtt[:, None]) <= line.slope * q.period * 1.5 + 1  # (thumbs, samples)
    d = np.where(near, rec.D[v][samples][:, np.arange(len(rtt)) * rfp.thumb_step].T, np.iinfo(np.uint16).max)
    k = np.argmin(d, axis=1)
    ok = near[np.arange(len(rtt)), k]
    qi, rj = samples[k[ok]], np.nonzero(ok)[0]
    if len(rj) < 2:
        return []
    levels = rth[rj].astype(np.int64)
    rv = _grade_curve(qth[qi], levels)[levels]
    res = _residuals(qth[qi].astype(np.float64), rv)
    other_speed = abs(line.slope - 1.0) > 1e-3
    if other_speed:
        # at another speed the copy may not have the record's frame, only the two around it
        # (a fast hand between them): differ from the range the copy shows there
        around = qth[np.clip(qi[:, None] + np.arange(-1, 2)[None, :], 0, len(qth) - 1)].astype(np.float64)
        res = np.minimum(res, np.maximum(0.0, np.maximum(around.min(1) - rv, rv - around.max(1))))
    # a cell differs when it is REGION_LEVEL levels off, and that much more than it usually is
    # in this copy (a 128 px copy blurs high-contrast cells all along; the lower quartile: an
    # edit may cover most of a short clip).  One level more where the picture's rectangle or
    # timing was estimated (a canvas, a window, a crop: +-1 pixel moves a high-contrast cell by
    # a level; a speed change: the record's frame may fall between two of the copy's)
    rect, _, crop = q.geometry(v)
    level = REGION_LEVEL + (rect != FULL or crop != 1.0 or other_speed)
    base = np.percentile(res, 25, axis=0)
    diff = (res >= level) & (res - base >= level)
    spacing = float(np.median(np.diff(rtt))) if len(rtt) > 1 else rec.period
    need = 2 if spacing < REGION_RUN_MS else 1  # a 1 s edit spans two thumbnails 0.4 s apart
    nxt = np.diff(rj) == 1  # consecutive record thumbnails both paired
    out = []
    i = 0
    while i + need <= len(rj):
        if need == 2 and not nxt[i]:
            i += 1
            continue
        pers = diff[i] & diff[i + need - 1]
        # and the group differs clearly on average (a brightened copy clips its highlights: a
        # cell or two along the clipped edge sits just at the threshold)
        comps = [c for c in _components(pers) if len(c) >= REGION_CELLS
                 and (res[i][c[:, 0], c[:, 1]].mean() + res[i + need - 1][c[:, 0], c[:, 1]].mean()) / 2 >= level + 0.5]
        if not comps:
            i += 1
            continue
        cells = max(comps, key=len)
        mask = np.zeros_like(pers)
        mask[cells[:, 0], cells[:, 1]] = True
        keep_on = max(REGION_CELLS - 1, len(cells) // 2)
        end = i + need - 1
        while end + 1 < len(rj) and nxt[end] and (diff[end + 1] & mask).sum() >= keep_on:
            end += 1
        start = i
        while start > 0 and nxt[start - 1] and (diff[start - 1] & mask).sum() >= keep_on:
            start -= 1
        grow, union = _dilate(mask), mask.copy()
        for s in range(start, end + 1):
            union |= diff[s] & grow
        rect = _cells_to_rect(max(_components(union), key=len), q.geometry(v))
        if rect[2] * rect[3] >= REGION_MIN_AREA:
            # the edit may begin and end anywhere between two thumbnails
            qs = max(int(q.t[0]), int(q.t[qi[start]] - spacing / 2 / line.slope))
            qe = min(int(q.t[-1] + q.period), int(q.t[qi[end]] + spacing / 2 / line.slope))
            out.append(AlteredSegment(qs, qe, rect))
        i = end + 1
    return out


def _dilate(m: np.ndarray) -> np.ndarray:
    p = np.pad(m, 1)
    return p[1:-1, 1:-1] | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]


# --------------------------------------------------------------------------------------- match


def evidence_shortfall(query: Fingerprint) -> str | None:
    """Why `query` is too little video to judge perceptually, or None when it is enough."""
    t = np.asarray(query.times_ms, np.int64)
    n = len(np.unique((t - t[0]) // SAMPLE_PERIOD_MS)) if len(t) else 0  # dense analyses: per 200 ms
    if n >= MIN_EVIDENCE_SAMPLES:
        return None
    return (f"too little video to compare: {n} sample(s) on the 200 ms grid, at least "
            f"{MIN_EVIDENCE_SAMPLES} (1 s of video) are needed")


def match(query: Fingerprint, candidates: Mapping[str, Fingerprint]) -> MatchResult:
    if evidence_shortfall(query):
        return MatchResult("unregistered", ())
    q = _Query(query)
    nw = len(q.windows)
    t0, t1 = float(q.t[0]), float(q.t[-1])
    hyp: dict[tuple[str, int], tuple[_Line, list, int]] = {}  # (rid, k) -> (line, scores, variant)
    recs: dict[str, _Rec] = {}
    best_of: dict[str, tuple[str, int]] = {}
    for rid, fp in candidates.items():
        if len(fp.times_ms) == 0:
            continue
        rec = recs[rid] = _Rec(rid, fp, q)
        top = None
        lines = rec.lines(q)
        k = 0
        tried: list = []  # (key, mean score of the explained windows, hypothesis)
        for rnd in range(2):
            for line in lines:
                dist, status, excused = rec.aligned(q, line)
                scores, v = _window_scores(dist, status, excused, q.windows)
                hyp[(rid, k)] = (line, scores, v)
                good = [s for s in scores if s is not None and s <= WINDOW_DIST]
                inliers = int(((dist[v] <= VOTE_DIST) & (status[v] == 0)).sum())
                # ties: fewer samples excused, slope 1, more close samples, on the sample grid, lower score
                g = line.offset + q.t[0] - rec.t[0]  # 0 when the query's samples land on the record's
                off_grid = abs((g + rec.period / 2) % rec.period - rec.period / 2)
                key = (-len(good), int(excused[v].sum()), abs(line.slope - 1.0) > 1e-3, -inliers, off_grid,
                       round(float(np.mean(good)) / 4) if good else 1e9)
                if top is None or key < top[0]:
                    top = (key, (rid, k))
                if good:
                    tried.append((key, float(np.mean(good)), (rid, k)))
                k += 1
            if rnd == 0 and top is not None and tried:
                # static content fits lines of any slope about equally, and the ties go to slope
                # 1; a line of another speed that fits clearly better (a hand moving through the
                # scene) is the copy's speed
                chosen = hyp[top[1]][0]
                mean = next(m for kk, m, i in tried if i == top[1]) if top[0][0] < 0 else 1e9
                other = [(kk, m, i) for kk, m, i in tried if kk[:2] == top[0][:2] and m <= mean - SPEED_EVIDENCE
                         and abs(hyp[i][0].slope / chosen.slope - 1) > 0.05]
                if other:
                    kk, _, i = min(other)
                    top = (kk, i)
            if top is None or top[0][0] == 0:
                break
            # refine the best line: the vote grid is coarse (2% slope, 40 ms offset steps)
            b = hyp[top[1]][0]
            lines = [] if rnd else [_Line(round(b.slope * (1 + ds), 5), b.offset + do - ds * b.slope * t0)
                                    for ds in (-0.01, -0.005, 0.0, 0.005, 0.01) for do in (-60, -20, 20, 60)]
        if top is not None and top[0][0] < 0:
            best_of[rid] = top[1]
    if not hyp:
        return MatchResult("unregistered", ())

    # each record on its own: its best line explains the windows where it is acceptable; its
    # other lines only the windows the best line cannot (a splice or re-ordering of the record)
    own: dict[str, tuple[list, list[bool]]] = {}
    for rid, main in best_of.items():
        keys = [k for k in hyp if k[0] == rid]
        # a window is neutral for the record when its best line finds too few usable samples
        # there (fades, near-uniform frames on both sides)
        neutral = [hyp[main][1][w] is None for w in range(nw)]
        decidable = sum(1 for w in range(nw) if not neutral[w])
        asg: list[tuple[tuple[str, int], float] | None] = [None] * nw
        for w in range(nw):
            if neutral[w]:
                continue
            s = hyp[main][1][w]
            if s <= WINDOW_DIST:
                asg[w] = (main, s)
                continue
            alt = [(hyp[k][1][w], k) for k in keys if hyp[k][1][w] is not None and hyp[k][1][w] <= WINDOW_DIST]
            if alt:
                s, k = min(alt)
                asg[w] = (k, s)
        for w in range(nw):  # a neutral window between two windows on the same line joins them
            if neutral[w]:
                left = next((asg[k] for k in range(w - 1, -1, -1) if not neutral[k]), None)
                right = next((asg[k] for k in range(w + 1, nw) if not neutral[k]), None)
                if left is not None and right is not None and left[0] == right[0]:
                    asg[w] = (left[0], None)
        if sum(1 for w in range(nw) if asg[w] is not None and not neutral[w]) >= max(1, min(MIN_WINDOWS, decidable)):
            own[rid] = (asg, neutral)
    if not own:
        return MatchResult("unregistered", ())

    matches = []
    faithful = False
    for rid, (asg, neutral) in sorted(own.items()):
        decidable = sum(1 for w in range(nw) if not neutral[w]) or nw
        segs: list[list] = []  # [w_start, w_end, line, hypothesis]
        sim = 0.0
        for w, a in enumerate(asg):
            if a is None:
                continue
            line = hyp[a[0]][0]
            if not neutral[w]:
                sim += 1.0 - min(a[1], 128.0) / 128.0
            if segs and segs[-1][1] == w and segs[-1][2].same(line, *q.span(*q.windows[w]), LINE_TOL_MS):
                segs[-1][1] = w + 1
            else:
                segs.append([w, w + 1, line, a[0]])
        rec_end = int(recs[rid].t[-1] + recs[rid].period)
        segments = []
        for ws, we, line, h in segs:
            qs, qe = q.span(q.windows[ws][0], q.windows[we - 1][1])
            line = _plain_speed(q, recs[rid], hyp[h][2], line, q.windows[ws][0], q.windows[we - 1][1])
            rs, re_ = line.at(qs), line.at(qe)
            segments.append(Segment(qs, qe, int(round(min(rec_end, max(0, rs)))),
                                    int(round(min(rec_end, max(0, re_))))))
        unexplained: list[AlteredSegment] = []
        for w, a in enumerate(asg):
            if a is None and not neutral[w]:
                s, e = q.span(*q.windows[w])
                if unexplained and unexplained[-1].query_end_ms == s:
                    unexplained[-1] = AlteredSegment(unexplained[-1].query_start_ms, e)
                else:
                    unexplained.append(AlteredSegment(s, e))
        # replaced regions inside the windows the record's best line explains, and in the
        # unexplained windows between them: a face-sized swap over fast motion can fail a
        # window's global hash, and is then shown by its region, not as a whole-picture edit
        line, _, v = hyp[best_of[rid]]
        _, st_main, _ = recs[rid].aligned(q, line)
        on_main = [w for w, a in enumerate(asg) if a is not None and a[0] == best_of[rid]]
        gaps = [w for w in range(on_main[0], on_main[-1]) if asg[w] is None and not neutral[w]] if on_main else []
        samples = np.array([i for w in sorted(on_main + gaps) for i in range(*q.windows[w])
                            if st_main[v, i] != 3], np.int64)
        regs = []
        for r in region_edits(q, recs[rid], v, line, samples):
            hides = [u for u in unexplained if u.query_start_ms < r.query_end_ms and r.query_start_ms < u.query_end_ms]
            if hides and r.region[2] * r.region[3] > REGION_MAX_AREA:
                continue  # most of the picture differs there: a whole-picture edit, not a region
            unexplained = [u for u in unexplained if u not in hides]
            regs.append(r)
        altered = sorted(unexplained + regs, key=lambda s: (s.query_start_ms, s.query_end_ms))
        faithful |= len(segs) == 1 and not altered
        matches.append(RecordMatch(rid, round(min(1.0, sim / decidable), 4), tuple(segments), tuple(altered)))
    matches.sort(key=lambda m: (-m.similarity, m.record_id))
    return MatchResult("match" if faithful else "altered", tuple(matches))
