"""In-memory perceptual index: which registered records have sample hashes near a query's.

Multi-index hashing over 16-bit substrings, numpy only (no faiss):

* Each record contributes about one code per second (every INDEX_EVERY-th sample, skipping samples
  whose hash is unreliable: texture < match.WEAK_Q) -- 8 codes for an 8 s clip.
* Every 256-bit code is cut into 16 substrings of 16 bits; for each substring position there is a
  table sorted by substring value.  A code within Hamming distance 15 of a query code shares at
  least one substring exactly with it (pigeonhole); same-content samples are mostly within that
  (median 2..20 bits measured), and a clip has many samples, so a registered clip gets many hits.
* Candidate records (most substring hits) are then checked exactly: votes = number of query
  samples (any crop variant) with an indexed code of the record within match.VOTE_DIST bits.
* Tables are log-structured: new codes go to a small buffer scanned by brute force; full buffers
  become sorted segments, and segments of similar size are merged (amortised O(n log n) adds).

Memory: 32 bytes per code + 16 x 8 bytes of tables + 4 = ~165 bytes per indexed code (~1.3 GB for
10^6 clips of 8 s), plus 8 MB of bucket offsets per large segment.  Not thread-safe: callers serialise add() and query().
"""
from __future__ import annotations

import numpy as np

from .fingerprint import Fingerprint
from .match import VOTE_DIST, WEAK_Q

INDEX_EVERY = 5  # index one sample in five (one per second at 5 samples/s)
MAX_QUERY_SAMPLES = 256
_NSUB = 16
_BUF = 512
_PRESELECT = 64  # records checked exactly per query


_BIG = 1 << 16  # segments with at least this many codes get a direct bucket-offset table


class _Segment:
    """Codes [a, b) sorted per substring position.  `comb` holds table*65536 + substring value
    for all 16 tables back to back (so one searchsorted serves all tables); `ids` the matching
    local code ids; large segments also keep `offs`, the start of every (table, value) bucket."""

    __slots__ = ("a", "b", "comb", "ids", "offs")

    def __init__(self, codes16: np.ndarray, a: int, b: int):
        self.a, self.b = a, b
        sub = codes16[a:b]  # (n, 16) uint16
        n = b - a
        comb = np.empty(_NSUB * n, np.int32)
        ids = np.empty(_NSUB * n, np.int32)
        for t in range(_NSUB):
            col = sub[:, t]
            order = np.argsort(col, kind="stable")  # radix sort for 16-bit keys
            ids[t * n : (t + 1) * n] = order
            comb[t * n : (t + 1) * n] = col[order].astype(np.int32) + (t << 16)
        self.comb, self.ids = comb, ids
        self.offs = None
        if n >= _BIG:
            offs = np.zeros(_NSUB * 65536 + 1, np.int64)
            np.cumsum(np.bincount(comb, minlength=_NSUB * 65536), out=offs[1:])
            self.offs = offs

    @property
    def size(self) -> int:
        return self.b - self.a

    def nbytes(self) -> int:
        return self.comb.nbytes + self.ids.nbytes + (self.offs.nbytes if self.offs is not None else 0)

    def lookup(self, qv: np.ndarray) -> np.ndarray:
        """Global code ids whose substring equals a query substring (qv = table*65536 + value)."""
        if self.offs is not None:
            lo, hi = self.offs[qv], self.offs[qv + 1]
        else:
            lo = np.searchsorted(self.comb, qv, "left")
            hi = np.searchsorted(self.comb, qv, "right")
        cnt = hi - lo
        tot = int(cnt.sum())
        if tot == 0:
            return np.empty(0, np.int64)
        pos = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(tot)
        return self.ids[pos].astype(np.int64) + self.a


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
        codes16 = self._codes.view(np.uint16)
        self._segs.append(_Segment(codes16, self._indexed, upto))
        self._indexed = upto
        while len(self._segs) >= 2 and self._segs[-2].size <= 2 * self._segs[-1].size:
            b = self._segs.pop()
            a = self._segs.pop()
            self._segs.append(_Segment(codes16, a.a, b.b))

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
        q16 = qc.view(np.uint16).astype(np.int32)  # (k, 16)
        qv = (q16 + (np.arange(_NSUB, dtype=np.int32) << 16)[None, :]).ravel()
        hits = [self._rec[s.lookup(qv)] for s in self._segs]
        nrec = len(self._keys)
        if hits:
            counts = np.bincount(np.concatenate(hits), minlength=nrec)
            m = min(_PRESELECT, int((counts > 0).sum()))
            top = np.argpartition(-counts, m - 1)[:m] if m else np.empty(0, np.int64)
        else:
            top = np.empty(0, np.int64)
        # the buffer: brute force
        if self._indexed < self._n:
            buf = self._codes[self._indexed : self._n]
            d = np.bitwise_count(qc[:, None, :] ^ buf[None, :, :]).sum(-1)
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
        d = np.bitwise_count(qc[:, None, :] ^ self._codes[cols][None, :, :]).sum(-1, dtype=np.uint16)
        rows, cc = np.nonzero(d <= VOTE_DIST)
        hitmat = np.zeros((len(fp.times_ms), len(top)), bool)
        hitmat[owner[rows], local[cc]] = True
        votes = hitmat.sum(axis=0)
        out = [(self._keys[int(r)], int(v)) for r, v in zip(top, votes) if v > 0]
        out.sort(key=lambda kv: (-kv[1], kv[0]))
        return out[:max_candidates]
