"""Prompt-adherence scorer: reads generated frames back and checks them against the prompt.

Per clip (frames at any resolution, analysed at 64x64):
  * background = per-pixel temporal median; the object = the largest connected region that differs
    from it (so a frozen object is, correctly, not found and the clip scores as not moving);
  * colour: median RGB of the object's core pixels, nearest named colour;
  * shape: best IoU of the object mask against a circle / square / triangle template of the same
    area centred on the object's centroid;
  * motion: the centroid track; `moving` when it spans >= 8 px (of 64); the direction is right when
    the motion lies mainly along the prompt's axis and the first second goes the named way.
A clip adheres to its prompt when colour, shape and direction are all right.

    python -m provchain.generator.score [--seeds 1] [--out results.json]   # held-out evaluation
    python -m provchain.generator.score --prompts bench/heldout_paraphrases.json   # plain-words prompts
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from . import data as D

DIFF_THRESHOLD = 60.0  # Euclidean RGB distance from the background
MIN_AREA = 12
MOVE_PX = 8.0


def downscale(frames: np.ndarray, size: int = D.SIZE) -> np.ndarray:
    """Area-average uint8 (T, H, W, 3) -> float32 (T, size, size, 3) (H, W multiples of size)."""
    t, h, w, _ = frames.shape
    if h == size and w == size:
        return frames.astype(np.float32)
    if h % size or w % size:
        idx_y = (np.arange(size) * h) // size
        idx_x = (np.arange(size) * w) // size
        return frames[:, idx_y][:, :, idx_x].astype(np.float32)
    fy, fx = h // size, w // size
    return frames.reshape(t, size, fy, size, fx, 3).astype(np.float32).mean(axis=(2, 4))


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Largest 4-connected True region of a 2-D bool mask."""
    h, w = mask.shape
    seen = np.zeros_like(mask)
    best: list[tuple[int, int]] = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        comp = []
        q = deque([(y0, x0)])
        seen[y0, x0] = True
        while q:
            y, x = q.popleft()
            comp.append((y, x))
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    q.append((ny, nx))
        if len(comp) > len(best):
            best = comp
    out = np.zeros_like(mask)
    if best:
        ys, xs = zip(*best)
        out[list(ys), list(xs)] = True
    return out


_AREA_PER_R2 = {"circle": np.pi, "square": (2 * 0.88) ** 2, "triangle": 3 * np.sqrt(3) / 4 * 1.3**2}


def classify_shape(mask: np.ndarray) -> tuple[str, dict[str, float]]:
    ys, xs = np.nonzero(mask)
    cx, cy, area = xs.mean(), ys.mean(), float(mask.sum())
    ious = {}
    for shape in D.SHAPES:
        r = np.sqrt(area / _AREA_PER_R2[shape])
        tpl = D.shape_coverage(shape, float(cx), float(cy), float(r)) > 0.5
        inter = float((tpl & mask).sum())
        ious[shape] = inter / max(1.0, float((tpl | mask).sum()))
    return max(ious, key=ious.get), ious


def classify_colour(rgb: np.ndarray, palette: dict[str, tuple[int, int, int]] = D.COLOURS) -> str:
    names = list(palette)
    ref = np.array([palette[n] for n in names], dtype=np.float32)
    return names[int(np.argmin(((ref - rgb[None]) ** 2).sum(1)))]


@dataclass
class ClipScore:
    prompt: str
    detected_frames: int
    frames: int
    colour: str | None
    shape: str | None
    bg_colour: str | None
    track_span_px: float
    moving: bool
    colour_ok: bool
    shape_ok: bool
    direction_ok: bool
    bg_colour_ok: bool
    adherent: bool


