"""Perceptual fingerprint of a video: decode once with PyAV, sample by timestamp, describe each sample.

Algorithm `pcv2` (docs/protocol.md "Fingerprint"; measurements in BENCHMARKS.md):

* Sampling: a record keeps one sample every SAMPLE_PERIOD_MS (200 ms, 5 per second) on a grid
  anchored at the first decoded frame; sample k is the frame *displayed* at time k*200 ms, so a
  frame-rate change or a variable frame rate does not move the grid.  The analysis of a clip
  samples 5x denser (QUERY_PERIOD_MS = 40 ms, clips up to DENSE_MAX_S): a copy that was trimmed,
  sped up or re-timed shows the record's frames between its own grid points, and the matcher
  then compares the query frame nearest to each record sample (hand-held footage changes a lot
  in 100 ms).  `record_form()` keeps the 200 ms grid.
* Per sample, libswscale (area filter, cached context) reduces the frame to a small luma image that
  keeps the frame's aspect ratio (long side REDUCED_LONG = 256 px).  Everything else is numpy on
  those images, through separable area-resampling matrices, so any rectangle of the frame (and its
  mirror image) can be described without touching the decoded frame again.
* A *geometry* is a rectangle of the frame (+ a mirror flag).  For a geometry, a sample gets:
    - a 256-bit DCT hash of the centred 70% of the rectangle (corner logos and captions stay out):
      box-resampled to 64x64, orthonormal 2-D DCT-II, the 256 lowest zig-zag coefficients (DC
      excluded), bit = coefficient > their median; + mean luma + texture (number of coefficients
      farther than 3 luma units from the median: how many bits survive compression noise).
    - a 16x16 thumbnail of the whole rectangle: cell means, stretched between the 2nd lowest and
      2nd highest cell to 4-bit levels.  It localises edits (a replaced face-sized region), and it
      stays informative on calm, low-texture frames where the DCT bits are noise.
* A record stores the full-frame geometry: per sample the 34-byte hash entry, and the thumbnail
  of every THUMB_EVERY-th sample (more apart for very long clips, see thumb_every()).
* A query also describes the other geometries the clip may show the original in
  (`Fingerprint.variants`): its mirror image; centred crops keeping 95/90/85%; and the content
  rectangles found by `content_rects` (the clip on a larger canvas of a plain colour or a blurred
  copy of itself, letterbox/pillarbox bars, a window of a screen recording with or without its
  title bar), each also mirrored.
  The matcher compares every variant against the record's full frame and keeps one per alignment.
* `frames_sha256`: SHA-256 over every decoded frame's luma rows 0, 8, 16, ... (visible width only),
  each frame prefixed by its width, height and the row step; identical for a remux of the same
  bitstream into another container.
"""
from __future__ import annotations

import hashlib
import math
import os
import struct
import threading
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .media import container_name

ALG = "pcv2-dct256-t16-p200"
SAMPLE_PERIOD_MS = 200  # the record grid
QUERY_PERIOD_MS = 40  # analysis samples 5x denser: a copy's frames rarely fall on the record grid
DENSE_MAX_S = 180  # longer clips are analysed on the record grid only (memory, time)
WIRE_MAX_SAMPLES = 256  # what a query sends a node for candidates: at most this many samples
HASH_BITS = 256
DCT_BYTES = HASH_BITS // 8
HASH_BYTES = DCT_BYTES + 2  # + mean luma + texture
VARIANT_ENTRY = DCT_BYTES + 1  # a variant's DCT hash + texture
THUMB_SIDE = 16
THUMB_BYTES = THUMB_SIDE * THUMB_SIDE // 2  # 4-bit levels, two per byte
THUMB_EVERY = 2  # a record keeps the thumbnail of every 2nd sample (2.5/s)...
THUMB_BUDGET = 20_000  # ...or sparser past ~1 min, so that a 900 s record still fits a 200 kB tx
MAX_SAMPLES = 3600 * 1000 // SAMPLE_PERIOD_MS + 1  # one hour; analyze_file's max_duration_s is lower
MAX_TIME_MS = 2**32 - 1
MAX_VARIANTS = 24
_SIDE = 64
_NCOEF = 24  # the 256 zig-zag coefficients reach u + v = 22
STABLE_DELTA = 3.0  # luma units (orthonormal DCT of the 64x64 image)
REDUCED_LONG = 256  # long side of the reduced luma image of each sample
RECORD_FRAC = 0.7  # the hash covers the centred 70% x 70% of its rectangle
QUERY_CROPS = (0.95, 0.90, 0.85)  # query-side variants: the clip may be a centred crop of these
GRID_TOL_MS = 2.0  # container time bases round timestamps (mkv: 1 ms); tolerate that on the grid
FULL = (0.0, 0.0, 1.0, 1.0)


class FingerprintError(Exception):
    """A clear one-line message for the user: not a video, truncated, zero-byte, audio-only,
    too long, missing file."""


@dataclass(frozen=True)
class MediaFacts:
    duration_ms: int
    fps_milli: int
    width: int
    height: int
    codec: str
    container: str


@dataclass(frozen=True)
class Variant:
    """The query described in another geometry: `rect` (x, y, w, h fractions of the query frame)
    is where the original's frame would be, mirrored or not; `crop` < 1 says the clip is assumed
    to be a centred crop keeping that fraction of the original.  hashes: n x VARIANT_ENTRY bytes;
    thumbs: n x THUMB_BYTES (b"" when the variant came over the wire: only hashes travel)."""

    rect: tuple[float, float, float, float]
    mirror: bool
    crop: float
    hashes: bytes
    thumbs: bytes = b""

    def to_obj(self) -> list:
        return [[int(round(v * 10000)) for v in self.rect], int(self.mirror), int(round(self.crop * 10000)),
                self.hashes]


