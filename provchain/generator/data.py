"""Procedurally rendered training scenes for the built-in video generator (numpy only, no torch).

A scene is one coloured object (circle / square / triangle) moving at constant speed along one axis,
reflecting off the frame edges, over a static textured background (stripes, checker, smooth noise,
gradient; four layouts each). The object starts near the middle of the side it leaves from.
Captions name the object colour, shape, motion and background, e.g.
"a red circle bouncing left to right over a striped green background".

Held-out split: some (colour, shape, direction) triples are never rendered for training; every
colour, shape and direction (and every pair of colour+shape) still appears in training, so the
held-out prompts measure compositional generalisation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

SIZE = 64
FPS = 8
MAX_FRAMES = 64  # 8 s at 8 fps

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (50, 210, 70),
    "blue": (50, 100, 245),
    "yellow": (245, 225, 40),
    "white": (245, 245, 245),
    "purple": (175, 60, 225),
}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = ("left to right", "right to left", "top to bottom", "bottom to top")
# unit velocity per direction (dx, dy); y grows downwards
DIRECTION_VEC = {
    "left to right": (1.0, 0.0),
    "right to left": (-1.0, 0.0),
    "top to bottom": (0.0, 1.0),
    "bottom to top": (0.0, -1.0),
}
VERBS = ("moving", "bouncing", "sliding", "drifting")
TEXTURES = ("striped", "checkered", "noisy", "gradient")
BG_COLOURS: dict[str, tuple[int, int, int]] = {
    "green": (40, 140, 60),
    "blue": (45, 75, 170),
    "red": (160, 45, 45),
    "grey": (120, 120, 120),
    "orange": (180, 105, 30),
}
FILLER = ("a", "an", "the", "over", "on", "background", "in", "front", "of")

VOCAB: tuple[str, ...] = tuple(
    dict.fromkeys(
        ["<pad>"]
        + list(FILLER)
        + list(COLOURS)
        + list(SHAPES)
        + [w for d in DIRECTIONS for w in d.split()]
        + list(VERBS)
        + list(TEXTURES)
        + list(BG_COLOURS)
    )
)
MAX_PROMPT_WORDS = 16
RADIUS = 9.0
BG_VARIANTS = 4
SPEEDS = (2.5, 3.0, 3.5, 4.0)  # pixels per frame
ACROSS_OFFSETS = (-6.0, -3.0, 0.0, 3.0, 6.0)
LATENT_VOCAB = ([f"<layout{i}>" for i in range(BG_VARIANTS)] + [f"<speed{i}>" for i in range(len(SPEEDS))]
                + [f"<offset{i}>" for i in range(len(ACROSS_OFFSETS))])


def is_heldout(colour: str, shape: str, direction: str) -> bool:
    """12 of the 72 (colour, shape, direction) triples never appear in training."""
    c = list(COLOURS).index(colour)
    s = SHAPES.index(shape)
    d = DIRECTIONS.index(direction)
    return (c + 2 * s + d) % 6 == 0


HELDOUT_TRIPLES = tuple(
    (c, s, d) for c in COLOURS for s in SHAPES for d in DIRECTIONS if is_heldout(c, s, d)
)


@dataclass(frozen=True)
class Scene:
    colour: str
    shape: str
    direction: str
    verb: str
    texture: str
    bg_colour: str
    with_background_phrase: bool = True
    # geometry / appearance parameters
    x0: float = 32.0
    y0: float = 32.0
    speed: float = 3.0
    radius: float = RADIUS
    rgb: tuple[int, int, int] = (0, 0, 0)
    latent: tuple[int, int, int] = (0, 0, 0)  # (background layout, speed, start offset): sample_latent

    @property
    def caption(self) -> str:
        text = f"a {self.colour} {self.shape} {self.verb} {self.direction}"
        if self.with_background_phrase:
            text += f" over a {self.texture} {self.bg_colour} background"
        return text


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def sample_scene(rng: np.random.Generator, split: str = "train", caption_dropout: float = 0.0) -> Scene:
    """Draw a random scene. split: 'train' (held-out triples excluded), 'heldout', or 'any'."""
    while True:
        colour = _pick(rng, list(COLOURS))
        shape = _pick(rng, SHAPES)
        direction = _pick(rng, DIRECTIONS)
        h = is_heldout(colour, shape, direction)
        if split == "any" or (split == "train" and not h) or (split == "heldout" and h):
            break
    texture = _pick(rng, TEXTURES)
    bg_colour = _pick(rng, list(BG_COLOURS))
    verb = _pick(rng, VERBS)
    return _with_geometry(
        rng,
        Scene(colour, shape, direction, verb, texture, bg_colour,
              with_background_phrase=bool(rng.random() >= caption_dropout)),
    )


def sample_latent(rng: np.random.Generator) -> tuple[int, int, int]:
    """The scene's free choices that the prompt does not name: (background layout, speed, start
    offset across the motion) as indices into BG_VARIANTS, SPEEDS, ACROSS_OFFSETS."""
    return (int(rng.integers(BG_VARIANTS)), int(rng.integers(len(SPEEDS))), int(rng.integers(len(ACROSS_OFFSETS))))


def latent_words(latent: tuple[int, int, int]) -> list[str]:
    """The latent as conditioning words. The generator draws it from the seed (like a GAN's noise
    vector), so a prompt + seed determines the whole clip and decoding needs no guesswork about where
    the object starts or how the background is laid out."""
    variant, speed, offset = latent
    return [f"<layout{variant}>", f"<speed{speed}>", f"<offset{offset}>"]


def latent_for_seed(seed: int) -> tuple[int, int, int]:
    return sample_latent(np.random.default_rng([int(seed), 0x6C61]))


def _with_geometry(rng: np.random.Generator, scene: Scene) -> Scene:
    variant, speed, offset = sample_latent(rng)
    lo = RADIUS + 1.0
    dx, dy = DIRECTION_VEC[scene.direction]
    # the object starts near the middle of the side it leaves from
    along = lo + 2.0
    across = SIZE / 2 + ACROSS_OFFSETS[offset]
    if dx != 0:
        x0 = along if dx > 0 else SIZE - 1 - along
        y0 = across
    else:
        y0 = along if dy > 0 else SIZE - 1 - along
        x0 = across
    return replace(scene, x0=x0, y0=y0, speed=SPEEDS[speed], rgb=COLOURS[scene.colour],
                   latent=(variant, speed, offset))


def scene_from_words(colour, shape, direction, verb, texture, bg_colour, rng) -> Scene:
    return _with_geometry(rng, Scene(colour, shape, direction, verb, texture, bg_colour))


def _reflect(p: np.ndarray, lo: float, hi: float) -> np.ndarray:
    span = hi - lo
    q = np.mod(p - lo, 2 * span)
    return lo + np.where(q > span, 2 * span - q, q)


def trajectory(scene: Scene, n_frames: int, start: int = 0) -> np.ndarray:
    """Object centre (x, y) for frames start .. start+n_frames-1, shape (n, 2)."""
    t = np.arange(start, start + n_frames, dtype=np.float64)
    dx, dy = DIRECTION_VEC[scene.direction]
    lo, hi = scene.radius + 1.0, SIZE - 1 - scene.radius - 1.0
    x = _reflect(scene.x0 + dx * scene.speed * t, lo, hi)
    y = _reflect(scene.y0 + dy * scene.speed * t, lo, hi)
    return np.stack([x, y], axis=1)


def render_background(scene: Scene) -> np.ndarray:
    """float32 (64, 64, 3) in [0, 255]. Each texture comes in BG_VARIANTS fixed layouts (the latent's
    first index): few enough that a small model learns to draw each one coherently in the first frame."""
    variant = scene.latent[0]
    base = np.array(BG_COLOURS[scene.bg_colour], dtype=np.float32)
    dark, light = base * 0.35, base * 0.85
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    if scene.texture == "striped":  # vertical or horizontal, two phases
        coord = xx if variant % 2 == 0 else yy
        t = (((coord + 8 * (variant // 2)) % 16) < 8).astype(np.float32)
    elif scene.texture == "checkered":  # 16-px cells, four offsets
        ox, oy = 8 * (variant % 2), 8 * (variant // 2)
        t = ((((xx + ox) // 16) + ((yy + oy) // 16)) % 2).astype(np.float32)
    elif scene.texture == "noisy":
        g = np.random.default_rng(1000 + variant).random((4, 4)).astype(np.float32)
        # smoothstep upsample of a 4x4 grid to 64x64 (smooth value noise)
        u = xx / (SIZE - 1) * 3
        v = yy / (SIZE - 1) * 3
        i0 = np.clip(np.floor(u).astype(int), 0, 2)
        j0 = np.clip(np.floor(v).astype(int), 0, 2)
        fu, fv = u - i0, v - j0
        fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
        t = (g[j0, i0] * (1 - fu) * (1 - fv) + g[j0, i0 + 1] * fu * (1 - fv)
             + g[j0 + 1, i0] * (1 - fu) * fv + g[j0 + 1, i0 + 1] * fu * fv)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    elif scene.texture == "gradient":  # along one of the four diagonals
        ang = np.pi / 4 + variant * np.pi / 2
        p = np.cos(ang) * xx + np.sin(ang) * yy
        t = (p - p.min()) / max(float(p.max() - p.min()), 1e-6)
    else:
        raise ValueError(scene.texture)
    return dark[None, None, :] * (1 - t[..., None]) + light[None, None, :] * t[..., None]


def shape_coverage(shape: str, cx: float, cy: float, r: float) -> np.ndarray:
    """Anti-aliased coverage (64, 64) in [0, 1] from a signed distance (pixel units)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    px, py = xx - cx, yy - cy
    if shape == "circle":
        sdf = np.sqrt(px * px + py * py) - r
    elif shape == "square":
        s = r * 0.88
        sdf = np.maximum(np.abs(px), np.abs(py)) - s
    elif shape == "triangle":
        # equilateral, pointing up, centroid at (cx, cy), circumradius ~ 1.25 r
        R = r * 1.3
        edges = []
        for k in range(3):
            a = np.pi / 2 + k * 2 * np.pi / 3 + np.pi  # outward normals point away from vertices
            nx, ny = np.cos(a), -np.sin(a)
            edges.append(px * nx + py * ny - R / 2)
        sdf = np.maximum.reduce(edges)
    else:
        raise ValueError(shape)
    return np.clip(0.5 - sdf, 0.0, 1.0)