def score_clip(frames: np.ndarray, prompt: str, want: dict | None = None) -> ClipScore:
    """`want`: what the clip must show (colour, shape, direction, bg_colour); by default read from a
    template prompt with data.parse_prompt. Labelled prompts (a paraphrase set) pass it explicitly,
    so the scorer never relies on the prompt parser it is measuring."""
    want = want or D.parse_prompt(prompt)
    f = downscale(np.asarray(frames))
    T = len(f)
    bg = np.median(f, axis=0)
    dist = np.sqrt(((f - bg[None]) ** 2).sum(-1))
    cents, colours, masks = [], [], []
    for t in range(T):
        m = largest_component(dist[t] > DIFF_THRESHOLD)
        if m.sum() >= MIN_AREA:
            ys, xs = np.nonzero(m)
            cents.append((t, xs.mean(), ys.mean()))
            core = m & (dist[t] > 1.5 * DIFF_THRESHOLD)
            colours.append(np.median(f[t][core if core.sum() >= 4 else m], axis=0))
            masks.append(m)
    bg_colour = classify_colour(bg.reshape(-1, 3).mean(0),
                                {k: tuple(0.6 * np.array(v)) for k, v in D.BG_COLOURS.items()})
    if len(cents) < max(2, T // 2):
        return ClipScore(prompt, len(cents), T, None, None, bg_colour, 0.0, False, False, False, False,
                         bg_colour == want["bg_colour"], False)
    colour = classify_colour(np.median(np.stack(colours), axis=0))
    votes: dict[str, int] = {}
    for m in masks:
        s, _ = classify_shape(m)
        votes[s] = votes.get(s, 0) + 1
    shape = max(votes, key=votes.get)
    c = np.array(cents)
    span = np.ptp(c[:, 1:], axis=0)  # x span, y span
    moving = bool(span.max() >= MOVE_PX)
    direction_ok = False
    if want["direction"] is not None and moving:
        dx, dy = D.DIRECTION_VEC[want["direction"]]
        axis = 0 if dx != 0 else 1
        sign = dx if dx != 0 else dy
        along, across = span[axis], span[1 - axis]
        first = c[0]
        later = c[c[:, 0] <= first[0] + D.FPS]  # the first second of the track
        disp = later[-1, 1 + axis] - first[1 + axis]
        direction_ok = bool(along >= MOVE_PX and along >= 2 * across and disp * sign >= 4.0)
    colour_ok = colour == want["colour"] if want["colour"] else True
    shape_ok = shape == want["shape"] if want["shape"] else True
    return ClipScore(prompt, len(cents), T, colour, shape, bg_colour, float(span.max()), moving,
                     bool(colour_ok), bool(shape_ok), direction_ok, bg_colour == want["bg_colour"],
                     bool(colour_ok and shape_ok and direction_ok))


def summarise(scores: list[ClipScore]) -> dict:
    n = len(scores)
    frac = lambda k: round(sum(getattr(s, k) for s in scores) / max(1, n), 4)  # noqa: E731
    colour_dir = round(sum(s.colour_ok and s.direction_ok for s in scores) / max(1, n), 4)
    return {"clips": n, "adherence": frac("adherent"), "moving": frac("moving"),
            "colour_and_direction_ok": colour_dir,
            "colour_ok": frac("colour_ok"), "shape_ok": frac("shape_ok"),
            "direction_ok": frac("direction_ok"), "bg_colour_ok": frac("bg_colour_ok")}


def evaluate(gen, prompts: list[str], seeds: list[int], seconds: float = 4.0, log=None,
             batch: int = 16, sampling=None, wants: list[dict] | None = None) -> dict:
    """Score gen on prompts x seeds. Clips are sampled `batch` prompts at a time through the same
    sampler as Generator.generate (same settings), which is much faster on a CPU; batch=1
    reproduces generate() exactly."""
    from .model import conditioning
    from .sample import DEFAULT_SAMPLING, sample_tokens

    sampling = sampling or DEFAULT_SAMPLING
    n_frames = gen.frames_for(seconds)
    scores, t0 = [], time.time()
    for seed in seeds:
        for i in range(0, len(prompts), batch):
            chunk = prompts[i:i + batch]
            ids = [conditioning(p, seed * 100003 + i + k) for k, p in enumerate(chunk)]
            grids, bgs = sample_tokens(gen.model, ids, n_frames, seed * 100003 + i, sampling,
                                       return_background=True)
            for k, (p, g, bg) in enumerate(zip(chunk, grids, bgs)):
                frames = gen.tokenizer.render(bg, g)
                scores.append(score_clip(frames, p, wants[i + k] if wants else None))
                if log:
                    log(f"[{len(scores)}/{len(prompts) * len(seeds)}] {p} seed={seed} -> "
                        f"{'OK ' if scores[-1].adherent else 'bad'} {asdict(scores[-1])}")
    out = summarise(scores)
    out["seconds_per_clip"] = round((time.time() - t0) / max(1, len(scores)), 2)
    out["clip_seconds"] = seconds
    out["seeds"] = seeds
    out["batch"] = batch
    out["sampling"] = sampling.settings()
    out["per_clip"] = [asdict(s) for s in scores]
    return out


def tokenizer_ceiling(gen, prompts: list[str], seconds: float = 4.0, seed: int = 3) -> dict:
    """The same scorer on ground-truth renders of the prompts and on their layers passed through
    the tokenizer (encode + render): the best adherence any transformer could reach with it."""
    rng = np.random.default_rng(seed)
    n = gen.frames_for(seconds)
    raw, rec = [], []
    for p in prompts:
        a = D.parse_prompt(p)
        sc = D.scene_from_words(a["colour"], a["shape"], a["direction"], "moving", a["texture"],
                                a["bg_colour"], rng)
        raw.append(score_clip(D.render(sc, n), p))
        tok = gen.tokenizer
        rec.append(score_clip(tok.render(tok.encode_background(D.background_uint8(sc)[None])[0],
                                         tok.encode_objects(sc.rgb, D.object_coverage(sc, n))), p))
    return {"ground_truth": summarise(raw), "through_tokenizer": summarise(rec)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="held-out prompt adherence of the built-in generator")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--seeds", type=int, default=1, help="seeds per prompt (0..N-1)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N held-out prompts")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--temperature", type=float, default=None)
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--first-temperature", type=float, default=None)
    ap.add_argument("--steps", default=None, help="refinement steps: frame 0,frame 1,later (e.g. 12,8,4)")
    ap.add_argument("--split", choices=["heldout", "train"], default="heldout")
    ap.add_argument("--prompts", default=None, metavar="FILE",
                    help="score labelled prompts from a JSON file instead ({'prompts': [{'prompt', 'colour', "
                         "'shape', 'direction', 'bg_colour'}]}, e.g. bench/heldout_paraphrases.json)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    from dataclasses import replace

    import torch

    from .sample import DEFAULT_SAMPLING, load_model

    torch.set_num_threads(1)
    gen = load_model(args.weights)
    given = {"temperature": args.temperature, "top_k": args.top_k,
             "first_frame_temperature": args.first_temperature,
             "steps": tuple(int(n) for n in args.steps.split(",")) if args.steps else None}
    sampling = replace(DEFAULT_SAMPLING, **{k: v for k, v in given.items() if v is not None})
    wants = None
    if args.prompts:
        with open(args.prompts) as fh:
            wants = json.load(fh)["prompts"]
        prompts = [w["prompt"] for w in wants]
    else:
        prompts = D.heldout_prompts() if args.split == "heldout" else train_prompts()
    if args.limit:
        prompts = prompts[: args.limit]
        wants = wants[: args.limit] if wants else None
    res = evaluate(gen, prompts, list(range(args.seeds)), args.seconds,
                   log=lambda m: print(m, file=sys.stderr, flush=True), batch=args.batch, sampling=sampling,
                   wants=wants)
    res["split"] = args.prompts or args.split
    res["weights_sha256"] = gen.weights_sha256.hex()
    if not wants:
        res["ceiling"] = tokenizer_ceiling(gen, prompts, args.seconds)
    print(json.dumps({k: v for k, v in res.items() if k != "per_clip"}, indent=1))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


def train_prompts(n: int = 48, seed: int = 99) -> list[str]:
    """Prompts whose (colour, shape, direction) triples were seen in training (for comparison)."""
    rng = np.random.default_rng(seed)
    return [D.sample_scene(rng, "train").caption for _ in range(n)]


if __name__ == "__main__":
    sys.exit(main())
