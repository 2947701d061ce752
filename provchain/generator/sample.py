"""Loading the shipped generator and sampling videos (KV-cache decoding).

    from provchain.generator.sample import load_model
    gen = load_model()
    frames = gen.generate("a red circle bouncing left to right over a striped green background", seed=7)
    # uint8 (32, 256, 256, 3) for the default 4 s at 8 fps

Same prompt + seed + settings -> the same frames, bit for bit (decoding runs single-threaded with a
seeded torch.Generator; cross-CPU-architecture bit equality is not promised).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import data as D
from .model import BACKGROUND, MASK, GenConfig, VideoTransformer, conditioning, pad_prompt
from .tokenizer import FrameTokenizer, GRID

MODEL_NAME = "provchain-tinyvid-3"
WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), "weights")
WEIGHTS_FILE = os.path.join(WEIGHTS_DIR, "generator.safetensors")
UPSCALE = 4  # 64 -> 256
MAX_SECONDS = D.MAX_FRAMES / D.FPS


@dataclass(frozen=True)
class Sampling:
    """How frames are decoded (recorded in every registration as sorted int/str settings).

    steps: refinement steps for frame 0 (and the background layer), frame 1 and every later frame.
    Given the seed's latent words the background and the first frame are determined, so they are
    decoded greedily (first_frame_temperature 0). Later frames are sampled at temperature 0.5: on
    training prompts greedy, 0.5, 0.7 and 1.0 all adhere in 88-100 % of clips (BENCHMARKS.md), and
    sampling makes every seed its own clip (greedy repeats a clip whenever two seeds draw the same
    latent words, 1 in 80).
    """
    temperature: float = 0.5
    first_frame_temperature: float = 0.0
    top_k: int = 16
    steps: tuple[int, int, int] = (4, 8, 8)

    def settings(self) -> dict:
        return {"sampler": "frame-causal-maskgit-kv-cache",
                "decode_steps": "-".join(str(n) for n in self.steps),
                "temperature_milli": int(round(self.temperature * 1000)),
                "first_frame_temperature_milli": int(round(self.first_frame_temperature * 1000)),
                "top_k": int(self.top_k)}


DEFAULT_SAMPLING = Sampling()


def save_weights(path: str, tok: FrameTokenizer, model: VideoTransformer, meta: dict) -> None:
    from safetensors.torch import save

    def half(v: torch.Tensor) -> torch.Tensor:  # ship fp16 (half the bytes); loaded back as fp32
        v = v.detach()
        return (v.to(torch.float16) if v.is_floating_point() else v).contiguous()

    tensors = {f"tokenizer.{k}": half(v) for k, v in tok.state_dict().items()}
    tensors.update({f"transformer.{k}": half(v) for k, v in model.state_dict().items()})
    header = {"model_name": MODEL_NAME, "config": json.dumps(model.cfg.to_dict()),
              "tokenizer_ch": str(tok.ch), "meta": json.dumps(meta, sort_keys=True)}
    blob = save(tensors, metadata=header)
    # safetensors writes its JSON header in hash-map order, which changes from process to process;
    # sort it (same bytes, same length) so the same weights always give the same file and SHA-256
    n = struct.unpack("<Q", blob[:8])[0]
    canon = json.dumps(json.loads(blob[8:8 + n]), sort_keys=True, separators=(",", ":")).encode()
    with open(path, "wb") as f:
        f.write(blob[:8] + canon.ljust(n, b" ") + blob[8 + n:])


def _sample_from_logits(logits: torch.Tensor, temperature: float, top_k: int, gen: torch.Generator):
    """logits (M, V) -> sampled ids (M,)."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=gen)[:, 0]


def still_masked(n_tokens: int, steps: int) -> list[int]:
    """MaskGIT's cosine schedule: how many tokens are still undecided after each step (last: 0)."""
    return [int(n_tokens * math.cos(math.pi / 2 * (s + 1) / steps)) for s in range(steps - 1)] + [0]


