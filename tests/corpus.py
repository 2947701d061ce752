"""Synthetic video corpus for the fingerprint/match tests and benches.

Everything is procedural (numpy) and encoded with PyAV, deterministic by seed.  Two families of
content: "flat" generator-like clips (coloured shapes moving over a plain, striped or gradient
background) and "natural"-looking ones (a camera panning over a procedural multi-octave texture,
lighting drifting).  Transformations are applied the way an adversary or a re-uploader would:
decode the registered file, change the frames, encode again.

`build_corpus(dir)` returns the list of `Case`s used by bench/fingerprint_accuracy.py; the unit
tests call the smaller helpers directly with small sizes so they stay fast.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterable, Iterator, Sequence

import av
import numpy as np

# ---------------------------------------------------------------------------------------- content


def _smooth_noise(rng: np.random.Generator, h: int, w: int, octaves: int = 5) -> np.ndarray:
    """Multi-octave value noise in [0, 1], shape (h, w)."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        gh, gw = 3 * 2**o + 1, 3 * 2**o + 1
        grid = rng.random((gh, gw), dtype=np.float32)
        ys = np.linspace(0, gh - 1, h, dtype=np.float32)
        xs = np.linspace(0, gw - 1, w, dtype=np.float32)
        y0 = np.floor(ys).astype(int).clip(0, gh - 2)
        x0 = np.floor(xs).astype(int).clip(0, gw - 2)
        fy = (ys - y0)[:, None]
        fx = (xs - x0)[None, :]
        fy = fy * fy * (3 - 2 * fy)
        fx = fx * fx * (3 - 2 * fx)
        a = grid[y0][:, x0]
        b = grid[y0][:, x0 + 1]
        c = grid[y0 + 1][:, x0]
        d = grid[y0 + 1][:, x0 + 1]
        out += amp * ((a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy)
        total += amp
        amp *= 0.55
    return out / total


@dataclass
class Scene:
    """A deterministic procedural scene; `frame(t)` renders an RGB uint8 frame at time t seconds."""

    kind: str
    seed: int
    width: int
    height: int
    _state: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        h, w = self.height, self.width
        st = self._state
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        st["yy"], st["xx"] = yy, xx
        if self.kind in ("flat", "striped", "gradient"):
            bg_col = rng.integers(0, 256, 3).astype(np.float32)
            if self.kind == "flat":
                bg = np.broadcast_to(bg_col, (h, w, 3)).copy()
            elif self.kind == "striped":
                col2 = rng.integers(0, 256, 3).astype(np.float32)
                period = rng.uniform(0.06, 0.2) * w
                ang = rng.uniform(0, np.pi)
                ph = (xx * np.cos(ang) + yy * np.sin(ang)) / period
                m = (np.floor(ph) % 2)[..., None]
                bg = bg_col * m + col2 * (1 - m)
            else:
                col2 = rng.integers(0, 256, 3).astype(np.float32)
                ang = rng.uniform(0, 2 * np.pi)
                g = (xx / w - 0.5) * np.cos(ang) + (yy / h - 0.5) * np.sin(ang) + 0.5
                g = g.clip(0, 1)[..., None]
                bg = bg_col * g + col2 * (1 - g)
            st["bg"] = bg.astype(np.float32)
            shapes = []
            for _ in range(int(rng.integers(1, 4))):
                shapes.append(
                    dict(
                        kind=rng.choice(["circle", "rect"]),
                        col=rng.integers(0, 256, 3).astype(np.float32),
                        r=rng.uniform(0.08, 0.22) * min(w, h),
                        p0=rng.uniform(0.2, 0.8, 2) * (w, h),
                        v=rng.uniform(-0.12, 0.12, 2) * (w, h),  # per second
                        wob=rng.uniform(0.5, 2.0),
                    )
                )
            st["shapes"] = shapes
        elif self.kind == "natural":
            # big canvas, the camera pans across it
            ch, cw = int(h * 1.8), int(w * 1.8)
            n1 = _smooth_noise(rng, ch, cw, 6)
            n2 = _smooth_noise(rng, ch, cw, 4)
            n3 = _smooth_noise(rng, ch, cw, 3)
            tex = np.stack([n1, 0.6 * n1 + 0.4 * n2, 0.5 * n1 + 0.5 * n3], -1)
            tex = (tex - tex.min()) / (np.ptp(tex) + 1e-6)
            st["canvas"] = (tex * 235 + 10).astype(np.float32)
            st["pan0"] = rng.uniform(0.05, 0.6, 2) * (cw - w, ch - h)
            st["panv"] = rng.uniform(-0.06, 0.06, 2) * (w, h)
            st["light"] = rng.uniform(0.2, 1.0)
            st["blob"] = dict(
                col=rng.integers(0, 256, 3).astype(np.float32),
                r=rng.uniform(0.1, 0.2) * min(w, h),
                p0=rng.uniform(0.3, 0.7, 2) * (w, h),
                v=rng.uniform(-0.1, 0.1, 2) * (w, h),
            )
        else:
            raise ValueError(self.kind)

    def frame(self, t: float) -> np.ndarray:
        st, h, w = self._state, self.height, self.width
        yy, xx = st["yy"], st["xx"]
        if self.kind == "natural":
            canvas = st["canvas"]
            ch, cw = canvas.shape[:2]
            px, py = st["pan0"] + st["panv"] * t
            px = int(round(float(np.clip(px, 0, cw - w))))
            py = int(round(float(np.clip(py, 0, ch - h))))
            img = canvas[py : py + h, px : px + w].copy()
            img *= 0.85 + 0.15 * np.sin(st["light"] * t)
            b = st["blob"]
            cx, cy = b["p0"] + b["v"] * t
            m = (((xx - cx) ** 2 + (yy - cy) ** 2) < b["r"] ** 2)[..., None]
            img = np.where(m, 0.5 * img + 0.5 * b["col"], img)
        else:
            img = st["bg"].copy()
            for s in st["shapes"]:
                cx, cy = s["p0"] + s["v"] * t + 0.05 * np.array([w, h]) * np.sin(s["wob"] * t)
                cx = cx % w
                cy = cy % h
                if s["kind"] == "circle":
                    m = ((xx - cx) ** 2 + (yy - cy) ** 2) < s["r"] ** 2
                else:
                    m = (np.abs(xx - cx) < s["r"]) & (np.abs(yy - cy) < 0.6 * s["r"])
                img[m] = s["col"]
        return img.clip(0, 255).astype(np.uint8)

    def frames(self, seconds: float, fps: float) -> Iterator[np.ndarray]:
        n = int(round(seconds * fps))
        for i in range(n):
            yield self.frame(i / fps)


# ---------------------------------------------------------------------------------- encode/decode


def write_video(
    path: str,
    frames: Iterable[np.ndarray],
    fps: float = 30,
    codec: str = "libx264",
    bit_rate: int | None = None,
    crf: int | None = None,
    preset: str = "veryfast",
) -> str:
    """Encode RGB uint8 frames to `path` (container chosen by its extension)."""
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(path, "w") as out:
        st = None
        for img in frames:
            if st is None:
                h, w = img.shape[:2]
                st = out.add_stream(codec, rate=rate)
                st.width, st.height = w - w % 2, h - h % 2
                st.pix_fmt = "yuv420p"
                opts = {}
                if codec == "libx264":
                    opts["preset"] = preset
                    if crf is not None:
                        opts["crf"] = str(crf)
                elif codec == "libvpx-vp9":
                    opts.update({"deadline": "realtime", "cpu-used": "8", "row-mt": "1"})
                    if crf is not None:
                        opts["crf"] = str(crf)
                        if bit_rate is None:
                            opts["b"] = "0"
                if bit_rate is not None:
                    st.bit_rate = bit_rate
                st.options = opts
            img = np.ascontiguousarray(img[: st.height, : st.width])
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        if st is None:
            raise ValueError("no frames")
        for p in st.encode():
            out.mux(p)
    return path


def read_frames(path: str) -> tuple[list[np.ndarray], float]:
    """Decode every frame as RGB uint8; returns (frames, fps)."""
    with av.open(path) as c:
        st = c.streams.video[0]
        fps = float(st.average_rate or st.guessed_rate or 30)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(st)]
    return frames, fps


