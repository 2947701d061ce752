"""Perceptual fingerprint of a video: decode once with PyAV, sample by timestamp, hash each sample.

Algorithm `pcv1` (see BENCHMARKS-fingerprint.md for the measurements behind each choice):

* Sampling: one sample every SAMPLE_PERIOD_MS (200 ms, 5 per second) on a grid anchored at the
  first decoded frame; sample k is the frame *displayed* at time k*200 ms (the last frame whose
  presentation time is <= k*200 ms), so a frame-rate change (30 -> 24 fps) or a variable frame rate
  does not move the grid.
* Per sample: libswscale (area filter, cached context) reduces the decoded frame straight to a
  128x128 luma image (`VideoReformatter.reformat(frame, 128, 128, "gray")`); no other frame is
  converted.  numpy then box-resamples the centred RECORD_FRAC = 70% x 70% of it to 64x64 (the
  border, where logos, captions and small crops live, is left out) and takes the orthonormal 2-D
  DCT-II.  The hash entry is HASH_BYTES = 34 bytes:
    - bytes 0..31: 256-bit DCT hash: the 256 lowest-frequency coefficients in zig-zag order
      (sorted by (u + v, u), DC excluded, horizontal/vertical-only terms included -- PDQ drops
      them and then a plain gradient hashes to noise); bit i = coefficient i > median of the 256;
      packed big-endian (numpy.packbits order).
    - byte 32: mean luma of the 64x64 image (0..255).
    - byte 33: texture = number of coefficients farther than STABLE_DELTA (3 luma units) from the
      median, capped at 255: how many bits survive compression noise.  Below match.WEAK_Q (64) the
      sample is near-uniform (black frame, fade, plain gradient) and its bits are noise; the
      matcher treats it as neutral.
* Crop variants (query side): a clip cropped to a centred fraction c of the original shows the
  original's hashed region as its centred 0.7 / c.  analyze_file also hashes each sample that way
  for c = 0.95, 0.90, 0.85 (Fingerprint.variants: 3 x (32-byte hash + texture byte)).  Records
  store only the core (`Fingerprint.record_form()`); the matcher compares every query variant
  against the record's core and keeps one variant per alignment.
* `frames_sha256`: SHA-256 over every decoded frame's luma rows 0, 8, 16, ... (visible width only,
  no line padding), each frame prefixed by its width, height and the row step; identical for a
  remux of the same bitstream into another container.  Chroma and the other rows are not hashed
  (cost; see _hash_luma_plane and BENCHMARKS-fingerprint.md).
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

ALG = "pcv1-dct256-p200"
SAMPLE_PERIOD_MS = 200
HASH_BITS = 256
DCT_BYTES = HASH_BITS // 8
HASH_BYTES = DCT_BYTES + 2  # + mean luma + texture
MAX_SAMPLES = 3600 * 1000 // SAMPLE_PERIOD_MS + 1  # one hour; analyze_file's max_duration_s is lower
MAX_TIME_MS = 2**32 - 1
_SIDE = 64
_NCOEF = 24  # the 256 zig-zag coefficients reach u + v = 22
STABLE_DELTA = 3.0  # luma units (orthonormal DCT of the 64x64 image)
_PRE = 128  # swscale reduces each sampled frame to 128x128 luma; numpy does the rest
RECORD_FRAC = 0.7  # the hash covers the centred 70% x 70% of the frame (corner logos stay out)
QUERY_CROPS = (0.95, 0.90, 0.85)  # query-side variants: the clip may be a centred crop of these
VARIANT_ENTRY = DCT_BYTES + 1  # DCT hash + texture of that crop
VARIANT_BYTES = VARIANT_ENTRY * len(QUERY_CROPS)
GRID_TOL_MS = 2.0  # container time bases round timestamps (mkv: 1 ms); tolerate that on the grid


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
class Fingerprint:
    """Sample times and per-sample hashes.

    hashes[i] (HASH_BYTES = 34): 32-byte DCT hash of the centred 80% of the frame at times_ms[i],
    then mean luma, then texture (see the module doc).  variants[i] (VARIANT_BYTES = 99, optional):
    three entries of 33 bytes (32-byte DCT hash + texture byte) of the same frame, assuming the
    clip is a centred crop keeping 95%, 90%, 85% of the original.  analyze_file/analyze_frames always fill variants; a record only
    needs the core (`record_form()`), a query sends both."""

    alg: str
    times_ms: tuple[int, ...]
    hashes: tuple[bytes, ...]
    variants: tuple[bytes, ...] = ()

    def to_obj(self) -> list:
        """Canonical msgpack-friendly form: [alg, [t0, t1, ...], core entries concatenated] plus,
        when present, a fourth element: the variant entries concatenated."""
        obj = [self.alg, list(self.times_ms), b"".join(self.hashes)]
        if self.variants:
            obj.append(b"".join(self.variants))
        return obj

    def record_form(self) -> "Fingerprint":
        """The fingerprint without query-side crop variants: what a record stores on chain."""
        return Fingerprint(self.alg, self.times_ms, self.hashes) if self.variants else self

    @classmethod
    def from_obj(cls, obj) -> "Fingerprint":
        if not isinstance(obj, (list, tuple)) or len(obj) not in (3, 4):
            raise ValueError("fingerprint must be a list [alg, times_ms, hashes(, variants)]")
        alg, times, blob = obj[0], obj[1], obj[2]
        if not isinstance(alg, str):
            raise ValueError("fingerprint alg must be a string")
        if alg != ALG:
            raise ValueError(f"unsupported fingerprint algorithm {alg!r} (expected {ALG!r})")
        if not isinstance(times, (list, tuple)):
            raise ValueError("fingerprint times_ms must be a list of ints")
        if not isinstance(blob, (bytes, bytearray)):
            raise ValueError("fingerprint hashes must be bytes")
        n = len(times)
        if n == 0:
            raise ValueError("fingerprint has no samples")
        if n > MAX_SAMPLES:
            raise ValueError(f"fingerprint has {n} samples, more than the maximum {MAX_SAMPLES}")
        if len(blob) != n * HASH_BYTES:
            raise ValueError(
                f"fingerprint hashes are {len(blob)} bytes, expected {n} x {HASH_BYTES} = {n * HASH_BYTES}")
        variants: tuple[bytes, ...] = ()
        if len(obj) == 4:
            vblob = obj[3]
            if not isinstance(vblob, (bytes, bytearray)):
                raise ValueError("fingerprint variants must be bytes")
            if len(vblob) != n * VARIANT_BYTES:
                raise ValueError(f"fingerprint variants are {len(vblob)} bytes, expected "
                                 f"{n} x {VARIANT_BYTES} = {n * VARIANT_BYTES}")
            vblob = bytes(vblob)
            variants = tuple(vblob[i * VARIANT_BYTES : (i + 1) * VARIANT_BYTES] for i in range(n))
        prev = -1
        for t in times:
            if type(t) is not int:  # bool is not an int here
                raise ValueError("fingerprint times_ms must be ints")
            if t < 0 or t > MAX_TIME_MS:
                raise ValueError(f"fingerprint time {t} out of range")
            if t <= prev:
                raise ValueError("fingerprint times_ms must be strictly increasing")
            prev = t
        blob = bytes(blob)
        hashes = tuple(blob[i * HASH_BYTES : (i + 1) * HASH_BYTES] for i in range(n))
        return cls(alg, tuple(times), hashes, variants)

    # -- helpers for match / pindex (not part of the serialized form)
    def __len__(self) -> int:
        return len(self.times_ms)

    def dct_array(self) -> np.ndarray:
        """(n, 4) uint64 view of the core 256-bit DCT hashes (for popcount distances)."""
        a = np.frombuffer(b"".join(self.hashes), np.uint8).reshape(-1, HASH_BYTES)
        return np.ascontiguousarray(a[:, :DCT_BYTES]).view(np.uint64)

    def variant_arrays(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """([core, crop variants...] as (n, 4) uint64 arrays, [their (n,) texture arrays]);
        just the core without variants."""
        hs, qs = [self.dct_array()], [self.stats_array()[:, 1]]
        if self.variants:
            v = np.frombuffer(b"".join(self.variants), np.uint8).reshape(len(self.variants), -1, VARIANT_ENTRY)
            for j in range(v.shape[1]):
                hs.append(np.ascontiguousarray(v[:, j, :DCT_BYTES]).view(np.uint64))
                qs.append(v[:, j, DCT_BYTES])
        return hs, qs

    def stats_array(self) -> np.ndarray:
        """(n, 2) uint8: mean luma, texture."""
        a = np.frombuffer(b"".join(self.hashes), np.uint8).reshape(-1, HASH_BYTES)
        return a[:, DCT_BYTES:]


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


def _box_matrix(frac: float) -> np.ndarray:
    """(64, 128) area-resampling matrix taking the centred `frac` of a 128-pixel line to 64 pixels."""
    lo = _PRE / 2 * (1 - frac)
    step = _PRE * frac / _SIDE
    m = np.zeros((_SIDE, _PRE))
    px = np.arange(_PRE)
    for p in range(_SIDE):
        a, b = lo + p * step, lo + (p + 1) * step
        m[p] = np.clip(np.minimum(px + 1, b) - np.maximum(px, a), 0, None) / step
    return m


_DCT = _dct_matrix()
# record frames are hashed on their centred RECORD_FRAC; a query that is itself a centred crop
# keeping a fraction c of the original shows that region as its centred RECORD_FRAC / c.
_BOX = [_box_matrix(RECORD_FRAC / c) for c in (1.0,) + QUERY_CROPS]
_BOX32 = [m.astype(np.float32) for m in _BOX]
_DB32 = [(_DCT @ m).astype(np.float32) for m in _BOX]  # (16, 128): resample + DCT in one step


_ZZ = _zigzag()


def _dct_coefs(x128: np.ndarray, v: int) -> np.ndarray:
    a = _DB32[v]
    return np.matmul(np.matmul(a, x128), a.T).reshape(len(x128), -1)[:, _ZZ]


def _dct_bits(x128: np.ndarray, v: int, with_quality: bool = False):
    c = _dct_coefs(x128, v)
    med = np.median(c, axis=1, keepdims=True)
    bits = np.packbits(c > med, axis=1)
    if not with_quality:
        return bits
    # bits whose coefficient lies within STABLE_DELTA of the median flip under compression noise
    q = (np.abs(c - med) > STABLE_DELTA).sum(axis=1)
    return bits, q


def hash_luma(imgs: np.ndarray, variants: bool = True) -> tuple[list[bytes], list[bytes]]:
    """Hash entries (and crop-variant entries) for a stack of 128x128 uint8 luma images.

    Returns (core entries of HASH_BYTES, variant entries of VARIANT_BYTES or [] if not asked)."""
    if imgs.ndim != 3 or imgs.shape[1:] != (_PRE, _PRE):
        raise ValueError("expected (n, 128, 128) luma images")
    x = imgs.astype(np.float32)
    x64 = np.matmul(np.matmul(_BOX32[0], x), _BOX32[0].T)
    mean = x64.mean(axis=(1, 2))
    bits, q = _dct_bits(x, 0, with_quality=True)
    stats = np.stack([np.clip(np.rint(mean), 0, 255), np.clip(q, 0, 255)], 1)
    core = np.concatenate([bits, stats.astype(np.uint8)], 1)
    core_l = [r.tobytes() for r in core]
    if not variants:
        return core_l, []
    parts = []
    for v in range(1, len(_BOX)):
        b, qv = _dct_bits(x, v, with_quality=True)
        parts += [b, np.clip(qv, 0, 255).astype(np.uint8)[:, None]]
    var = np.concatenate(parts, 1)
    return core_l, [r.tobytes() for r in var]


_TLS = threading.local()


def _reduce(frame) -> np.ndarray:
    """128x128 luma by libswscale (area filter).  The reformatter is kept: building a new swscale
    context per frame (what frame.reformat does) costs ~5 ms, a cached one ~0.1 ms."""
    r = getattr(_TLS, "reformatter", None)
    if r is None:
        from av.video.reformatter import VideoReformatter

        r = _TLS.reformatter = VideoReformatter()
    return r.reformat(frame, width=_PRE, height=_PRE, format="gray",
                                 interpolation="AREA").to_ndarray()


def _luma64_from_rgb(img: np.ndarray) -> np.ndarray:
    """64x64 luma of an in-memory frame through the same swscale path as a decoded yuv420p frame
    (rgb -> yuv420p -> 64x64 gray), so in-memory and decoded fingerprints agree."""
    import av

    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise ValueError("frames must be uint8")
    if img.ndim == 2:
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="gray")
    elif img.ndim == 3 and img.shape[2] == 3:
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        f = f.reformat(width=img.shape[1] & ~1, height=img.shape[0] & ~1, format="yuv420p")
    else:
        raise ValueError(f"unsupported frame shape {img.shape}")
    return _reduce(f)


def analyze_frames(frames: Iterable[np.ndarray], fps: float) -> Fingerprint:
    """Fingerprint in-memory frames (RGB uint8 (h, w, 3) or luma (h, w)) at a constant `fps`.

    Same grid and hash as analyze_file, so a clip generated in memory and the file it is encoded to
    give (near-)identical fingerprints."""
    if not fps or fps <= 0 or not math.isfinite(fps):
        raise ValueError("fps must be positive")
    times: list[int] = []
    smalls: list[np.ndarray] = []
    prev = prev_small = None

    def sample_until(limit_ms: float) -> None:
        """Grid points before `limit_ms` show `prev`: sample it (reduced once, however many points)."""
        nonlocal prev_small
        while len(times) * SAMPLE_PERIOD_MS < limit_ms - GRID_TOL_MS:
            if prev_small is None:
                prev_small = _luma64_from_rgb(prev)
            times.append(len(times) * SAMPLE_PERIOD_MS)
            smalls.append(prev_small)
            if len(times) > MAX_SAMPLES:
                raise ValueError("too many frames")

    i = -1
    for i, img in enumerate(frames):
        if prev is not None:
            sample_until(i * 1000.0 / fps)
        prev, prev_small = img, None
    if prev is None:
        raise ValueError("no frames")
    sample_until((i + 1) * 1000.0 / fps)  # the last frame is displayed until its end
    core, var = hash_luma(np.stack(smalls))
    return Fingerprint(ALG, tuple(times), tuple(core), tuple(var))


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
    """Hashes every decoded frame's luma (in decode order) and reduces the sampled frames to
    128x128 luma.  Inline: a background thread was measured slower on 2 cores (it competes with
    the decoder's own threads)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._reduced: dict[int, np.ndarray] = {}

    def put(self, frame, idx: int, sample: bool) -> None:
        if frame.format.name not in _LUMA_FORMATS:
            frame = frame.reformat(format="yuv420p")
        _hash_luma_plane(self._h, frame)
        if sample:
            self._reduced[idx] = _reduce(frame)

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
                    while k * SAMPLE_PERIOD_MS < t_ms - GRID_TOL_MS:
                        times.append(k * SAMPLE_PERIOD_MS)
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
                while k * SAMPLE_PERIOD_MS < end_ms - GRID_TOL_MS:
                    times.append(k * SAMPLE_PERIOD_MS)
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
        core, var = hash_luma(np.stack([reduced[i] for i in sample_idx]))
        fp = Fingerprint(ALG, tuple(times), tuple(core), tuple(var))
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