def _decode_frame(model: VideoTransformer, prompt_mem, contexts, time: torch.Tensor, temperature: float,
                  top_k: int, n_steps: int, gen: torch.Generator, prompt_ids_for_reference=None,
                  all_logits: list | None = None) -> torch.Tensor:
    """Decide one frame's (B, N) tokens: every slot starts as MASK; at each refinement step every
    undecided slot is sampled and the most confident samples are kept (cosine schedule)."""
    B, N = time.shape[0], model.cfg.tokens_per_frame
    rows = torch.arange(B)[:, None]
    ids = torch.full((B, N), MASK, dtype=torch.int64)
    decided = torch.zeros(B, N, dtype=torch.bool)
    for left in still_masked(N, n_steps):
        mem = prompt_mem if prompt_ids_for_reference is None else model.encode_prompt(prompt_ids_for_reference)
        logits = model.predict(mem, contexts, ids, time)
        if all_logits is not None:
            all_logits.append(logits.clone())
        pick = _sample_from_logits(logits.reshape(B * N, -1), temperature, top_k, gen).view(B, N)
        conf = torch.log_softmax(logits, -1).gather(-1, pick[..., None])[..., 0]
        conf = conf.masked_fill(decided, float("inf"))
        keep = torch.topk(conf, N - left, dim=1).indices
        now = torch.zeros(B, N, dtype=torch.bool)
        now[rows, keep] = True
        ids = torch.where(now & ~decided, pick, ids)
        decided = now
    return ids


@torch.no_grad()
def sample_tokens(model: VideoTransformer, prompt_ids, n_frames: int, seed: int,
                  sampling: Sampling = DEFAULT_SAMPLING, use_cache: bool = True,
                  progress: Callable[[int, int], None] | None = None, return_logits: bool = False,
                  return_background: bool = False):
    """Sample n_frames token grids frame by frame -> int64 (n_frames, 16, 16).

    First the background layer (greedy, like frame 0, with frame 0's steps), then the object layers
    of frame 0, 1, ..., each from the prompt and the two frames before it (`_decode_frame`;
    `Sampling` says how many steps and how hot). The frames are `FrameTokenizer.render(background,
    grids)`.

    prompt_ids: one prompt's word ids, or a list of them (a batch; the result is (B, n_frames, 16,
    16); batching is for evaluation throughput, a batched row is not bitwise equal to the same prompt
    sampled alone). use_cache=False re-encodes the prompt and the context frames from the decided
    tokens for every step (the reference the cache must match; tests only). return_background adds
    the background layer's grid(s) to the result.
    """
    if not 1 <= n_frames <= model.cfg.max_frames:
        raise ValueError(f"n_frames must be in 1..{model.cfg.max_frames}")
    single = not prompt_ids or isinstance(prompt_ids[0], int)
    batch_ids = [prompt_ids] if single else list(prompt_ids)
    B, N, C = len(batch_ids), model.cfg.tokens_per_frame, model.cfg.context_frames
    gen = torch.Generator().manual_seed(int(seed))
    prompt = torch.tensor([pad_prompt(list(ids), model.cfg.max_prompt) for ids in batch_ids])
    prompt_mem = model.encode_prompt(prompt)
    reference = None if use_cache else prompt
    all_logits = [] if return_logits else None
    absent = (model.encode_frame(torch.zeros(B, N, dtype=torch.int64), torch.zeros(B, dtype=torch.int64)),
              torch.zeros(B, dtype=torch.bool))
    yes = torch.ones(B, dtype=torch.bool)
    bg_time = torch.full((B,), BACKGROUND, dtype=torch.int64)
    background = _decode_frame(model, prompt_mem, [absent] * C, bg_time, sampling.first_frame_temperature,
                               sampling.top_k, sampling.steps[0], gen, reference, all_logits)
    frames: list[torch.Tensor] = []
    cached: dict[int, list] = {}
    for t in range(n_frames):
        time = torch.full((B,), t, dtype=torch.int64)
        contexts = []
        for f in range(t - C, t):
            if f < 0:
                contexts.append(absent)
            else:
                kv = cached[f] if use_cache else model.encode_frame(frames[f], torch.full((B,), f))
                contexts.append((kv, yes))
        temp = sampling.first_frame_temperature if t == 0 else sampling.temperature
        n_steps = sampling.steps[min(t, len(sampling.steps) - 1)]
        ids = _decode_frame(model, prompt_mem, contexts, time, temp, sampling.top_k, n_steps, gen, reference,
                            all_logits)
        frames.append(ids)
        if use_cache:
            cached[t] = model.encode_frame(ids, time)
            cached.pop(t - C, None)  # no later frame looks that far back
        if progress is not None:
            progress(t + 1, n_frames)
    grids = torch.stack(frames, 1).view(B, n_frames, GRID, GRID).numpy()
    bg_grid = background.view(B, GRID, GRID).numpy()
    if single:
        grids, bg_grid = grids[0], bg_grid[0]
    out = (grids,)
    if return_background:
        out += (bg_grid,)
    if return_logits:
        out += (all_logits,)
    return out if len(out) > 1 else grids


