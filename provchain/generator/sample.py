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
import os
from typing import Callable

import numpy as np
import torch

from . import data as D
from .model import BOS, GenConfig, VideoTransformer, pad_prompt, sequence_layout, tokenize_prompt
from .tokenizer import FrameTokenizer, GRID, TOKENS_PER_FRAME

MODEL_NAME = "provchain-tinyvid-1"
WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), "weights")
WEIGHTS_FILE = os.path.join(WEIGHTS_DIR, "generator.safetensors")
UPSCALE = 4  # 64 -> 256
DEFAULT_TEMPERATURE = 0.8
DEFAULT_FIRST_FRAME_TEMPERATURE = 1.0
DEFAULT_TOP_K = 16
MAX_SECONDS = D.MAX_FRAMES / D.FPS


def save_weights(path: str, tok: FrameTokenizer, model: VideoTransformer, meta: dict) -> None:
    from safetensors.torch import save_file

    def half(v: torch.Tensor) -> torch.Tensor:  # ship fp16 (half the bytes); loaded back as fp32
        v = v.detach()
        return (v.to(torch.float16) if v.is_floating_point() else v).contiguous()

    tensors = {f"tokenizer.{k}": half(v) for k, v in tok.state_dict().items()}
    tensors.update({f"transformer.{k}": half(v) for k, v in model.state_dict().items()})
    header = {"model_name": MODEL_NAME, "config": json.dumps(model.cfg.to_dict()),
              "tokenizer_ch": str(tok.ch), "meta": json.dumps(meta, sort_keys=True)}
    save_file(tensors, path, metadata=header)


def _sample_from_logits(logits: torch.Tensor, temperature: float, top_k: int, gen: torch.Generator):
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=gen)[:, 0]


@torch.no_grad()
def sample_tokens(model: VideoTransformer, prompt_ids, n_frames: int, seed: int,
                  temperature: float = DEFAULT_TEMPERATURE, top_k: int = DEFAULT_TOP_K,
                  use_cache: bool = True, progress: Callable[[int, int], None] | None = None,
                  return_logits: bool = False, first_frame_temperature: float | None = None):
    """Autoregressively sample n_frames token grids -> int64 (n_frames, 8, 8).

    prompt_ids: one prompt's word ids, or a list of them (a batch; then the result is
    (B, n_frames, 8, 8); batching is for evaluation throughput, a batched row is not bitwise equal
    to the same prompt sampled alone). first_frame_temperature (default: temperature) applies to
    frame 0, where the object's position is genuinely uncertain; temperature to the frames after it,
    which are nearly determined by the two before. use_cache=False recomputes the full forward pass over the
    whole prefix for every token (the reference the KV cache must match; quadratic, tests/bench only).
    """
    if not 1 <= n_frames <= model.cfg.max_frames:
        raise ValueError(f"n_frames must be in 1..{model.cfg.max_frames}")
    single = not prompt_ids or isinstance(prompt_ids[0], int)
    batch_ids = [prompt_ids] if single else list(prompt_ids)
    B = len(batch_ids)
    tpf = TOKENS_PER_FRAME
    gen = torch.Generator().manual_seed(int(seed))
    prompt = torch.tensor([pad_prompt(list(ids), model.cfg.max_prompt) for ids in batch_ids])
    n = n_frames * tpf
    out = torch.empty(B, n, dtype=torch.int64)
    all_logits = [] if return_logits else None
    target_pos, content_frame = sequence_layout(n_frames, tpf)
    if use_cache:
        cache = model.start(prompt)
    prev = torch.full((B,), BOS, dtype=torch.int64)
    inputs = torch.empty(B, n, dtype=torch.int64)
    for j in range(n):
        inputs[:, j] = prev
        if use_cache:
            logits = model.step(cache, prev, int(content_frame[j]))
        else:
            logits = model(prompt, inputs[:, : j + 1], target_pos[: j + 1], content_frame[: j + 1])[:, -1]
        if return_logits:
            all_logits.append(logits.clone())
        t = first_frame_temperature if (first_frame_temperature is not None and j < tpf) else temperature
        tok = _sample_from_logits(logits, t, top_k, gen)
        out[:, j] = tok
        prev = tok
        if progress is not None and (j + 1) % tpf == 0:
            progress((j + 1) // tpf, n_frames)
    grids = out.view(B, n_frames, GRID, GRID).numpy()
    lg = torch.stack(all_logits, 1) if return_logits else None
    if single:
        grids = grids[0]
        lg = lg[0] if lg is not None else None
    return (grids, lg) if return_logits else grids


def upscale(frames: np.ndarray, factor: int = UPSCALE) -> np.ndarray:
    """Nearest-neighbour upscale (exact, integer-only) of uint8 (T, H, W, 3)."""
    return np.repeat(np.repeat(frames, factor, axis=1), factor, axis=2)


class Generator:
    """The built-in text-to-video model: tokenizer + transformer + sampling settings."""

    def __init__(self, tokenizer: FrameTokenizer, model: VideoTransformer, weights_sha256: bytes,
                 model_name: str = MODEL_NAME, meta: dict | None = None):
        self.tokenizer = tokenizer.eval()
        self.model = model.eval()
        self.weights_sha256 = weights_sha256
        self.model_name = model_name
        self.meta = meta or {}
        self.fps = D.FPS
        self._last_settings = self._settings(DEFAULT_TEMPERATURE, DEFAULT_TOP_K, 4.0,
                                             DEFAULT_FIRST_FRAME_TEMPERATURE)

    def _settings(self, temperature: float, top_k: int, seconds: float, first_frame_temperature: float) -> dict:
        n_frames = self.frames_for(seconds)
        return {
            "sampler": "autoregressive-kv-cache",
            "temperature_milli": int(round(temperature * 1000)),
            "first_frame_temperature_milli": int(round(first_frame_temperature * 1000)),
            "top_k": int(top_k),
            "frames": n_frames,
            "fps": self.fps,
            "width": 64 * UPSCALE,
            "height": 64 * UPSCALE,
            "upscale": "nearest-x4",
        }

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
                 temperature: float = DEFAULT_TEMPERATURE, top_k: int = DEFAULT_TOP_K,
                 upscale_factor: int = UPSCALE,
                 first_frame_temperature: float = DEFAULT_FIRST_FRAME_TEMPERATURE) -> np.ndarray:
        """uint8 (T, 256, 256, 3) frames at self.fps. Unknown prompt words are warned about."""
        n_frames = self.frames_for(seconds)
        ids = tokenize_prompt(prompt, self.model.cfg.max_prompt)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # bitwise reproducibility does not depend on the core count
        try:
            grids = sample_tokens(self.model, ids, n_frames, seed, temperature, top_k, progress=progress,
                                  first_frame_temperature=first_frame_temperature)
            frames = self.tokenizer.decode(grids)
        finally:
            torch.set_num_threads(threads)
        self._last_settings = self._settings(temperature, top_k, seconds, first_frame_temperature)
        self._last_settings["upscale"] = f"nearest-x{upscale_factor}"
        self._last_settings["width"] = self._last_settings["height"] = 64 * upscale_factor
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