def object_coverage(scene: Scene, n_frames: int, start: int = 0) -> np.ndarray:
    """The object layer's alpha: coverage (n, 64, 64) in [0, 1] for frames start..start+n-1 (the
    layer's colour is scene.rgb)."""
    traj = trajectory(scene, n_frames, start)
    return np.stack([shape_coverage(scene.shape, float(cx), float(cy), scene.radius) for cx, cy in traj])


def background_uint8(scene: Scene) -> np.ndarray:
    """The background layer as a uint8 (64, 64, 3) image."""
    return np.clip(np.rint(render_background(scene)), 0, 255).astype(np.uint8)


def composite(background: np.ndarray, rgb, coverage: np.ndarray) -> np.ndarray:
    """uint8 frames (n, 64, 64, 3): object layers (colour rgb (3,) or (n, 3), alpha coverage
    (n, 64, 64)) over the background, one (64, 64, 3) for all or (n, 64, 64, 3), float."""
    bg = background if background.ndim == 4 else background[None]
    col = np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 1, 3)
    img = bg * (1 - coverage[..., None]) + col * coverage[..., None]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def render(scene: Scene, n_frames: int, start: int = 0, with_masks: bool = False):
    """uint8 frames (n, 64, 64, 3) for frames start..start+n-1 (and coverage masks if asked)."""
    masks = object_coverage(scene, n_frames, start).astype(np.float32)
    frames = composite(render_background(scene), scene.rgb, masks)
    return (frames, masks) if with_masks else frames