def thumb_every(n_samples: int) -> int:
    """Record thumbnails: every THUMB_EVERY-th sample, sparser when they would pass THUMB_BUDGET."""
    return max(THUMB_EVERY, math.ceil(n_samples * THUMB_BYTES / THUMB_BUDGET))


@dataclass(frozen=True)
class Fingerprint:
    """Sample times, per-sample hash entries (full frame), thumbnails of samples 0, k, 2k, ...
    (k = thumb_step) and, for a query, the variants (see the module doc).

    hashes[i] (HASH_BYTES = 34): DCT hash, mean luma, texture.  thumbs[j]: THUMB_BYTES of sample
    j * thumb_step."""

    alg: str
    times_ms: tuple[int, ...]
    hashes: tuple[bytes, ...]
    thumb_step: int = 0  # 0: no thumbnails (hash-only fingerprints, e.g. made up by tests and benches)
    thumbs: tuple[bytes, ...] = ()
    variants: tuple[Variant, ...] = ()

    def to_obj(self) -> list:
        """Canonical msgpack-friendly form: [alg, [t0, t1, ...], hash entries concatenated,
        thumb_step, thumbnails concatenated] plus, for a query, a sixth element: the variants
        as [[x, y, w, h] in 1/10000, mirror 0|1, crop in 1/10000, hash entries concatenated]."""
        obj = [self.alg, list(self.times_ms), b"".join(self.hashes), self.thumb_step, b"".join(self.thumbs)]
        if self.variants:
            obj.append([v.to_obj() for v in self.variants])
        return obj

    def record_form(self) -> "Fingerprint":
        """What a record stores on chain: the samples on the SAMPLE_PERIOD_MS grid, no variants,
        thumbnails every thumb_every(n)-th sample."""
        if not self.variants and self.thumb_step != 1:
            return self  # already a record (a record never keeps every thumbnail)
        keep = [i for i, t in enumerate(self.times_ms) if t % SAMPLE_PERIOD_MS == 0]
        times = tuple(self.times_ms[i] for i in keep)
        hashes = tuple(self.hashes[i] for i in keep)
        if not self.thumb_step:
            return Fingerprint(self.alg, times, hashes)
        k = thumb_every(len(keep))
        return Fingerprint(self.alg, times, hashes, k, tuple(self.thumbs[i] for i in keep[::k]))

    def wire_form(self) -> "Fingerprint":
        """What a query sends a node for candidates: at most WIRE_MAX_SAMPLES samples spread
        over the clip, their hashes and variant hashes, no thumbnails."""
        n = len(self.times_ms)
        sel = np.unique(np.linspace(0, n - 1, min(n, WIRE_MAX_SAMPLES)).round().astype(int)) if n else []
        vs = []
        for v in self.variants:
            a = np.frombuffer(v.hashes, np.uint8).reshape(n, VARIANT_ENTRY)[sel]
            vs.append(Variant(v.rect, v.mirror, v.crop, a.tobytes()))
        return Fingerprint(self.alg, tuple(self.times_ms[i] for i in sel), tuple(self.hashes[i] for i in sel),
                           variants=tuple(vs))

    @classmethod
    def from_obj(cls, obj) -> "Fingerprint":
        if isinstance(obj, (list, tuple)) and obj and isinstance(obj[0], str) and obj[0] != ALG:
            raise ValueError(f"unsupported fingerprint algorithm {obj[0]!r} (expected {ALG!r})")
        if not isinstance(obj, (list, tuple)) or len(obj) not in (5, 6):
            raise ValueError("fingerprint must be a list [alg, times_ms, hashes, thumb_step, thumbs(, variants)]")
        alg, times, blob, step, tblob = obj[:5]
        if not isinstance(alg, str):
            raise ValueError("fingerprint alg must be a string")
        if alg != ALG:
            raise ValueError(f"unsupported fingerprint algorithm {alg!r} (expected {ALG!r})")
        if not isinstance(times, (list, tuple)):
            raise ValueError("fingerprint times_ms must be a list of ints")
        if not isinstance(blob, (bytes, bytearray)) or not isinstance(tblob, (bytes, bytearray)):
            raise ValueError("fingerprint hashes and thumbnails must be bytes")
        n = len(times)
        if n == 0:
            raise ValueError("fingerprint has no samples")
        if n > MAX_SAMPLES:
            raise ValueError(f"fingerprint has {n} samples, more than the maximum {MAX_SAMPLES}")
        if len(blob) != n * HASH_BYTES:
            raise ValueError(
                f"fingerprint hashes are {len(blob)} bytes, expected {n} x {HASH_BYTES} = {n * HASH_BYTES}")
        if type(step) is not int or not 0 <= step <= MAX_SAMPLES:
            raise ValueError("fingerprint thumb_step must be an int >= 0 (0: no thumbnails)")
        nt = (n + step - 1) // step if step else 0
        if len(tblob) != nt * THUMB_BYTES:
            raise ValueError(f"fingerprint thumbnails are {len(tblob)} bytes, expected {nt} x {THUMB_BYTES}")
        prev = -1
        for t in times:
            if type(t) is not int:  # bool is not an int here
                raise ValueError("fingerprint times_ms must be ints")
            if t < 0 or t > MAX_TIME_MS:
                raise ValueError(f"fingerprint time {t} out of range")
            if t <= prev:
                raise ValueError("fingerprint times_ms must be strictly increasing")
            prev = t
        variants = []
        if len(obj) == 6:
            vs = obj[5]
            if not isinstance(vs, (list, tuple)) or len(vs) > MAX_VARIANTS:
                raise ValueError(f"fingerprint variants must be a list of at most {MAX_VARIANTS}")
            for v in vs:
                if not isinstance(v, (list, tuple)) or len(v) != 4:
                    raise ValueError("a variant is [rect, mirror, crop, hashes]")
                rect, mirror, crop, vb = v
                if (not isinstance(rect, (list, tuple)) or len(rect) != 4
                        or any(type(x) is not int or not 0 <= x <= 10000 for x in rect)):
                    raise ValueError("a variant's rect is 4 ints in 0..10000")
                if mirror not in (0, 1) or type(mirror) is not int:
                    raise ValueError("a variant's mirror flag is 0 or 1")
                if type(crop) is not int or not 1000 <= crop <= 10000:
                    raise ValueError("a variant's crop is an int in 1000..10000")
                if not isinstance(vb, (bytes, bytearray)) or len(vb) != n * VARIANT_ENTRY:
                    raise ValueError(f"fingerprint variants are {len(vb) if isinstance(vb, (bytes, bytearray)) else '?'}"
                                     f" bytes, expected {n} x {VARIANT_ENTRY}")
                variants.append(Variant(tuple(x / 10000 for x in rect), bool(mirror), crop / 10000, bytes(vb)))
        blob, tblob = bytes(blob), bytes(tblob)
        hashes = tuple(blob[i * HASH_BYTES : (i + 1) * HASH_BYTES] for i in range(n))
        thumbs = tuple(tblob[i * THUMB_BYTES : (i + 1) * THUMB_BYTES] for i in range(nt))
        return cls(alg, tuple(times), hashes, step, thumbs, tuple(variants))

    # -- helpers for match / pindex (not part of the serialized form)
    def __len__(self) -> int:
        return len(self.times_ms)

    def dct_array(self) -> np.ndarray:
        """(n, 4) uint64 view of the full-frame 256-bit DCT hashes (for popcount distances)."""
        a = np.frombuffer(b"".join(self.hashes), np.uint8).reshape(-1, HASH_BYTES)
        return np.ascontiguousarray(a[:, :DCT_BYTES]).view(np.uint64)

    def stats_array(self) -> np.ndarray:
        """(n, 2) uint8: mean luma, texture."""
        a = np.frombuffer(b"".join(self.hashes), np.uint8).reshape(-1, HASH_BYTES)
        return a[:, DCT_BYTES:]

    def thumb_array(self) -> np.ndarray:
        """(len(thumbs), 16, 16) uint8 levels 0..15 of samples 0, thumb_step, 2*thumb_step, ...
        (none when thumb_step is 0)"""
        return unpack_thumbs(b"".join(self.thumbs))

    def variant_arrays(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """([full frame, variants...] as (n, 4) uint64 arrays, [their (n,) texture arrays])."""
        hs, qs = [self.dct_array()], [self.stats_array()[:, 1]]
        for v in self.variants:
            a = np.frombuffer(v.hashes, np.uint8).reshape(-1, VARIANT_ENTRY)
            hs.append(np.ascontiguousarray(a[:, :DCT_BYTES]).view(np.uint64))
            qs.append(a[:, DCT_BYTES])
        return hs, qs


def unpack_thumbs(blob: bytes) -> np.ndarray:
    a = np.frombuffer(blob, np.uint8)
    out = np.empty(2 * len(a), np.uint8)
    out[0::2] = a >> 4
    out[1::2] = a & 15
    return out.reshape(-1, THUMB_SIDE, THUMB_SIDE)


def pack_thumbs(levels: np.ndarray) -> list[bytes]:
    flat = levels.reshape(len(levels), -1).astype(np.uint8)
    return [r.tobytes() for r in ((flat[:, 0::2] << 4) | flat[:, 1::2])]


@dataclass(frozen=True)
class ClipAnalysis:
    file_sha256: bytes
    frames_sha256: bytes
    facts: MediaFacts
    fingerprint: Fingerprint


# ------------------------------------------------------------------------------------- hashing


def _dct_matrix() -> np.ndarray:
    n = _SIDE
    k = np.arange(0, _NCOEF)[:, None]
    x = np.arange(n)[None, :]
    m = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * x + 1) * k / (2 * n))
    m[0] /= np.sqrt(2.0)
    return m