def remux(src: str, dst: str) -> str:
    """Copy the video bitstream into another container without re-encoding."""
    with av.open(src) as i, av.open(dst, "w") as o:
        ist = i.streams.video[0]
        ost = o.add_stream_from_template(ist)
        for p in i.demux(ist):
            if p.dts is None:
                continue
            p.stream = ost
            o.mux(p)
    return dst


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
    return f.reformat(width=w, height=h, interpolation="AREA").to_ndarray()


def _retime(frames: Sequence[np.ndarray], fps_in: float, fps_out: float) -> list[np.ndarray]:
    n_out = int(len(frames) / fps_in * fps_out)
    return [frames[min(len(frames) - 1, int(k / fps_out * fps_in + 1e-6))] for k in range(n_out)]


def _logo(img: np.ndarray) -> np.ndarray:
    """Semi-transparent white badge with a dark glyph, top-right, ~12% of the width."""
    h, w = img.shape[:2]
    lw, lh = max(8, w // 8), max(6, h // 10)
    x0, y0 = w - lw - w // 40, h // 30
    out = img.astype(np.float32)
    out[y0 : y0 + lh, x0 : x0 + lw] = 0.35 * out[y0 : y0 + lh, x0 : x0 + lw] + 0.65 * 255
    gx0, gy0 = x0 + lw // 4, y0 + lh // 4
    out[gy0 : gy0 + lh // 2, gx0 : gx0 + lw // 2] = 30
    return out.clip(0, 255).astype(np.uint8)


def transform(src: str, dst: str, op: str, *, other: str | None = None, codec: str = "libx264",
              bit_rate: int | None = None, crf: int | None = 23) -> str:
    """Decode `src`, apply `op`, encode to `dst`.  `other` is the second clip for splices."""
    frames, fps = read_frames(src)
    n = len(frames)
    h, w = frames[0].shape[:2]
    out_fps = fps
    if op == "reencode":
        pass
    elif op == "half":
        frames = [_resize(f, (w // 2) & ~1, (h // 2) & ~1) for f in frames]
    elif op == "fps24":
        frames = _retime(frames, fps, 24.0)
        out_fps = 24.0
    elif op == "bright":
        frames = [(f.astype(np.float32) * 1.15 + 8).clip(0, 255).astype(np.uint8) for f in frames]
    elif op.startswith("crop"):  # cropN: N% off every edge, scaled back to the original size
        p = int(op[4:]) / 100.0
        dy, dx = int(round(h * p)), int(round(w * p))
        frames = [_resize(f[dy : h - dy, dx : w - dx], w, h) for f in frames]
    elif op == "logo":
        frames = [_logo(f) for f in frames]
    elif op == "trim2":  # drop the first 2 s
        frames = frames[int(round(2 * fps)) :]
    elif op == "excerpt":  # the middle 3 s
        mid = n // 2
        k = int(round(1.5 * fps))
        frames = frames[mid - k : mid + k]
    elif op in ("splice", "insert", "replace"):
        assert other is not None
        of, ofps = read_frames(other)
        if ofps != fps:
            of = _retime(of, ofps, fps)
        of = [f if f.shape[:2] == (h, w) else _resize(f, w, h) for f in of]
        if op == "splice":  # first half of src + second half of other
            frames = frames[: n // 2] + of[len(of) // 2 :]
        elif op == "insert":  # 2 s of other in the middle
            k = int(round(2 * fps))
            frames = frames[: n // 2] + of[:k] + frames[n // 2 :]
        else:  # a central rectangle (50% x 50%) replaced for 2 s in the middle
            k = int(round(2 * fps))
            a = n // 2 - k // 2
            y0, y1, x0, x1 = h // 4, 3 * h // 4, w // 4, 3 * w // 4
            frames = list(frames)
            for i in range(a, a + k):
                f = frames[i].copy()
                f[y0:y1, x0:x1] = of[i % len(of)][y0:y1, x0:x1]
                frames[i] = f
    else:
        raise ValueError(op)
    return write_video(dst, frames, fps=out_fps, codec=codec, bit_rate=bit_rate, crf=crf)


# ---------------------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Case:
    name: str
    query: str          # path of the query clip
    expected: str       # "match" | "altered" | "unregistered"
    records: tuple[str, ...]  # record ids expected among the matches (empty for unregistered)
    offset_ms: int = 0  # record time - query time, for "match" cases


KINDS = ("flat", "striped", "gradient", "natural")


def make_source(dir: str, name: str, kind: str, seed: int, *, width: int = 320, height: int = 180,
                seconds: float = 8.0, fps: float = 30.0, crf: int = 18) -> str:
    path = os.path.join(dir, name + ".mp4")
    write_video(path, Scene(kind, seed, width, height).frames(seconds, fps), fps=fps, crf=crf)
    return path


def build_corpus(dir: str, *, width: int = 320, height: int = 180, seconds: float = 8.0,
                 n_sources: int = 8, n_unrelated: int = 8, seed: int = 1,
                 log: Callable[[str], None] | None = None) -> tuple[dict[str, str], list[Case]]:
    """Registered sources (id -> path) and the query cases built from them.

    Sources cycle through KINDS; each registered source gets every transformation; splices etc.
    pair source i with source i+1 (both registered) or with an unregistered clip."""
    os.makedirs(dir, exist_ok=True)
    sources: dict[str, str] = {}
    for i in range(n_sources):
        kind = KINDS[i % len(KINDS)]
        rid = f"src{i}-{kind}"
        sources[rid] = make_source(dir, rid, kind, seed * 1000 + i, width=width, height=height,
                                   seconds=seconds)
        if log:
            log(f"source {rid}")
    unrelated = []
    for j in range(n_unrelated):
        kind = KINDS[j % len(KINDS)]
        unrelated.append(make_source(dir, f"unrel{j}-{kind}", kind, seed * 1000 + 500 + j,
                                     width=width, height=height, seconds=seconds))
    ids = list(sources)
    cases: list[Case] = []
    J = os.path.join
    for i, rid in enumerate(ids):
        src = sources[rid]
        nxt = ids[(i + 1) % len(ids)]
        foreign = unrelated[i % len(unrelated)]
        q = lambda op: J(dir, f"{rid}.{op}.mp4")  # noqa: E731
        cases.append(Case(f"{rid} remux mkv", remux(src, J(dir, f"{rid}.remux.mkv")), "match", (rid,)))
        cases.append(Case(f"{rid} reencode 100kbps",
                          transform(src, q("lowbr"), "reencode", bit_rate=100_000, crf=None),
                          "match", (rid,)))
        cases.append(Case(f"{rid} half-res 100kbps",
                          transform(src, q("half"), "half", bit_rate=100_000, crf=None), "match", (rid,)))
        cases.append(Case(f"{rid} vp9 webm",
                          transform(src, J(dir, f"{rid}.vp9.webm"), "reencode", codec="libvpx-vp9",
                                    bit_rate=200_000, crf=None), "match", (rid,)))
        cases.append(Case(f"{rid} fps 30->24", transform(src, q("fps24"), "fps24"), "match", (rid,)))
        cases.append(Case(f"{rid} brightness +15%", transform(src, q("bright"), "bright"), "match", (rid,)))
        cases.append(Case(f"{rid} crop 5%", transform(src, q("crop5"), "crop5"), "match", (rid,)))
        cases.append(Case(f"{rid} logo", transform(src, q("logo"), "logo"), "match", (rid,)))
        cases.append(Case(f"{rid} trim first 2s", transform(src, q("trim2"), "trim2"), "match", (rid,), 2000))
        cases.append(Case(f"{rid} excerpt mid 3s", transform(src, q("excerpt"), "excerpt"), "match", (rid,),
                          int(round((seconds / 2 - 1.5) * 1000))))
        cases.append(Case(f"{rid} splice +{nxt}", transform(src, q("splice"), "splice", other=sources[nxt]),
                          "altered", (rid, nxt)))
        cases.append(Case(f"{rid} splice +unregistered",
                          transform(src, q("splice_u"), "splice", other=foreign), "altered", (rid,)))
        cases.append(Case(f"{rid} inserted 2s foreign",
                          transform(src, q("insert"), "insert", other=foreign), "altered", (rid,)))
        cases.append(Case(f"{rid} replaced region 2s",
                          transform(src, q("replace"), "replace", other=foreign), "altered", (rid,)))
        if log:
            log(f"cases for {rid}")
    for j, u in enumerate(unrelated):
        cases.append(Case(f"unrelated {os.path.basename(u)}", u, "unregistered", ()))
    return sources, cases


# ------------------------------------------------------------------------- real-footage families
# Frame-level transformations the way clips travel on social media / are edited; each takes and
# returns RGB uint8 frames.  Parameters come from the caller (seeded), so the same code serves the
# bench's randomised corpus and the tests' fixed cases.


def resize_rgb(img: np.ndarray, w: int, h: int, interp: str = "AREA") -> np.ndarray:
    f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
    return f.reformat(width=max(2, w), height=max(2, h), interpolation=interp).to_ndarray()


def _blur(img: np.ndarray, factor: int = 24) -> np.ndarray:
    h, w = img.shape[:2]
    small = resize_rgb(img, max(2, w // factor), max(2, h // factor))
    return resize_rgb(small, w, h, "BICUBIC")


def on_canvas(frames, cw: int, ch: int, *, scale: float = 1.0, pos: tuple[float, float] = (0.5, 0.5),
              colour=(0, 0, 0), blurred: bool = False) -> list[np.ndarray]:
    """The whole frame, fitted into a cw x ch canvas times `scale`, at relative position `pos`
    (0..1 of the free space), on a plain `colour` or on a blurred, darkened copy of itself."""
    out = []
    h, w = frames[0].shape[:2]
    s = min(cw / w, ch / h) * scale
    nw, nh = max(2, int(round(w * s)) & ~1), max(2, int(round(h * s)) & ~1)
    x0 = int(round((cw - nw) * pos[0]))
    y0 = int(round((ch - nh) * pos[1]))
    for f in frames:
        if blurred:
            cs = max(cw / w, ch / h)
            big = resize_rgb(f, int(np.ceil(w * cs)), int(np.ceil(h * cs)))
            by, bx = (big.shape[0] - ch) // 2, (big.shape[1] - cw) // 2
            canvas = (_blur(big[by:by + ch, bx:bx + cw]).astype(np.float32) * 0.6).astype(np.uint8)
        else:
            canvas = np.empty((ch, cw, 3), np.uint8)
            canvas[:] = colour
        canvas[y0:y0 + nh, x0:x0 + nw] = resize_rgb(f, nw, nh)
        out.append(canvas)
    return out


def content_rect(frames_shape, cw: int, ch: int, scale: float = 1.0, pos=(0.5, 0.5)) -> tuple:
    """Where on_canvas puts the clip, as (x, y, w, h) fractions of the canvas."""
    h, w = frames_shape
    s = min(cw / w, ch / h) * scale
    nw, nh = max(2, int(round(w * s)) & ~1), max(2, int(round(h * s)) & ~1)
    x0, y0 = int(round((cw - nw) * pos[0])), int(round((ch - nh) * pos[1]))
    return (x0 / cw, y0 / ch, nw / cw, nh / ch)


def screen_recording(frames, fps_in: float, fps_out: float, rng: np.random.Generator, *,
                     moving_desktop: bool = False, width: int = 960, height: int = 540,
                     chrome_like_clip: bool = False) -> list[np.ndarray]:
    """The clip playing at ~60-80% of the screen width inside a window (title bar, border) on a
    textured desktop (static, or slowly drifting), recorded at another frame rate.
    chrome_like_clip: the window chrome has the colour of the clip's top rows (no edge between
    the title bar and the picture)."""
    frames = _retime(frames, fps_in, fps_out)
    h, w = frames[0].shape[:2]
    scale = rng.uniform(0.6, 0.8)
    nw = int(width * scale) & ~1
    nh = int(round(nw * h / w)) & ~1
    if nh > height - 60:  # too tall for the screen: smaller, aspect kept (players never stretch)
        nh = (height - 60) & ~1
        nw = int(round(nh * w / h)) & ~1
    x0 = int(rng.integers(10, max(11, width - nw - 10)))
    y0 = int(rng.integers(30, max(31, height - nh - 10)))
    wall_rng = np.random.default_rng(int(rng.integers(1 << 30)))
    tex = _smooth_noise(wall_rng, height + 64, width + 64, 5)
    wall = (np.stack([tex * 120 + 40, tex * 90 + 70, tex * 60 + 110], -1)).clip(0, 255).astype(np.uint8)
    for _ in range(8):  # desktop icons
        iy, ix = int(wall_rng.integers(0, height)), int(wall_rng.integers(0, 60))
        wall[iy:iy + 28, ix:ix + 28] = wall_rng.integers(0, 256, 3)
    chrome = np.array([225, 225, 228], np.uint8)
    if chrome_like_clip:
        chrome = frames[0][: max(1, h // 20)].reshape(-1, 3).mean(0).round().astype(np.uint8)
    out = []
    for k, f in enumerate(frames):
        d = int(k * 0.5) % 64 if moving_desktop else 0
        canvas = wall[d:d + height, d:d + width].copy()
        canvas[y0 - 26:y0 + nh + 2, x0 - 2:x0 + nw + 2] = chrome
        canvas[y0 - 18:y0 - 8, x0 + 6:x0 + 16] = (230, 80, 70)  # window buttons
        canvas[y0 - 18:y0 - 8, x0 + 22:x0 + 32] = (230, 190, 60)
        canvas[y0 - 18:y0 - 8, x0 + 80:x0 + 80 + nw // 3] = (120, 120, 120)  # title text
        canvas[y0:y0 + nh, x0:x0 + nw] = resize_rgb(f, nw, nh)
        cx, cy = int(width * (0.3 + 0.4 * np.sin(k / 17))), int(height * (0.5 + 0.3 * np.cos(k / 23)))
        canvas[cy:cy + 14, cx:cx + 9] = 255  # mouse pointer
        out.append(canvas)
    return out


def speed(frames, fps: float, factor: float) -> list[np.ndarray]:
    """Played `factor` times faster (0.75 = slower), same output frame rate."""
    n_out = max(1, int(len(frames) / factor))
    return [frames[min(len(frames) - 1, int(k * factor + 1e-6))] for k in range(n_out)]


def grade(frames, kind: str, amount: float) -> list[np.ndarray]:
    out = []
    for f in frames:
        x = f.astype(np.float32)
        if kind == "grey":
            y = x @ np.array([0.299, 0.587, 0.114], np.float32)
            x = np.repeat(y[..., None], 3, -1)
        elif kind == "gamma":
            x = 255.0 * (x / 255.0) ** amount
        elif kind == "contrast":
            x = (x - 128.0) * amount + 128.0
        elif kind == "saturation":
            y = (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
            x = y + (x - y) * amount
        else:
            raise ValueError(kind)
        out.append(x.clip(0, 255).astype(np.uint8))
    return out


def subtitles(frames, fps: float) -> list[np.ndarray]:
    """A burnt-in subtitle band: dark box at the bottom with white word blocks, new line every 2 s."""
    h, w = frames[0].shape[:2]
    out = []
    for k, f in enumerate(frames):
        g = f.copy()
        line = int(k / fps / 2)
        rng = np.random.default_rng(line)
        y0, y1 = int(h * 0.82), int(h * 0.93)
        x0, x1 = int(w * 0.15), int(w * 0.85)
        g[y0:y1, x0:x1] = (g[y0:y1, x0:x1].astype(np.float32) * 0.3).astype(np.uint8)
        x = x0 + w // 50
        while x < x1 - w // 20:
            ww = int(rng.integers(w // 30, w // 10))
            g[y0 + (y1 - y0) // 4:y1 - (y1 - y0) // 4, x:min(x + ww, x1 - 4)] = 240
            x += ww + w // 60
        out.append(g)
    return out


def replace_region(frames, other, rect_px: tuple[int, int, int, int], start: int, count: int) -> list[np.ndarray]:
    """Frames [start, start+count) get the rectangle (x, y, w, h) in pixels from `other`'s frames
    (same place, other content resized to the frame): a face-sized swap."""
    h, w = frames[0].shape[:2]
    x, y, rw, rh = rect_px
    frames = list(frames)
    for i in range(start, min(len(frames), start + count)):
        o = other[i % len(other)]
        if o.shape[:2] != (h, w):
            o = resize_rgb(o, w, h)
        f = frames[i].copy()
        f[y:y + rh, x:x + rw] = o[y:y + rh, x:x + rw]
        frames[i] = f
    return frames


def rotate_zoom(frames, degrees: float, zoom: float) -> list[np.ndarray]:
    from PIL import Image

    out = []
    for f in frames:
        h, w = f.shape[:2]
        im = Image.fromarray(f).rotate(degrees, resample=Image.BILINEAR)
        cw, ch = w / zoom, h / zoom
        im = im.crop((int((w - cw) / 2), int((h - ch) / 2), int((w + cw) / 2), int((h + ch) / 2)))
        out.append(np.asarray(im.resize((w, h), Image.BILINEAR)))
    return out


def picture_in_picture(frames, background, frac: float = 0.4, pos=(0.9, 0.1)) -> list[np.ndarray]:
    """The clip at `frac` of the width over other footage (background frames, cycled)."""
    h, w = background[0].shape[:2]
    fh, fw = frames[0].shape[:2]
    nw = int(w * frac) & ~1
    nh = int(round(nw * fh / fw)) & ~1
    x0, y0 = int((w - nw) * pos[0]), int((h - nh) * pos[1])
    out = []
    for k, f in enumerate(frames):
        g = background[k % len(background)].copy()
        g[y0:y0 + nh, x0:x0 + nw] = resize_rgb(f, nw, nh)
        out.append(g)
    return out


def centre_crop_916(frames) -> list[np.ndarray]:
    """A 9:16 centre crop of a 16:9 frame: a third of the width kept."""
    h, w = frames[0].shape[:2]
    cw = int(round(h * 9 / 16)) & ~1
    x0 = (w - cw) // 2
    return [np.ascontiguousarray(f[:, x0:x0 + cw]) for f in frames]
