"""In-memory perceptual index: which registered records have sample hashes near a query's.

Multi-index hashing over 32-bit substrings, numpy only (no faiss):

* Each record contributes about one code per second (every INDEX_EVERY-th sample, skipping samples
  whose hash is unreliable: texture < match.WEAK_Q) -- 8 codes for an 8 s clip.
* Every 256-bit code is cut into 8 substrings of 32 bits; for each substring position there is a
  table sorted by substring value.  A code within Hamming distance 7 of a query code shares at
  least one substring exactly with it (pigeonhole), and at 20 bits still ~40% of the time;
  same-content samples are mostly that close (median 0..20 bits measured) and a query has 40
  samples x 4 crop variants per 8 s, so a registered clip gets several hits while random codes
  almost never collide on 32 bits (16-bit substrings were tried: 300k random hits per query at
  10^6 clips, 86 ms).
* Candidate records (most substring hits) are then checked exactly: votes = number of query
  samples (any crop variant) with an indexed code of the record within match.VOTE_DIST bits.
* Tables are log-structured: new codes go to a small buffer scanned by brute force; full buffers
  become sorted segments, and segments of similar size are merged (amortised O(n log n) adds).

Memory: 32 bytes per code + 8 x 8 bytes of tables + 4 = 100 bytes per indexed code (~0.8 GB for
10^6 clips of 8 s).  Not thread-safe: callers serialise add() and query().
"""
from __future__ import annotations

import numpy as np

from .fingerprint import Fingerprint
from .match import VOTE_DIST, WEAK_Q