def _zigzag() -> np.ndarray:
    """Flat indices into the (_NCOEF, _NCOEF) coefficient block of the HASH_BITS lowest
    frequencies, DC excluded, ordered by (u + v, u)."""
    uv = sorted(((u, v) for u in range(_NCOEF) for v in range(_NCOEF) if u + v > 0),
                key=lambda p: (p[0] + p[1], p[0]))
    return np.array([u * _NCOEF + v for u, v in uv[:HASH_BITS]])


_DCT = _dct_matrix()
_ZZ = _zigzag()


def _box(n_src: int, lo: float, hi: float, n_out: int, mirror: bool = False) -> np.ndarray:
    """(n_out, n_src) area-resampling matrix taking source pixels [lo, hi) to n_out cells; the
    part of a cell outside [0, n_src) is left out of its average.  Mirrored: cells reversed."""
    step = (hi - lo) / n_out
    px = np.arange(n_src)
    a = lo + np.arange(n_out)[:, None] * step
    m = np.clip(np.minimum(px[None, :] + 1, a + step) - np.maximum(px[None, :], a), 0, None)
    s = m.sum(1, keepdims=True)
    m = m / np.where(s > 0, s, 1)
    return m[::-1] if mirror else m


@dataclass(frozen=True)
class Geometry:
    rect: tuple[float, float, float, float]  # fractions of the frame
    mirror: bool = False
    crop: float = 1.0


def _axes(g: Geometry, h: int, w: int, frac: float, side: int):
    """Row and column resampling matrices for the centred `frac` of g's rectangle, scaled by
    1 / g.crop (the original's frame around a centred crop)."""
    x, y, rw, rh = g.rect
    f = frac / g.crop
    cx, cy = (x + rw / 2) * w, (y + rh / 2) * h
    ay = _box(h, cy - rh * h * f / 2, cy + rh * h * f / 2, side)
    ax = _box(w, cx - rw * w * f / 2, cx + rw * w * f / 2, side, g.mirror)
    return ay.astype(np.float32), ax.astype(np.float32)


