"""Layered frame tokenizer: a small convolutional autoencoder with a finite-scalar-quantised bottleneck
(FSQ, Mentzer et al. 2023) turning a 64x64 RGBA layer into a 16x16 grid of discrete tokens (codebook
of 8*5*5*5 = 1000 codes).

A clip is tokenised as layers: one background layer (the static scene, alpha 1) and, per frame, an
object layer (the moving object's colour, premultiplied by its coverage; empty elsewhere). A frame
is the object layer composited over the background. Why layers: tokenised as whole frames, an
object patch's code depended on the background beneath it and a patch the object left had to be
re-invented from the background's many codes; the transformer then let objects smear and grow
(measured, BENCHMARKS.md). In the object layer a patch the object left is one code, "empty", and an
object patch's code depends on the object alone.

FSQ instead of a learned VQ codebook: no codebook collapse, no commitment loss or EMA updates,
every code reachable; measured on this data it trains stably in a few CPU minutes.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LEVELS = (8, 5, 5, 5)
CODEBOOK_SIZE = int(np.prod(LEVELS))
GRID = 16  # tokens per side (4x4 pixel patches)
CHANNELS = 4  # premultiplied RGB + alpha, each mapped to [-1, 1]


class FSQ(nn.Module):
    def __init__(self, levels=LEVELS):
        super().__init__()
        lv = torch.tensor(levels, dtype=torch.float32)
        self.register_buffer("levels", lv, persistent=False)
        basis = torch.cumprod(torch.tensor([1] + list(levels[:-1]), dtype=torch.int64), 0)
        self.register_buffer("basis", basis, persistent=False)
        self.dim = len(levels)

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        eps = 1e-3
        half_l = (self.levels - 1) * (1 + eps) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., dim) -> quantised, normalised to [-1, 1] (straight-through gradient)."""
        b = self.bound(z)
        q = b + (torch.round(b) - b).detach()
        return q / torch.div(self.levels, 2, rounding_mode="floor")

    def codes_to_indices(self, q: torch.Tensor) -> torch.Tensor:
        half = torch.div(self.levels, 2, rounding_mode="floor")
        digits = torch.round(q * half + half).to(torch.int64)
        return (digits * self.basis).sum(-1)

    def indices_to_codes(self, idx: torch.Tensor) -> torch.Tensor:
        half = torch.div(self.levels, 2, rounding_mode="floor")
        digits = (idx.unsqueeze(-1) // self.basis) % self.levels.to(torch.int64)
        return (digits.to(torch.float32) - half) / half


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.c2(F.silu(self.c1(F.silu(x))))


class PointRes(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 1)
        self.c2 = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return x + self.c2(F.silu(self.c1(F.silu(x))))


class FrameTokenizer(nn.Module):
    """64x64 RGBA layers <-> (16, 16) int64 token grids (one token per 4x4 pixel patch); a frame is
    decoded from a background grid and an object-layer grid (`render`)."""

    def __init__(self, ch: int = 32):
        super().__init__()
        self.ch = ch
        c1, c2 = ch, ch * 2
        d = len(LEVELS)
        # Patch-local encoder: only non-overlapping stride-2 convs and 1x1 convs, so each token
        # depends on its own 4x4 pixel patch alone. A static background therefore gives exactly the
        # same tokens in every frame and only the patches the object touches change (a wide
        # receptive field made ~28% of tokens flicker whenever the object moved elsewhere).
        self.enc = nn.Sequential(
            nn.Conv2d(CHANNELS, c1, 2, 2),  # 32
            nn.SiLU(),
            nn.Conv2d(c1, c1, 1),
            nn.SiLU(),
            nn.Conv2d(c1, 4 * c1, 2, 2),  # 16
            PointRes(4 * c1),
            PointRes(4 * c1),
            nn.Conv2d(4 * c1, d, 1),
        )
        # The decoder sees neighbouring tokens (3x3 convs), so edges are drawn from their context.
        self.dec = nn.Sequential(
            nn.Conv2d(d, c2, 3, padding=1),
            ResBlock(c2),
            ResBlock(c2),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1),  # 32
            ResBlock(c1),
            nn.ConvTranspose2d(c1, c1, 4, 2, 1),  # 64
            nn.SiLU(),
            nn.Conv2d(c1, CHANNELS, 3, padding=1),
        )
        self.fsq = FSQ()

    # float tensors in [-1, 1], (B, 4, 64, 64)
    def quantise(self, x: torch.Tensor) -> torch.Tensor:
        z = self.enc(x).permute(0, 2, 3, 1)  # B, 16, 16, d
        return self.fsq(z)

    def decode_codes(self, q: torch.Tensor) -> torch.Tensor:
        return self.dec(q.permute(0, 3, 1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_codes(self.quantise(x))

    @torch.no_grad()
    def encode(self, layers: torch.Tensor, batch: int = 256) -> np.ndarray:
        """(N, 4, 64, 64) layer tensors (`background_layer`, `object_layer`) -> (N, 16, 16) int64 ids."""
        out = [self.fsq.codes_to_indices(self.quantise(layers[i:i + batch])) for i in range(0, len(layers), batch)]
        return torch.cat(out).numpy() if out else np.zeros((0, GRID, GRID), np.int64)

    def encode_background(self, backgrounds_uint8: np.ndarray) -> np.ndarray:
        """(N, 64, 64, 3) uint8 backgrounds -> (N, 16, 16) ids."""
        return self.encode(background_layer(backgrounds_uint8))

    def encode_objects(self, rgb, coverage: np.ndarray) -> np.ndarray:
        """Object layers of colour rgb (3,) or (N, 3) and alpha coverage (N, 64, 64) -> (N, 16, 16) ids."""
        return self.encode(object_layer(rgb, coverage))

    @torch.no_grad()
    def decode(self, tokens: np.ndarray | torch.Tensor, batch: int = 256) -> torch.Tensor:
        """(N, 16, 16) ids -> (N, 4, 64, 64) layers in [-1, 1]."""
        t = torch.as_tensor(np.asarray(tokens), dtype=torch.int64)
        out = [self.decode_codes(self.fsq.indices_to_codes(t[i:i + batch])) for i in range(0, len(t), batch)]
        return torch.cat(out) if out else torch.zeros((0, CHANNELS, 64, 64))

    def render(self, background: np.ndarray, objects: np.ndarray) -> np.ndarray:
        """A background grid (16, 16) and object-layer grids (T, 16, 16) -> uint8 frames (T, 64, 64, 3)."""
        return composite(self.decode(np.asarray(background)[None]), self.decode(objects))


def background_layer(backgrounds_uint8: np.ndarray) -> torch.Tensor:
    """(N, 64, 64, 3) uint8 -> (N, 4, 64, 64): the colours, alpha 1."""
    x = torch.from_numpy(np.ascontiguousarray(backgrounds_uint8)).to(torch.float32).permute(0, 3, 1, 2)
    return torch.cat([x / 127.5 - 1.0, torch.ones_like(x[:, :1])], dim=1)


def object_layer(rgb, coverage: np.ndarray) -> torch.Tensor:
    """Colour rgb (3,) or (N, 3) uint8 and coverage (N, 64, 64) in [0, 1] -> (N, 4, 64, 64): the
    colour premultiplied by the coverage, then the coverage (an empty layer is all -1)."""
    a = torch.from_numpy(np.ascontiguousarray(coverage, dtype=np.float32))[:, None]
    col = torch.as_tensor(np.asarray(rgb, dtype=np.float32)).reshape(-1, 3, 1, 1)
    return torch.cat([col * a / 127.5 - 1.0, a * 2.0 - 1.0], dim=1)


def composite(background: torch.Tensor, objects: torch.Tensor) -> np.ndarray:
    """Decoded layers: background (1 or T, 4, 64, 64), objects (T, 4, 64, 64) -> uint8 (T, 64, 64, 3)."""
    bg = (background[:, :3].clamp(-1, 1) + 1.0) * 127.5
    premul = (objects[:, :3].clamp(-1, 1) + 1.0) * 127.5
    alpha = ((objects[:, 3:].clamp(-1, 1) + 1.0) / 2.0)
    y = (premul + (1.0 - alpha) * bg).clamp(0, 255).round().to(torch.uint8)
    return y.permute(0, 2, 3, 1).contiguous().numpy()


def psnr(a_uint8: np.ndarray, b_uint8: np.ndarray) -> float:
    mse = float(np.mean((a_uint8.astype(np.float64) - b_uint8.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
