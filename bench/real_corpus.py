"""Real-footage query corpus: every transformation family of issue 11, built deterministically
from real camera clips (default: /work/shared/realfootage, see its SOURCES.md).

Each clip becomes a registered source (at most --seconds long, at most 960 px wide, H.264 crf 18);
every family is applied to it with parameters drawn from a seeded generator (canvas colour and
position, scale, speed in [0.75, 1.33], excerpt start, swap rectangle ...), so another --seed or
other clips give another corpus of the same families.  Clips are split into `dev` (tuned on) and
`heldout` (only reported) by name.  Unrelated-clip negatives come for free at evaluation time:
every query is also checked with its own source left out of the registry.

    .venv/bin/python bench/real_corpus.py OUTDIR [--src DIR] [--seed 11] [--seconds 8]

writes OUTDIR/cases.json (read by bench/fingerprint_accuracy.py) and the clips.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from tests import corpus as C  # noqa: E402

DEV = ("box", "bikes", "cockatoo", "movie-hello")  # everything else is held out

# families whose copy must read `match`; overlays may read `altered` with the overlay's region
CORE = ("reencode", "downscale-fps", "mirror", "canvas-colour-9x16", "canvas-blur-9x16", "bars",
        "canvas-anywhere", "screen-static", "screen-moving", "speed-slow", "speed-fast", "grey", "gamma",
        "contrast", "saturation", "thumb128", "excerpt")
OVERLAY = ("subtitles", "logo")
ALTERED = ("swap", "splice")
STRETCH = ("crop-9x16", "rotate-zoom", "pip40")


@dataclass
class RealCase:
    name: str
    family: str
    clip: str
    split: str
    query: str
    expected: str  # match | overlay | altered | stretch
    source: str  # record id of the clip it was made from
    params: dict = field(default_factory=dict)
    region: tuple | None = None  # swap: (x, y, w, h) fractions of the query frame
    span_s: tuple | None = None  # swap: (start, end) seconds in the query


def load_source(path: str, seconds: float, max_w: int = 960) -> tuple[list[np.ndarray], float]:
    frames, fps = C.read_frames(path)
    name = os.path.basename(path)
    start = int(20 * fps) if name.startswith("vtest") else 0  # skip vtest's empty first seconds
    frames = frames[start:start + int(round(seconds * fps))]
    h, w = frames[0].shape[:2]
    if w > max_w:
        nw, nh = max_w, int(round(h * max_w / w)) & ~1
        frames = [C.resize_rgb(f, nw, nh) for f in frames]
    return frames, fps


def draw_swap(rng: np.random.Generator, w: int, h: int, n_frames: int, fps: float):
    """A face-sized swap: a rectangle (x, y, w, h pixels) of 4-9% of the frame, aspect 0.75-1.33,
    anywhere, replaced from frame `start` for `count` frames (1-2 s)."""
    area = float(rng.uniform(0.04, 0.09))
    asp = float(rng.uniform(0.75, 1.33))
    rw = min(w - 2, int(round(np.sqrt(area * asp) * w * np.sqrt(h / w))))
    rh = min(h - 2, int(round(area * w * h / max(1, rw))))
    x0, y0 = int(rng.integers(0, w - rw)), int(rng.integers(0, h - rh))
    count = int(round(float(rng.uniform(1.0, 2.0)) * fps))
    start = int(rng.integers(0, max(1, n_frames - count)))
    return (x0, y0, rw, rh), start, count


def build(out: str, src_dir: str, seed: int = 11, seconds: float = 8.0, log=print) -> list[RealCase]:
    os.makedirs(out, exist_ok=True)
    paths = sorted(p for p in glob.glob(os.path.join(src_dir, "*")) if p.lower().endswith((".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg")))
    clips = {}
    for p in paths:
        name = os.path.splitext(os.path.basename(p))[0]
        name = "dog" if name.startswith("VID_") else name
        clips[name] = load_source(p, seconds)
    names = sorted(clips)
    cases: list[RealCase] = []
    for ci, name in enumerate(names):
        frames, fps = clips[name]
        split = "dev" if name in DEV else "heldout"
        rng = np.random.default_rng([seed, ci])
        rid = f"src-{name}"
        src = C.write_video(os.path.join(out, rid + ".mp4"), frames, fps=fps, crf=18)
        h, w = frames[0].shape[:2]
        other_name = names[(ci + 1) % len(names)]
        other = clips[other_name][0]
        J = lambda fam, ext="mp4": os.path.join(out, f"{name}.{fam}.{ext}")  # noqa: E731

        def add(fam, qframes, qfps, expected, params=None, **kw):
            t = time.perf_counter()
            path = C.write_video(J(fam), qframes, fps=qfps, crf=kw.pop("crf", 23))
            cases.append(RealCase(f"{name} {fam}", fam, name, split, path, expected, rid, params or {}, **kw))
            log(f"  {name} {fam} ({time.perf_counter() - t:.1f} s)")

        log(f"{name}: {w}x{h} {fps:.2f} fps {len(frames)} frames ({split})")
        cases.append(RealCase(f"{name} remux", "remux", name, split, C.remux(src, J("remux", "mkv")), "match", rid))
        crf = int(rng.integers(28, 37))
        add("reencode", frames, fps, "match", {"crf": crf}, crf=crf)
        sc = float(rng.uniform(0.4, 0.7))
        nfps = float(rng.choice([15.0, 24.0, 25.0]))
        add("downscale-fps", [C.resize_rgb(f, int(w * sc) & ~1, int(h * sc) & ~1) for f in C._retime(frames, fps, nfps)],
            nfps, "match", {"scale": sc, "fps": nfps})
        add("mirror", [np.ascontiguousarray(f[:, ::-1]) for f in frames], fps, "match")
        col = tuple(int(x) for x in rng.integers(0, 256, 3))
        pos = (float(rng.uniform(0, 1)), float(rng.uniform(0, 1)))
        scale = float(rng.uniform(0.8, 1.0))
        add("canvas-colour-9x16", C.on_canvas(frames, 540, 960, scale=scale, pos=pos, colour=col), fps, "match",
            {"colour": col, "pos": pos, "scale": scale})
        add("canvas-blur-9x16", C.on_canvas(frames, 540, 960, blurred=True, pos=(0.5, float(rng.uniform(0.3, 0.7)))),
            fps, "match")
        if w / h > 1.5:  # letterbox a wide clip into 4:3, pillarbox a narrow one into 16:9
            add("bars", C.on_canvas(frames, 640, 480), fps, "match", {"kind": "letterbox"})
        else:
            add("bars", C.on_canvas(frames, 854, 480), fps, "match", {"kind": "pillarbox"})
        col = tuple(int(x) for x in rng.integers(0, 256, 3))
        scale = float(rng.uniform(0.5, 0.8))
        pos = (float(rng.uniform(0, 1)), float(rng.uniform(0, 1)))
        add("canvas-anywhere", C.on_canvas(frames, 960, 540, scale=scale, pos=pos, colour=col), fps, "match",
            {"colour": col, "pos": pos, "scale": scale})
        sfps = float(rng.choice([24.0, 25.0, 30.0]))
        add("screen-static", C.screen_recording(frames, fps, sfps, rng), sfps, "match", {"fps": sfps})
        add("screen-moving", C.screen_recording(frames, fps, sfps, rng, moving_desktop=True), sfps, "match",
            {"fps": sfps})
        for fam, lo, hi in (("speed-slow", 0.75, 0.9), ("speed-fast", 1.1, 1.33)):
            f = float(rng.uniform(lo, hi))
            add(fam, C.speed(frames, fps, f), fps, "match", {"factor": f})
        add("grey", C.grade(frames, "grey", 0), fps, "match")
        g = float(rng.choice([rng.uniform(0.6, 0.85), rng.uniform(1.2, 1.6)]))
        add("gamma", C.grade(frames, "gamma", g), fps, "match", {"gamma": g})
        c = float(rng.choice([rng.uniform(0.6, 0.8), rng.uniform(1.2, 1.4)]))
        add("contrast", C.grade(frames, "contrast", c), fps, "match", {"contrast": c})
        s = float(rng.choice([rng.uniform(0.2, 0.6), rng.uniform(1.4, 1.8)]))
        add("saturation", C.grade(frames, "saturation", s), fps, "match", {"saturation": s})
        add("thumb128", [C.resize_rgb(f, 128, int(round(128 * h / w)) & ~1) for f in frames], fps, "match")
        dur_n = len(frames) / fps
        if dur_n >= 2.5:
            d = float(rng.uniform(2.0, min(3.0, dur_n - 0.2)))
            st = float(rng.uniform(0, dur_n - d))
            a = int(round(st * fps))
            add("excerpt", frames[a:a + int(round(d * fps))], fps, "match", {"start_s": st, "dur_s": d})
        add("subtitles", C.subtitles(frames, fps), fps, "overlay")
        add("logo", [C._logo(f) for f in frames], fps, "overlay")
        # face-sized swap: 4-9% of the frame, for 1-2 s
        (x0, y0, rw, rh), start, cnt = draw_swap(rng, w, h, len(frames), fps)
        add("swap", C.replace_region(frames, other, (x0, y0, rw, rh), start, cnt), fps, "altered",
            {"area": rw * rh / (w * h), "dur_s": cnt / fps}, region=(x0 / w, y0 / h, rw / w, rh / h),
            span_s=(start / fps, (start + cnt) / fps))
        half = len(frames) // 2
        of = [C.resize_rgb(f, w, h) for f in C._retime(other, clips[other_name][1], fps)]
        if len(frames) / fps >= 3:
            add("splice", frames[:half] + of[len(of) // 2:], fps, "altered", {"other": other_name})
        if w / h > 1.2:
            add("crop-9x16", C.centre_crop_916(frames), fps, "stretch")
        deg = float(rng.uniform(2, 5)) * float(rng.choice([-1, 1]))
        add("rotate-zoom", C.rotate_zoom(frames, deg, 1.0 + abs(deg) / 40 + 0.03), fps, "stretch", {"degrees": deg})
        add("pip40", C.picture_in_picture(frames, of), fps, "stretch")
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"seed": seed, "sources": {f"src-{n}": os.path.join(out, f"src-{n}.mp4") for n in names},
                   "cases": [asdict(c) for c in cases]}, f, indent=1)
    return cases


# the excerpts carried in tests/data/realfootage (tests never read ../shared): name -> (file, start s)
EXCERPTS = {"box": ("box.mp4", 4.0, 320), "cockatoo": ("cockatoo.mp4", 2.0, 320), "cup": ("cup.mp4", 1.0, 320),
            "bikes": ("bikes.mp4", 0.0, 480)}  # bikes is 2.35:1: 480 px keeps it 204 px tall
EXCERPT_SECONDS = 4.0


def make_excerpts(src_dir: str, out_dir: str) -> list[str]:
    """4 s of each EXCERPTS clip at 320 (480) px wide, H.264 crf 20: small, still real camera footage."""
    os.makedirs(out_dir, exist_ok=True)
    out = []
    for name, (fname, start, width) in EXCERPTS.items():
        frames, fps = C.read_frames(os.path.join(src_dir, fname))
        a = int(round(start * fps))
        frames = frames[a:a + int(round(EXCERPT_SECONDS * fps))]
        h, w = frames[0].shape[:2]
        nh = int(round(h * width / w)) & ~1
        frames = [C.resize_rgb(f, width, nh) for f in frames]
        out.append(C.write_video(os.path.join(out_dir, name + ".mp4"), frames, fps=fps, crf=20, preset="slow"))
    return out


def load(out: str) -> tuple[dict[str, str], list[RealCase]]:
    with open(os.path.join(out, "cases.json")) as f:
        d = json.load(f)
    return d["sources"], [RealCase(**{**c, "region": tuple(c["region"]) if c["region"] else None,
                                       "span_s": tuple(c["span_s"]) if c["span_s"] else None}) for c in d["cases"]]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--src", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                                                   "realfootage"))
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--excerpts", action="store_true", help="write the test excerpts to OUT instead")
    a = ap.parse_args()
    if a.excerpts:
        for p in make_excerpts(a.src, a.out):
            print(p, os.path.getsize(p))
        return 0
    t = time.perf_counter()
    cases = build(a.out, a.src, a.seed, a.seconds)
    print(f"{len(cases)} cases in {time.perf_counter() - t:.0f} s -> {a.out}/cases.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