def describe(imgs: np.ndarray, g: Geometry, with_mirror: bool = False):
    """For a stack of reduced luma images (n, h, w) (uint8 or float32) and a geometry: DCT hash
    bits (n, 32) uint8, mean luma (n,), texture (n,) and 16x16 thumbnail levels (n, 16, 16) uint8;
    with_mirror: a list of that and the same for g's mirror image."""
    return describe_many(imgs, [g], with_mirror)[0]


BATCH_BYTES = 64 << 20  # the column products of several geometries at once, up to this size


def describe_many(imgs: np.ndarray, gs: list[Geometry], with_mirror: bool = False) -> list:
    """describe() for several geometries: [describe(imgs, g, with_mirror) for g in gs].

    Two large matrix products per geometry (columns, then rows, for the DCT, the thumbnail and
    the mean at once) instead of n small ones, and the column products of all geometries in one
    (one wide product is ~1.6x faster than six narrow ones; each output element is the same dot
    product, bit for bit; batches stay under BATCH_BYTES for long clips).  The mirror image costs
    no product: mirroring negates the DCT coefficients of odd horizontal frequency and reverses the
    thumbnail's columns."""
    n, h, w = imgs.shape
    x = imgs if imgs.dtype == np.float32 else imgs.astype(np.float32)
    per = max(1, BATCH_BYTES // (n * h * (_NCOEF + THUMB_SIDE + 1) * 4))
    if len(gs) > per:
        return [r for i in range(0, len(gs), per) for r in describe_many(x, gs[i:i + per], with_mirror)]
    dct = _DCT.astype(np.float32)
    cols, rows = [], []
    for g in gs:
        ay, ax = _axes(g, h, w, RECORD_FRAC, _SIDE)
        ty, tx = _axes(g, h, w, 1.0, THUMB_SIDE)
        cols += [dct @ ax, tx, ax.mean(0, keepdims=True)]  # (24 + 16 + 1, w) per geometry
        rows.append([dct @ ay, ty, ay.mean(0, keepdims=True)])
    width = _NCOEF + THUMB_SIDE + 1
    big = x.reshape(n * h, w) @ np.concatenate(cols).T  # (n * h, width * len(gs))
    res = []
    for i, rs in enumerate(rows):
        t = big[:, i * width:(i + 1) * width].reshape(n, h, width).transpose(1, 0, 2).reshape(h, -1)  # (h, n * 41)
        out, k = [], 0
        for r, m in zip(rs, (_NCOEF, THUMB_SIDE, 1)):
            part = t.reshape(h, n, -1)[:, :, k:k + m].reshape(h, n * m)
            out.append((r @ part).reshape(len(r), n, m).transpose(1, 0, 2))  # (n, rows, cols)
            k += m
        coef, thumb, mean = out[0], out[1], out[2].reshape(n)
        one = _finish(coef, mean, thumb)
        if with_mirror:
            sign = np.where(np.arange(_NCOEF) % 2, -1.0, 1.0).astype(np.float32)
            one = [one, _finish(coef * sign, mean, thumb[:, :, ::-1])]
        res.append(one)
    return res


def _finish(coef: np.ndarray, mean: np.ndarray, thumb: np.ndarray):
    n = len(coef)
    c = coef.reshape(n, -1)[:, _ZZ]
    med = np.median(c, axis=1, keepdims=True)
    bits = np.packbits(c > med, axis=1)
    tex = (np.abs(c - med) > STABLE_DELTA).sum(axis=1)
    th = thumb.reshape(n, -1)
    srt = np.sort(th, axis=1)
    lo, hi = srt[:, 1:2], srt[:, -2:-1]
    lv = np.rint((th - lo) / np.maximum(hi - lo, 8.0) * 15).clip(0, 15).astype(np.uint8)
    return bits, mean, tex, lv.reshape(n, THUMB_SIDE, THUMB_SIDE)


# ------------------------------------------------------------------------------ content rectangles


def _run(profile: np.ndarray, frac: float) -> tuple[int, int] | None:
    """[a, b): from the first to the last index where profile >= frac * its max."""
    if profile.max() <= 0:
        return None
    idx = np.nonzero(profile >= frac * profile.max())[0]
    return int(idx[0]), int(idx[-1]) + 1


def _mask_rect(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding rows/cols of a content mask via its profiles (robust to stray pixels)."""
    h, w = mask.shape
    c = _run(mask.mean(0), 0.3)
    r = _run(mask.mean(1), 0.3)
    if c is None or r is None:
        return None
    # second pass: profiles restricted to the first estimate
    c2 = _run(mask[r[0]:r[1]].mean(0), 0.3)
    r2 = _run(mask[:, c[0]:c[1]].mean(1), 0.3)
    if c2 is None or r2 is None:
        return None
    return c2[0], r2[0], c2[1], r2[1]


def _bars_rect(mean: np.ndarray, std: np.ndarray) -> tuple[int, int, int, int]:
    """Trim rows/columns from each side while they are static and uniform (plain bars)."""
    h, w = mean.shape

    def bar(line_mean, line_std):
        return line_std.mean() < 2.0 and line_mean.std() < 3.0

    y0, y1, x0, x1 = 0, h, 0, w
    while y0 < y1 - 1 and bar(mean[y0, x0:x1], std[y0, x0:x1]):
        y0 += 1
    while y1 - 1 > y0 and bar(mean[y1 - 1, x0:x1], std[y1 - 1, x0:x1]):
        y1 -= 1
    while x0 < x1 - 1 and bar(mean[y0:y1, x0], std[y0:y1, x0]):
        x0 += 1
    while x1 - 1 > x0 and bar(mean[y0:y1, x1 - 1], std[y0:y1, x1 - 1]):
        x1 -= 1
    return x0, y0, x1, y1


def _persistent_edges(sel: np.ndarray, step: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """Edge pixels present in >= 80% of the frames: (H, W-1) between columns x and x+1, and
    (H-1, W) between rows y and y+1 (window borders, canvas edges; moving content averages out)."""
    ex = (np.abs(np.diff(sel, axis=2)) > step).mean(0) >= 0.8
    ey = (np.abs(np.diff(sel, axis=1)) > step).mean(0) >= 0.8
    return ex, ey


def _snap(rect, ex: np.ndarray, ey: np.ndarray, reach: float = 0.15):
    """Move each side of `rect` (x0, y0, x1, y1 pixels) to a straight persistent edge within
    `reach` of the frame size, if there is one along at least 60% of that side: among strong
    edges the innermost (a window's chrome has an outer and an inner edge)."""
    x0, y0, x1, y1 = rect
    H, W = ey.shape[0] + 1, ex.shape[1] + 1
    for _ in range(2):
        dx, dy = max(2, int(reach * W)), max(2, int(reach * H))

        def best(scores: np.ndarray, positions: np.ndarray, inner_is_high: bool):
            if len(scores) == 0 or scores.max() < 0.6:
                return None
            ok = positions[scores >= max(0.6, 0.7 * scores.max())]
            return int(ok.max() if inner_is_high else ok.min())

        xs = np.arange(max(0, x0 - dx), min(W - 1, x0 + dx))
        b = best(ex[y0:y1, xs].mean(0) if y1 > y0 else np.zeros(0), xs, True)
        nx0 = b + 1 if b is not None else x0
        xs = np.arange(max(0, x1 - 1 - dx), min(W - 1, x1 - 1 + dx))
        b = best(ex[y0:y1, xs].mean(0) if y1 > y0 else np.zeros(0), xs, False)
        nx1 = b + 1 if b is not None else x1
        ys = np.arange(max(0, y0 - dy), min(H - 1, y0 + dy))
        b = best(ey[ys, x0:x1].mean(1) if x1 > x0 else np.zeros(0), ys, True)
        ny0 = b + 1 if b is not None else y0
        ys = np.arange(max(0, y1 - 1 - dy), min(H - 1, y1 - 1 + dy))
        b = best(ey[ys, x0:x1].mean(1) if x1 > x0 else np.zeros(0), ys, False)
        ny1 = b + 1 if b is not None else y1
        if nx1 - nx0 < 4 or ny1 - ny0 < 4:
            return rect
        x0, y0, x1, y1 = nx0, ny0, nx1, ny1
    return x0, y0, x1, y1


def _edge_rects(ex: np.ndarray, ey: np.ndarray, keep: int = 3, lines: int = 16):
    """The largest rectangles whose four sides each run along a persistent straight edge over
    >= 60% of their length (a side on the frame's border counts as one; at most two may): a
    window of a screen recording, a picture on a canvas, wherever the detectors of motion and
    sharpness cannot tell the picture from its surroundings (a static terminal, a white wall in
    light window chrome).  Candidate sides are the `lines` strongest row / column boundaries."""
    H, W = ey.shape[0] + 1, ex.shape[1] + 1
    col, row = ex.mean(0), ey.mean(1)  # how much of each column / row boundary is an edge
    xs = np.argsort(-col, kind="stable")[:lines]
    ys = np.argsort(-row, kind="stable")[:lines]
    xs = np.concatenate([[0], np.sort(xs[col[xs] >= 0.12]) + 1, [W]])  # boundary b: between b-1 and b
    ys = np.concatenate([[0], np.sort(ys[row[ys] >= 0.12]) + 1, [H]])
    # prefix sums of the edge maps along each side's direction
    vx = np.concatenate([np.zeros((1, W - 1)), np.cumsum(ex, 0)], 0)  # (H + 1, W - 1)
    hy = np.concatenate([np.zeros((H - 1, 1)), np.cumsum(ey, 1)], 1)  # (H - 1, W + 1)

    def vside(x, y0, y1):  # coverage of the vertical sides at boundaries x over rows [y0, y1)
        inner = (x > 0) & (x < W)
        xc = np.clip(x - 1, 0, W - 2)
        cov = (vx[y1, xc] - vx[y0, xc]) / np.maximum(y1 - y0, 1)
        return np.where(inner, cov, 1.0), ~inner

    def hside(y, x0, x1):  # the same for horizontal sides
        inner = (y > 0) & (y < H)
        yc = np.clip(y - 1, 0, H - 2)
        cov = (hy[yc, x1] - hy[yc, x0]) / np.maximum(x1 - x0, 1)
        return np.where(inner, cov, 1.0), ~inner

    X0, X1, Y0, Y1 = np.meshgrid(xs, xs, ys, ys, indexing="ij")
    ok = (X1 - X0 >= 0.2 * W) & (Y1 - Y0 >= 0.2 * H)
    X0, X1, Y0, Y1 = X0[ok], X1[ok], Y0[ok], Y1[ok]
    l, lb = vside(X0, Y0, Y1)
    r, rb = vside(X1, Y0, Y1)
    t, tb = hside(Y0, X0, X1)
    b, bb = hside(Y1, X0, X1)
    borders = lb.astype(int) + rb + tb + bb
    good = (np.minimum(np.minimum(l, r), np.minimum(t, b)) >= 0.6) & (borders <= 2)
    area = (X1 - X0) * (Y1 - Y0)
    good &= area <= 0.93 * W * H
    out = []
    order = np.lexsort((-area, borders))  # four real edges first, then the largest
    for k in order[good[order]]:
        if len(out) >= keep:
            break
        r_ = (int(X0[k]), int(Y0[k]), int(X1[k]), int(Y1[k]))
        if all(max(abs(a - c) for a, c in zip(r_, o)) > 0.03 * max(W, H) for o in out):
            out.append(r_)
    return out


def _below_title_bar(rect, ey: np.ndarray, std: np.ndarray):
    """`rect` (a window found by its outer edges) without its title bar: the top moved down to
    where, within 15% of its height, the picture starts moving (chrome is static, camera footage
    never is), else to the innermost row boundary there that is a persistent edge along >= 60%
    of the width (a static picture).  None when there is neither."""
    x0, y0, x1, y1 = rect
    rows = std[:, x0:x1].mean(1)
    edge = None
    for y in range(y0 + 2, y0 + max(3, int(0.15 * (y1 - y0))) + 1):
        still, moving = np.median(rows[y0 + 1:y]), rows[y:y + 2].mean()  # row y0 touches the outside
        if still < 1.5 and moving >= max(2.0, 3 * still):
            return x0, y, x1, y1
        if ey[y - 1, x0:x1].mean() >= 0.6:
            edge = y
    return (x0, edge, x1, y1) if edge is not None else None


ASPECTS = (16 / 9, 4 / 3)  # common picture shapes a clip is re-framed from


def _aspect_rects(ex: np.ndarray, ey: np.ndarray, frame_aspect: float):
    """For each common aspect much wider (narrower) than the frame: the full-width (full-height)
    rectangle of that shape, slid to where a persistent edge runs along both of its long sides
    (centred when there is none): letterboxed / pillarboxed / 9:16-reframed clips whose
    picture is as dark or flat as the bars around it."""
    H, W = ey.shape[0] + 1, ex.shape[1] + 1
    hs, vs = ey.mean(1), ex.mean(0)  # line strength of each row / column boundary
    out = []
    for a in ASPECTS:
        if a > frame_aspect * 1.1:
            size, n, prof = int(round(W / a * H / (W / frame_aspect))), H, hs
        elif a < frame_aspect / 1.1:
            size, n, prof = int(round(H * a * W / (H * frame_aspect))), W, vs
        else:
            continue
        if not 4 <= size < n:
            continue
        lo = np.arange(0, n - size + 1)
        first = np.where(lo > 0, prof[np.clip(lo - 1, 0, len(prof) - 1)], 0.0)
        last = np.where(lo + size < n, prof[np.clip(lo + size - 1, 0, len(prof) - 1)], 0.0)
        score = first + last
        k = int(np.argmax(score)) if score.max() >= 0.8 else (n - size) // 2
        out.append((0, k, W, k + size) if prof is hs else (k, 0, k + size, H))
    return out


def content_rects(imgs: np.ndarray, max_rects: int = 7) -> list[tuple[float, float, float, float]]:
    """Where the picture may sit inside the frame, as (x, y, w, h) fractions: rectangles bounded
    by plain static bars; framed on all four sides by straight edges present in every frame (a
    window, and the same below its title bar); bounded by the part that is not exactly static or
    that moves (static desktop / window chrome around it), by the part that is sharp (a blurred
    copy of the clip around it), each side snapped to a persistent straight edge nearby; the
    common picture shapes slid to the persistent edges.  At most max_rects, strongest cue first.  Only rectangles that
    differ from the whole frame; the caller also keeps the whole frame."""
    n, h, w = imgs.shape
    sel = imgs[np.unique(np.linspace(0, n - 1, min(n, 48)).round().astype(int))].astype(np.float32)
    mean, std = sel.mean(0), sel.std(0)
    gx = np.abs(np.diff(sel, axis=2, append=sel[:, :, -1:]))
    gy = np.abs(np.diff(sel, axis=1, append=sel[:, -1:, :]))
    sharp = (gx + gy).mean(0)
    ex, ey = _persistent_edges(sel)
    # strongest cues first: plain bars, rectangles framed by edges, then what moves or is sharp
    framed = _edge_rects(ex, ey)
    cands = [_bars_rect(mean, std)] + [r for e in framed for r in (e, _below_title_bar(e, ey, std))]
    masks = [sharp > max(3.0, 0.25 * np.percentile(sharp, 95))]
    if len(sel) >= 3:
        # camera footage is never exactly static; window chrome and desktops are
        masks = [std > 0.8, std > max(2.5, 0.15 * np.percentile(std, 95))] + masks
    raw = [_mask_rect(m) for m in masks]
    cands += [_snap(r, ex, ey) for r in raw if r] + _aspect_rects(ex, ey, w / h) + [_snap((0, 0, w, h), ex, ey)] + raw
    out: list[tuple[float, float, float, float]] = []
    for r in cands:
        if r is None:
            continue
        x0, y0, x1, y1 = r
        fr = (x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h)
        if fr[2] < 0.15 or fr[3] < 0.15 or fr[2] * fr[3] > 0.93:
            continue
        if any(max(abs(a - b) for a, b in zip(fr, o)) < 0.03 for o in out):
            continue
        out.append(fr)
    return out[:max_rects]


def geometries(imgs: np.ndarray) -> list[Geometry]:
    """The query's variants: mirror, centred crops, content rectangles (and their mirrors)."""
    gs = [Geometry(FULL, True)] + [Geometry(FULL, False, c) for c in QUERY_CROPS]
    for r in content_rects(imgs):
        gs += [Geometry(r), Geometry(r, True)]
    return gs


def fingerprint_from_reduced(imgs: np.ndarray, times: list[int], variants: bool = True) -> Fingerprint:
    """The fingerprint of a stack of reduced luma samples (n, h, w) uint8 taken at `times`."""
    x = imgs.astype(np.float32)
    gs = geometries(imgs) if variants else []
    # every geometry with its mirror image, the whole frame first: one batch of products
    plains = list(dict.fromkeys([Geometry(FULL)] + [Geometry(g.rect, False, g.crop) for g in gs]))
    done = {}
    for p, (plain, mirrored) in zip(plains, describe_many(x, plains, with_mirror=True)):
        done[p], done[Geometry(p.rect, True, p.crop)] = plain, mirrored
    bits, mean, tex, lv = done[Geometry(FULL)]
    stats = np.stack([np.clip(np.rint(mean), 0, 255), np.clip(tex, 0, 255)], 1).astype(np.uint8)
    core = [r.tobytes() for r in np.concatenate([bits, stats], 1)]
    vs = []
    for g in gs:
        b, _, tx, l2 = done[g]
        ent = np.concatenate([b, np.clip(tx, 0, 255).astype(np.uint8)[:, None]], 1)
        rect = tuple(int(round(v * 10000)) / 10000 for v in g.rect)  # as it travels (1/10000)
        vs.append(Variant(rect, g.mirror, int(round(g.crop * 10000)) / 10000, ent.tobytes(),
                          b"".join(pack_thumbs(l2))))
    return Fingerprint(ALG, tuple(times), tuple(core), 1, tuple(pack_thumbs(lv)), tuple(vs))


def reduced_size(width: int, height: int) -> tuple[int, int]:
    """The reduced image size for a frame size: aspect kept, long side REDUCED_LONG, even."""
    s = REDUCED_LONG / max(width, height, 1)
    return max(16, int(round(width * s / 2)) * 2), max(16, int(round(height * s / 2)) * 2)


_TLS = threading.local()


def _reduce(frame, size: tuple[int, int]) -> np.ndarray:
    """Reduced luma by libswscale (area filter).  The reformatter is kept: building a new swscale
    context per frame (what frame.reformat does) costs ~5 ms, a cached one ~0.1 ms."""
    r = getattr(_TLS, "reformatter", None)
    if r is None:
        from av.video.reformatter import VideoReformatter

        r = _TLS.reformatter = VideoReformatter()
    return r.reformat(frame, width=size[0], height=size[1], format="gray",
                      interpolation="AREA").to_ndarray()


def _frame_from_rgb(img: np.ndarray):
    """An in-memory frame as the yuv420p frame an encoder would see (so in-memory and decoded
    fingerprints agree)."""
    import av

    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise ValueError("frames must be uint8")
    if img.ndim == 2:
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="gray")
    if img.ndim == 3 and img.shape[2] == 3:
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        return f.reformat(width=img.shape[1] & ~1, height=img.shape[0] & ~1, format="yuv420p")
    raise ValueError(f"unsupported frame shape {img.shape}")


def analyze_frames(frames: Iterable[np.ndarray], fps: float, period_ms: int = QUERY_PERIOD_MS) -> Fingerprint:
    """Fingerprint in-memory frames (RGB uint8 (h, w, 3) or luma (h, w)) at a constant `fps`.

    Same grid and descriptors as analyze_file, so a clip generated in memory and the file it is
    encoded to give (near-)identical fingerprints."""
    if not fps or fps <= 0 or not math.isfinite(fps):
        raise ValueError("fps must be positive")
    times: list[int] = []
    smalls: list[np.ndarray] = []
    prev = prev_small = None
    size = None

    def sample_until(limit_ms: float) -> None:
        """Grid points before `limit_ms` show `prev`: sample it (reduced once, however many points)."""
        nonlocal prev_small
        while len(times) * period_ms < limit_ms - GRID_TOL_MS:
            if prev_small is None:
                prev_small = _reduce(_frame_from_rgb(prev), size)
            times.append(len(times) * period_ms)
            smalls.append(prev_small)
            if len(times) > MAX_SAMPLES:
                raise ValueError("too many frames")

    i = -1
    for i, img in enumerate(frames):
        if prev is not None:
            sample_until(i * 1000.0 / fps)
        else:
            size = reduced_size(np.shape(img)[1], np.shape(img)[0])
        prev, prev_small = img, None
    if prev is None:
        raise ValueError("no frames")
    sample_until((i + 1) * 1000.0 / fps)  # the last frame is displayed until its end
    return fingerprint_from_reduced(np.stack(smalls), times)


# ------------------------------------------------------------------------------------- decoding


def _file_sha256(path: str) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.digest()


FRAME_HASH_ROW_STEP = 8  # frames_sha256 covers every 8th luma row of every frame


def _hash_luma_plane(h, frame) -> None:
    """Feed luma rows 0, 8, 16, ... of `frame` (visible width only) to `h`, after its size.

    Hashing every row of every 1080p frame (500 MB of SHA-256 for 8 s) nearly doubled the cost of
    analyze_file on 2 cores; every 8th row keeps the property that matters (same bitstream ->
    same decoded frames -> same digest; a re-encode, or an edit taller than 8 rows, changes it) at
    1/8 of the cost.  It is not a tamper-proof digest of the pixels (chroma and the other rows are
    not covered): byte identity is file_sha256's job."""
    plane = frame.planes[0]
    w, hh, ls = plane.width, plane.height, plane.line_size
    h.update(struct.pack(">III", w, hh, FRAME_HASH_ROW_STEP))
    a = np.frombuffer(plane, np.uint8)[: ls * hh].reshape(hh, ls)[::FRAME_HASH_ROW_STEP, :w]
    h.update(np.ascontiguousarray(a))


class _FrameWorker:
    """Hashes every decoded frame's luma (in decode order) and reduces the sampled frames.  Inline: a background thread was measured slower on 2 cores (it competes with
    the decoder's own threads)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._reduced: dict[int, np.ndarray] = {}
        self._size: tuple[int, int] | None = None

    def put(self, frame, idx: int, sample: bool) -> None:
        if frame.format.name not in _LUMA_FORMATS:
            frame = frame.reformat(format="yuv420p")
        _hash_luma_plane(self._h, frame)
        if sample:
            if self._size is None:
                self._size = reduced_size(frame.width, frame.height)
            self._reduced[idx] = _reduce(frame, self._size)

    def finish(self) -> tuple[bytes, dict[int, np.ndarray]]:
        return self._h.digest(), self._reduced


_LUMA_FORMATS = {
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuvj440p",
    "yuv411p", "yuv410p", "gray", "nv12", "nv21", "nv16", "yuva420p",
}


def analyze_file(path, max_duration_s: int = 900) -> ClipAnalysis:
    """Decode `path` once: file hash, frames hash, media facts and fingerprint.

    Raises FingerprintError (one clear line) for anything that is not a readable video."""
    try:
        return _analyze_file(os.fspath(path), max_duration_s)
    except FingerprintError:
        raise
    except MemoryError:
        raise FingerprintError(f"{path}: out of memory while decoding") from None
    except Exception as e:  # noqa: BLE001 - every failure becomes one clear line
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FingerprintError(f"{path}: cannot decode video ({msg})") from None


def _analyze_file(path: str, max_duration_s: int) -> ClipAnalysis:
    import av

    if not os.path.exists(path):
        raise FingerprintError(f"{path}: no such file")
    if os.path.isdir(path):
        raise FingerprintError(f"{path}: is a directory, not a video file")
    if not os.path.isfile(path):
        raise FingerprintError(f"{path}: not a regular file")
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise FingerprintError(f"{path}: cannot read ({e.strerror})") from None
    if size == 0:
        raise FingerprintError(f"{path}: empty file (0 bytes)")
    try:
        container = av.open(path, "r")
    except PermissionError:
        raise FingerprintError(f"{path}: permission denied") from None
    except (av.error.InvalidDataError, av.error.EOFError):
        raise FingerprintError(f"{path}: not a video file, or truncated (container unreadable)") from None
    except av.error.FFmpegError as e:
        raise FingerprintError(f"{path}: not a readable video ({e.strerror or e})") from None
    with container:
        if not container.streams.video:
            what = "audio-only file" if container.streams.audio else "no video stream"
            raise FingerprintError(f"{path}: {what}, nothing to fingerprint")
        stream = container.streams.video[0]
        declared_s = None
        if container.duration is not None and container.duration > 0:
            declared_s = container.duration / 1_000_000
        elif stream.duration is not None and stream.time_base is not None:
            declared_s = float(stream.duration * stream.time_base)
        if declared_s is not None and declared_s > max_duration_s:
            raise FingerprintError(
                f"{path}: video is {declared_s:.0f} s long, longer than the {max_duration_s} s limit")
        stream.thread_type = "AUTO"
        period = QUERY_PERIOD_MS if declared_s is None or declared_s <= DENSE_MAX_S else SAMPLE_PERIOD_MS
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        codec = stream.codec_context.name or "unknown"
        fmt_name = container_name(container.format.name, path)  # "mp4" for an .mp4, not FFmpeg's "mov"

        # Decide which frame each grid point shows (known when the next frame arrives); hash
        # every frame's luma and reduce only the shown ones.
        worker = _FrameWorker()
        times: list[int] = []
        sample_idx: list[int] = []
        t0 = None
        k = 0
        prev = None
        n = 0
        last_t = 0.0
        frame_dur = 1000.0 / fps if fps > 0 else 0.0
        width = height = 0
        max_ms = max_duration_s * 1000.0
        end_ms = 0.0
        try:
            for frame in container.decode(stream):
                ft = frame.time
                if ft is None:
                    t_ms = n * frame_dur
                else:
                    if t0 is None:
                        t0 = ft
                    t_ms = (ft - t0) * 1000.0
                if t_ms < last_t:  # out-of-order or broken timestamps: keep the grid monotonic
                    t_ms = last_t
                last_t = t_ms
                if t_ms > max_ms:
                    raise FingerprintError(
                        f"{path}: video is longer than the {max_duration_s} s limit")
                if prev is not None:
                    # grid points before this frame are shown by the previous one
                    shown = 0
                    while k * period < t_ms - GRID_TOL_MS:
                        times.append(k * period)
                        sample_idx.append(n - 1)
                        k += 1
                        shown += 1
                    worker.put(prev, n - 1, shown > 0)
                else:
                    width, height = frame.width, frame.height
                prev = frame
                n += 1
            if prev is not None:
                if frame_dur <= 0:
                    frame_dur = last_t / max(1, n - 1) if n > 1 else 40.0
                end_ms = last_t + frame_dur
                shown = 0
                while k * period < end_ms - GRID_TOL_MS:
                    times.append(k * period)
                    sample_idx.append(n - 1)
                    k += 1
                    shown += 1
                worker.put(prev, n - 1, shown > 0)
                prev = None
        except FingerprintError:
            raise
        except (av.error.InvalidDataError, av.error.EOFError) as e:
            at = f" at {last_t / 1000:.1f} s" if n else ""
            raise FingerprintError(f"{path}: corrupt or truncated video data{at} ({e.strerror or e})") from None
        frames_digest, reduced = worker.finish()
        if n == 0:
            raise FingerprintError(f"{path}: no decodable video frames (truncated or corrupt)")
        if declared_s is not None and declared_s > 1.0 and end_ms / 1000 < 0.8 * declared_s - 0.5:
            raise FingerprintError(
                f"{path}: truncated video (decoded {end_ms / 1000:.1f} s of {declared_s:.1f} s declared)")
        if len(times) > MAX_SAMPLES:
            raise FingerprintError(f"{path}: video too long")
        fp = fingerprint_from_reduced(np.stack([reduced[i] for i in sample_idx]), times)
        if fps <= 0:
            fps = 1000.0 / frame_dur
        facts = MediaFacts(
            duration_ms=int(round(end_ms)),
            fps_milli=int(round(fps * 1000)),
            width=width,
            height=height,
            codec=codec,
            container=fmt_name,
        )
    return ClipAnalysis(
        file_sha256=_file_sha256(path),
        frames_sha256=frames_digest,
        facts=facts,
        fingerprint=fp,
    )