INDEX_EVERY = 5  # index one sample in five (one per second at 5 samples/s)
MAX_QUERY_SAMPLES = 64  # spread over the clip; every geometry of each
_NSUB = 8  # 32-bit substrings
_BUF = 512
_PRESELECT = 64  # records checked exactly per query
MAX_BUCKET = 256  # a substring shared by more codes of a segment is a stop-word (dark/flat frames)
MIN_VOTES = 2  # a candidate needs this many query samples near its codes (1 for a query this short)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances (len(a), len(b)) between 256-bit codes (k, 4) uint64, saturated at 255.

    Word by word into one uint8 matrix: 4-5x faster than popcounting the (len(a), len(b), 4) XOR
    and summing its short last axis (measured: 10 ms -> 2 ms for 700 x 512 codes)."""
    at, bt = np.ascontiguousarray(a.T), np.ascontiguousarray(b.T)
    d = np.bitwise_count(at[0][:, None] ^ bt[0][None, :])
    for k in range(1, 4):
        if k == 3:
            np.minimum(d, 255 - 64, out=d)  # the last word adds at most 64: no uint8 wrap-around
        d += np.bitwise_count(at[k][:, None] ^ bt[k][None, :])
    return d


class _Segment:
    """Codes [a, b) sorted per substring position: keys[t] (uint32, sorted) and ids[t] (local
    code ids in the same order) for each of the _NSUB tables."""

    __slots__ = ("a", "b", "keys", "ids")

    def __init__(self, codes32: np.ndarray, a: int, b: int):
        self.a, self.b = a, b
        sub = codes32[a:b]  # (n, _NSUB) uint32
        self.keys, self.ids = [], []
        for t in range(_NSUB):
            col = sub[:, t]
            order = np.argsort(col).astype(np.int32)
            self.ids.append(order)
            self.keys.append(col[order])

    @property
    def size(self) -> int:
        return self.b - self.a

    def nbytes(self) -> int:
        return sum(k.nbytes + i.nbytes for k, i in zip(self.keys, self.ids))

    def lookup(self, q32: np.ndarray) -> np.ndarray:
        """Global code ids sharing a substring with a query code; q32 (k, _NSUB) with each
        column sorted."""
        out = []
        for t in range(_NSUB):
            keys = self.keys[t]
            qs = q32[:, t]
            lo = np.searchsorted(keys, qs, "left")
            hi = np.searchsorted(keys, qs, "right")
            cnt = hi - lo
            cnt[cnt > MAX_BUCKET] = 0  # too common to tell clips apart; other substrings still hit
            tot = int(cnt.sum())
            if tot:
                pos = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(tot)
                out.append(self.ids[t][pos])
        if not out:
            return np.empty(0, np.int64)
        return np.concatenate(out).astype(np.int64) + self.a


class PerceptualIndex:
    def __init__(self) -> None:
        self._codes = np.empty((1024, 4), np.uint64)
        self._rec = np.empty(1024, np.int32)  # code -> internal record index
        self._n = 0
        self._keys: list[int] = []  # internal record index -> record_key
        self._start: list[int] = []  # internal record index -> first code
        self._count: list[int] = []
        self._segs: list[_Segment] = []
        self._indexed = 0  # codes [0, _indexed) are in segments; the rest is the buffer

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def n_codes(self) -> int:
        return self._n

    def nbytes(self) -> int:
        seg = sum(s.nbytes() for s in self._segs)
        return self._codes[: self._n].nbytes + self._rec[: self._n].nbytes + seg + 24 * len(self._keys)

    # ------------------------------------------------------------------------------------- add
    @staticmethod
    def record_codes(fp: Fingerprint) -> np.ndarray:
        """The codes a record contributes: every INDEX_EVERY-th reliable sample."""
        codes = fp.dct_array()
        q = fp.stats_array()[:, 1]
        idx = np.nonzero(q >= WEAK_Q)[0]
        if len(idx) == 0:
            return codes[:0]
        # keep samples at least INDEX_EVERY apart, starting from the first reliable one
        keep = [idx[0]]
        for i in idx[1:]:
            if i - keep[-1] >= INDEX_EVERY:
                keep.append(i)
        return codes[np.array(keep)]

    def add(self, record_key: int, fp: Fingerprint) -> None:
        self.add_codes(record_key, self.record_codes(fp))

    def add_codes(self, record_key: int, codes: np.ndarray) -> None:
        """Add a record by its (k, 4) uint64 codes (benches use this to skip fingerprinting)."""
        codes = np.asarray(codes, np.uint64).reshape(-1, 4)
        k = len(codes)
        ridx = len(self._keys)
        self._keys.append(int(record_key))
        self._start.append(self._n)
        self._count.append(k)
        if k == 0:
            return
        need = self._n + k
        if need > len(self._codes):
            cap = max(need, 2 * len(self._codes))
            nc = np.empty((cap, 4), np.uint64)
            nc[: self._n] = self._codes[: self._n]
            nr = np.empty(cap, np.int32)
            nr[: self._n] = self._rec[: self._n]
            self._codes, self._rec = nc, nr
        self._codes[self._n : need] = codes
        self._rec[self._n : need] = ridx
        self._n = need
        while self._n - self._indexed >= _BUF:
            self._flush(self._indexed + _BUF)

    def _flush(self, upto: int) -> None:
        codes32 = self._codes.view(np.uint32)
        self._segs.append(_Segment(codes32, self._indexed, upto))
        self._indexed = upto
        while len(self._segs) >= 2 and self._segs[-2].size <= 2 * self._segs[-1].size:
            b = self._segs.pop()
            a = self._segs.pop()
            self._segs.append(_Segment(codes32, a.a, b.b))

    def add_many(self, record_keys, codes: np.ndarray) -> None:
        """Bulk add: record_keys[i] gets codes[i] ((n, k, 4) uint64); one sort at the end."""
        codes = np.asarray(codes, np.uint64)
        n, k = codes.shape[:2]
        base = len(self._keys)
        need = self._n + n * k
        if need > len(self._codes):
            nc = np.empty((need, 4), np.uint64)
            nc[: self._n] = self._codes[: self._n]
            nr = np.empty(need, np.int32)
            nr[: self._n] = self._rec[: self._n]
            self._codes, self._rec = nc, nr
        self._codes[self._n : need] = codes.reshape(-1, 4)
        self._rec[self._n : need] = np.repeat(np.arange(base, base + n, dtype=np.int32), k)
        self._start.extend(range(self._n, need, k))
        self._count.extend([k] * n)
        self._keys.extend(int(x) for x in record_keys)
        self._n = need
        if self._n - self._indexed >= _BUF:
            self._flush(self._n)

    # ----------------------------------------------------------------------------------- query
    @staticmethod
    def query_codes(fp: Fingerprint) -> tuple[np.ndarray, np.ndarray]:
        """(codes (k, 4), sample index of each code): every reliable (sample, crop variant)."""
        hs, qs = fp.variant_arrays()
        n = len(fp.times_ms)
        sel = np.arange(n)
        if n > MAX_QUERY_SAMPLES:
            sel = np.unique(np.linspace(0, n - 1, MAX_QUERY_SAMPLES).round().astype(int))
        codes, owners = [], []
        for h, q in zip(hs, qs):
            ok = sel[q[sel] >= WEAK_Q]
            codes.append(h[ok])
            owners.append(ok)
        return np.concatenate(codes), np.concatenate(owners)

    def query(self, fp: Fingerprint, max_candidates: int = 16) -> list[tuple[int, int]]:
        """Candidate records as [(record_key, votes)], most votes first; votes = number of query
        samples with an indexed code of that record within VOTE_DIST bits."""
        if self._n == 0:
            return []
        qc, owner = self.query_codes(fp)
        if len(qc) == 0:
            return []
        q32 = np.sort(qc.view(np.uint32), axis=0)  # each column sorted: searchsorted runs faster
        hits = [s.lookup(q32) for s in self._segs]
        if hits and sum(len(h) for h in hits):
            recs = self._rec[np.concatenate(hits)]
            u, c = np.unique(recs, return_counts=True)
            top = u[np.argsort(-c, kind="stable")[:_PRESELECT]]
        else:
            top = np.empty(0, np.int64)
        # the buffer: brute force
        if self._indexed < self._n:
            buf = self._codes[self._indexed : self._n]
            d = _distances(qc, buf)
            near = np.nonzero((d <= VOTE_DIST).any(axis=0))[0]
            if len(near):
                top = np.union1d(top, self._rec[self._indexed + near])
        if len(top) == 0:
            return []
        # exact check of the preselected records, all at once
        starts = np.array([self._start[r] for r in top])
        counts_r = np.array([self._count[r] for r in top])
        cols = np.repeat(starts - np.concatenate(([0], np.cumsum(counts_r)[:-1])), counts_r)
        cols = cols + np.arange(int(counts_r.sum()))
        local = np.repeat(np.arange(len(top)), counts_r)
        rows, cc = np.nonzero(_distances(qc, self._codes[cols]) <= VOTE_DIST)
        hitmat = np.zeros((len(fp.times_ms), len(top)), bool)
        hitmat[owner[rows], local[cc]] = True
        votes = hitmat.sum(axis=0)
        need = MIN_VOTES if len(np.unique(owner)) >= 2 * MIN_VOTES else 1
        out = [(self._keys[int(r)], int(v)) for r, v in zip(top, votes) if v >= need]
        out.sort(key=lambda kv: (-kv[1], kv[0]))
        return out[:max_candidates]