_WORD_RE = re.compile(r"[a-z]+")


def words(prompt: str) -> list[str]:
    return _WORD_RE.findall(prompt.lower())


def parse_prompt(prompt: str) -> dict[str, str | None]:
    """Attributes named in a prompt: colour, shape, direction, texture, bg_colour (None if absent).

    The first colour word is the object's; a colour after 'over'/'on' (or the second colour word)
    is the background's.
    """
    ws = words(prompt)
    out: dict[str, str | None] = {"colour": None, "shape": None, "direction": None,
                                  "texture": None, "bg_colour": None}
    joined = " ".join(ws)
    for d in DIRECTIONS:
        if d in joined:
            out["direction"] = d
            break
    seen_over = False
    for w in ws:
        if w in ("over", "on"):
            seen_over = True
        elif w in SHAPES and out["shape"] is None:
            out["shape"] = w
        elif w in TEXTURES and out["texture"] is None:
            out["texture"] = w
        elif not seen_over and w in COLOURS and out["colour"] is None:
            out["colour"] = w
        elif (seen_over or out["colour"] is not None) and w in BG_COLOURS and out["bg_colour"] is None:
            out["bg_colour"] = w
    return out


def heldout_prompts() -> list[str]:
    """48 fixed evaluation prompts: each held-out triple over 4 backgrounds (one per texture)."""
    prompts = []
    bgs = list(BG_COLOURS)
    for i, (c, s, d) in enumerate(HELDOUT_TRIPLES):
        for k, tex in enumerate(TEXTURES):
            verb = VERBS[(i + k) % len(VERBS)]
            bg = bgs[(i + 2 * k) % len(bgs)]
            prompts.append(f"a {c} {s} {verb} {d} over a {tex} {bg} background")
    return prompts


def training_segments(n: int, seg_frames: int, seed: int, p_start0: float = 0.4,
                      caption_dropout: float = 0.1):
    """Yield (scene, start, frames uint8 (seg_frames,64,64,3)) for n training clips.

    Segments start at frame 0 with probability p_start0, otherwise at a uniform frame such that the
    segment lies within MAX_FRAMES, so the model sees every absolute frame position.
    """
    rng = np.random.default_rng(seed)
    for _ in range(n):
        scene = sample_scene(rng, "train", caption_dropout=caption_dropout)
        if rng.random() < p_start0:
            start = 0
        else:
            start = int(rng.integers(0, MAX_FRAMES - seg_frames + 1))
        yield scene, start, render(scene, seg_frames, start)


def random_layers(rng: np.random.Generator, n: int):
    """n independent frames of random scenes at random times, as layers (for tokenizer training):
    backgrounds uint8 (n, 64, 64, 3), object colours uint8 (n, 3), coverages float32 (n, 64, 64)."""
    bgs = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    cols = np.empty((n, 3), dtype=np.uint8)
    covs = np.empty((n, SIZE, SIZE), dtype=np.float32)
    for i in range(n):
        scene = sample_scene(rng, "any")
        t = int(rng.integers(0, MAX_FRAMES))
        bgs[i] = background_uint8(scene)
        cols[i] = scene.rgb
        covs[i] = object_coverage(scene, 1, t)[0]
    return bgs, cols, covs