def upscale(frames: np.ndarray, factor: int = UPSCALE) -> np.ndarray:
    """Nearest-neighbour upscale (exact, integer-only) of uint8 (T, H, W, 3)."""
    return np.repeat(np.repeat(frames, factor, axis=1), factor, axis=2)


class Generator:
    """The built-in text-to-video model: tokenizer + transformer."""

    def __init__(self, tokenizer: FrameTokenizer, model: VideoTransformer, weights_sha256: bytes,
                 model_name: str = MODEL_NAME, meta: dict | None = None):
        self.tokenizer = tokenizer.eval()
        self.model = model.eval()
        self.weights_sha256 = weights_sha256
        self.model_name = model_name
        self.meta = meta or {}
        self.fps = D.FPS
        self._last_settings = self._settings(DEFAULT_SAMPLING, 4.0, UPSCALE)

    def _settings(self, sampling: Sampling, seconds: float, upscale_factor: int) -> dict:
        side = D.SIZE * upscale_factor
        return {**sampling.settings(), "frames": self.frames_for(seconds), "fps": self.fps,
                "width": side, "height": side, "upscale": f"nearest-x{upscale_factor}"}

    @property
    def sampling_settings(self) -> dict:
        """Settings of the most recent generate() call (defaults before the first); ints/str only."""
        return dict(self._last_settings)

    def frames_for(self, seconds: float) -> int:
        if not 0 < seconds <= MAX_SECONDS:
            raise ValueError(f"seconds must be in (0, {MAX_SECONDS:g}]")
        return max(1, min(D.MAX_FRAMES, int(round(seconds * self.fps))))

    def generate(self, prompt: str, seed: int, seconds: float = 4.0,
                 progress: Callable[[int, int], None] | None = None,
                 sampling: Sampling = DEFAULT_SAMPLING, upscale_factor: int = UPSCALE) -> np.ndarray:
        """uint8 (T, 256, 256, 3) frames at self.fps. Unknown prompt words are warned about."""
        n_frames = self.frames_for(seconds)
        ids = conditioning(prompt, seed)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # bitwise reproducibility does not depend on the core count
        try:
            grids, background = sample_tokens(self.model, ids, n_frames, seed, sampling, progress=progress,
                                              return_background=True)
            frames = self.tokenizer.render(background, grids)
        finally:
            torch.set_num_threads(threads)
        self._last_settings = self._settings(sampling, seconds, upscale_factor)
        return upscale(frames, upscale_factor) if upscale_factor > 1 else frames


def sha256_file(path: str) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def load_model(path: str | None = None) -> Generator:
    """Load the shipped weights (or `path`), returning a ready Generator."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = path or WEIGHTS_FILE
    if not os.path.exists(path):
        raise FileNotFoundError(f"generator weights not found at {path}; "
                                "run `python -m provchain.generator.train --out DIR`")
    with safe_open(path, framework="pt") as f:
        header = f.metadata() or {}
    cfg = GenConfig(**json.loads(header["config"]))
    tensors = {k: (v.to(torch.float32) if v.is_floating_point() else v) for k, v in load_file(path).items()}
    tok = FrameTokenizer(int(header.get("tokenizer_ch", "32")))
    tok.load_state_dict({k[len("tokenizer."):]: v for k, v in tensors.items() if k.startswith("tokenizer.")})
    model = VideoTransformer(cfg)
    model.load_state_dict({k[len("transformer."):]: v for k, v in tensors.items() if k.startswith("transformer.")})
    meta = json.loads(header.get("meta", "{}"))
    return Generator(tok, model, sha256_file(path), header.get("model_name", MODEL_NAME), meta)
