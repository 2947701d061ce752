"""Causal transformer over [prompt words] + [frame tokens], predicting the next frame token.

Sequence layout (one row of a batch):
    prompt slots (MAX_PROMPT_WORDS, padded)  |  BOS, f0[0], f0[1], ..., f0[63], f1[0], ...
Frame tokens are the tokenizer's 8x8 grids in raster order, so generation is token by token:
within a frame and across frames. Input j carries the previous token ("content") and the
embedding of the slot it predicts ("target": frame index + spatial index).

Attention (one rule, used identically for training, full recomputation and KV-cache decoding):
  * prompt slots attend to the non-pad prompt slots (bidirectional; the prompt is known up front);
  * a frame input j attends to the non-pad prompt and to frame inputs k <= j whose content frame is
    >= target_frame(j) - CONTEXT_FRAMES; i.e. every token sees the prompt, the two previous frames
    in full and the current frame so far. Cache entries older than that are dropped, so decoding
    cost per token is bounded whatever the clip length.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data as D
from .tokenizer import CODEBOOK_SIZE, TOKENS_PER_FRAME

BOS = CODEBOOK_SIZE  # input-only id
PAD_WORD = 0


@dataclass(frozen=True)
class GenConfig:
    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    mlp_mult: int = 4
    codebook: int = CODEBOOK_SIZE
    words: int = len(D.VOCAB)
    max_prompt: int = D.MAX_PROMPT_WORDS
    max_frames: int = D.MAX_FRAMES
    tokens_per_frame: int = TOKENS_PER_FRAME
    context_frames: int = 2
    rope_2d: bool = True  # rotary embedding of (row, col) within the frame on frame-token q/k

    def to_dict(self) -> dict:
        return asdict(self)


def tokenize_prompt(prompt: str, max_words: int = D.MAX_PROMPT_WORDS) -> list[int]:
    """Word ids of a prompt. Unknown words are dropped with a warning (never an error)."""
    index = {w: i for i, w in enumerate(D.VOCAB)}
    ids, unknown = [], []
    for w in D.words(prompt):
        if w in index and w != "<pad>":
            ids.append(index[w])
        else:
            unknown.append(w)
    if unknown:
        warnings.warn(f"generator: ignoring words not in the model's vocabulary: {', '.join(unknown)}",
                      UserWarning, stacklevel=2)
    if len(ids) > max_words:
        warnings.warn(f"generator: prompt truncated to {max_words} known words", UserWarning, stacklevel=2)
        ids = ids[:max_words]
    return ids


def pad_prompt(ids: list[int], max_words: int = D.MAX_PROMPT_WORDS) -> list[int]:
    return ids + [PAD_WORD] * (max_words - len(ids))


def rope_tables(spatial: torch.Tensor, head_dim: int, grid: int = 8):
    """cos/sin (..., head_dim/2) for 2-D rotary embedding of spatial indices (row*grid + col).

    Half the rotation pairs encode the row, half the column, so a query's score with a key depends
    on their displacement within the frame: "the same place in the previous frame" and "one patch
    to the left" are the same pattern at every position (copying and motion learn fast).
    """
    pairs = head_dim // 2
    per_axis = pairs // 2
    inv = 1.0 / (100.0 ** (torch.arange(per_axis, dtype=torch.float32) / per_axis))
    row = (spatial // grid).to(torch.float32)
    col = (spatial % grid).to(torch.float32)
    ang = torch.cat([row[..., None] * inv, col[..., None] * inv], dim=-1)
    return torch.cos(ang), torch.sin(ang)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, H, N, hd); cos/sin broadcastable to (B, 1, N, hd/2)."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    r1 = x1 * cos - x2 * sin
    r2 = x1 * sin + x2 * cos
    return torch.stack([r1, r2], dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, cfg: GenConfig):
        super().__init__()
        self.h = cfg.n_head
        self.hd = cfg.d_model // cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def split(self, x):
        B, L, _ = x.shape
        q, k, v = self.qkv(x).split(self.h * self.hd, dim=-1)
        f = lambda t: t.view(B, L, self.h, self.hd).transpose(1, 2)  # noqa: E731
        return f(q), f(k), f(v)

    def merge(self, y):
        B, H, L, hd = y.shape
        return self.proj(y.transpose(1, 2).reshape(B, L, H * hd))


class Block(nn.Module):
    def __init__(self, cfg: GenConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.mlp_mult * cfg.d_model),
            nn.GELU(),
            nn.Linear(cfg.mlp_mult * cfg.d_model, cfg.d_model),
        )

    def forward(self, x, mask, rope=None):
        q, k, v = self.attn.split(self.ln1(x))
        if rope is not None:  # rotate the frame part (the last N positions) of q and k
            P, (qc, qs, kc, ks) = rope
            q = torch.cat([q[:, :, :P], apply_rope(q[:, :, P:], qc, qs)], dim=2)
            k = torch.cat([k[:, :, :P], apply_rope(k[:, :, P:], kc, ks)], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.attn.merge(y)
        return x + self.mlp(self.ln2(x))


class KVCache:
    """Per-layer keys/values in preallocated buffers: P prompt slots, then a ring of W frame slots.

    W = (CONTEXT_FRAMES + 1) * 64 + 1 covers every key a query can see, so the oldest entry
    overwritten is always one that no later query may attend to; slot order does not matter to
    attention (positions live in the embeddings), only the per-slot visibility mask does.
    """

    def __init__(self, n_layer: int, B: int, H: int, hd: int, P: int, W: int):
        self.k = [torch.zeros(B, H, P + W, hd) for _ in range(n_layer)]
        self.v = [torch.zeros(B, H, P + W, hd) for _ in range(n_layer)]
        self.P, self.W = P, W
        self.slot_content_frame = torch.full((W,), -(10**9), dtype=torch.int64)
        self.prompt_valid = None  # (B, P) bool
        self.length = 0  # frame inputs fed so far


class VideoTransformer(nn.Module):
    def __init__(self, cfg: GenConfig = GenConfig()):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.tok_emb = nn.Embedding(cfg.codebook + 1, d)
        self.word_emb = nn.Embedding(cfg.words, d)
        self.prompt_pos = nn.Embedding(cfg.max_prompt, d)
        self.prompt_type = nn.Parameter(torch.zeros(d))
        self.spatial_emb = nn.Embedding(cfg.tokens_per_frame, d)
        self.frame_emb = nn.Embedding(cfg.max_frames, d)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.codebook, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    # ---- embeddings -------------------------------------------------------------------------
    def embed_prompt(self, prompt_ids: torch.Tensor) -> torch.Tensor:
        P = prompt_ids.shape[1]
        pos = torch.arange(P, device=prompt_ids.device)
        return self.word_emb(prompt_ids) + self.prompt_pos(pos)[None] + self.prompt_type

    def embed_frames(self, inp: torch.Tensor, target_pos: torch.Tensor) -> torch.Tensor:
        """inp (B, N) ids; target_pos (B, N) or (N,) flat slot index f*64+i being predicted."""
        tpf = self.cfg.tokens_per_frame
        return self.tok_emb(inp) + self.spatial_emb(target_pos % tpf) + self.frame_emb(target_pos // tpf)

    # ---- masks ------------------------------------------------------------------------------
    def build_mask(self, prompt_valid, content_frame, target_frame) -> torch.Tensor:
        """(B, 1, P+N, P+N) bool attention mask (True = may attend).

        prompt_valid (B, P) bool; content_frame / target_frame (B, N) int64.
        """
        B, P = prompt_valid.shape
        N = content_frame.shape[1]
        dev = prompt_valid.device
        causal = torch.ones(N, N, dtype=torch.bool, device=dev).tril()
        band = content_frame[:, None, :] >= (target_frame[:, :, None] - self.cfg.context_frames)
        ff = causal[None] & band  # (B, N, N)
        fp = prompt_valid[:, None, :].expand(B, N, P)
        pp = prompt_valid[:, None, :].expand(B, P, P) & prompt_valid[:, :, None]
        pp = pp | torch.eye(P, dtype=torch.bool, device=dev)[None]  # pad rows see themselves
        pf = torch.zeros(B, P, N, dtype=torch.bool, device=dev)
        top = torch.cat([pp, pf], dim=2)
        bot = torch.cat([fp, ff], dim=2)
        return torch.cat([top, bot], dim=1)[:, None]

    # ---- full (training / recomputation) forward --------------------------------------------
    def forward(self, prompt_ids, inp, target_pos, content_frame) -> torch.Tensor:
        """Logits (B, N, codebook) for every frame input.

        prompt_ids (B, P) (PAD_WORD = padding); inp (B, N) input ids (BOS or codes);
        target_pos (B, N) flat slot predicted by each input; content_frame (B, N) frame index of
        the token each input carries (-1 for BOS).
        """
        B, P = prompt_ids.shape
        prompt_valid = prompt_ids != PAD_WORD
        tpf = self.cfg.tokens_per_frame
        target_pos = target_pos.expand(B, -1) if target_pos.dim() == 2 else target_pos[None].expand(B, -1)
        content_frame = content_frame.expand(B, -1) if content_frame.dim() == 2 else content_frame[None].expand(B, -1)
        mask = self.build_mask(prompt_valid, content_frame, target_pos // tpf)
        x = torch.cat([self.embed_prompt(prompt_ids), self.embed_frames(inp, target_pos)], dim=1)
        rope = None
        if self.cfg.rope_2d:
            hd = self.cfg.d_model // self.cfg.n_head
            qc, qs = rope_tables(target_pos % tpf, hd)
            kc, ks = rope_tables((target_pos - 1) % tpf, hd)  # the slot of the token the input carries
            rope = (P, (qc[:, None], qs[:, None], kc[:, None], ks[:, None]))
        for blk in self.blocks:
            x = blk(x, mask, rope)
        return self.head(self.ln_f(x[:, P:]))

    # ---- incremental decoding ---------------------------------------------------------------
    @torch.no_grad()
    def start(self, prompt_ids: torch.Tensor) -> KVCache:
        """Run the prompt once and cache its keys/values."""
        B, P = prompt_ids.shape
        cfg = self.cfg
        W = (cfg.context_frames + 1) * cfg.tokens_per_frame + 1
        cache = KVCache(cfg.n_layer, B, cfg.n_head, cfg.d_model // cfg.n_head, P, W)
        valid = prompt_ids != PAD_WORD
        cache.prompt_valid = valid
        pp = (valid[:, None, :] & valid[:, :, None]) | torch.eye(P, dtype=torch.bool)[None]
        mask = pp[:, None]
        x = self.embed_prompt(prompt_ids)
        for li, blk in enumerate(self.blocks):
            q, k, v = blk.attn.split(blk.ln1(x))
            cache.k[li][:, :, :P] = k
            cache.v[li][:, :, :P] = v
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            x = x + blk.attn.merge(y)
            x = x + blk.mlp(blk.ln2(x))
        return cache

    @torch.no_grad()
    def step(self, cache: KVCache, token: torch.Tensor, content_frame: int) -> torch.Tensor:
        """Feed one input per row (B,) whose target slot is cache.length; returns logits (B, V)."""
        tpf = self.cfg.tokens_per_frame
        pos = cache.length
        lo = pos // tpf - self.cfg.context_frames
        ring = pos % cache.W
        slot = cache.P + ring
        cache.slot_content_frame[ring] = content_frame
        B = token.shape[0]
        visible = (cache.slot_content_frame >= lo)[None].expand(B, -1)
        mask = torch.cat([cache.prompt_valid, visible], dim=1)[:, None, None, :]
        x = self.embed_frames(token[:, None], torch.tensor([pos]))
        if self.cfg.rope_2d:
            hd = self.cfg.d_model // self.cfg.n_head
            qc, qs = rope_tables(torch.tensor([pos % tpf]), hd)
            kc, ks = rope_tables(torch.tensor([(pos - 1) % tpf]), hd)
        for li, blk in enumerate(self.blocks):
            q, k, v = blk.attn.split(blk.ln1(x))
            if self.cfg.rope_2d:
                q, k = apply_rope(q, qc, qs), apply_rope(k, kc, ks)
            cache.k[li][:, :, slot] = k[:, :, 0]
            cache.v[li][:, :, slot] = v[:, :, 0]
            y = F.scaled_dot_product_attention(q, cache.k[li], cache.v[li], attn_mask=mask)
            x = x + blk.attn.merge(y)
            x = x + blk.mlp(blk.ln2(x))
        cache.length += 1
        return self.head(self.ln_f(x[:, 0]))


def sequence_layout(n_frames: int, tokens_per_frame: int = TOKENS_PER_FRAME, start: int = 0):
    """(target_pos, content_frame) for inputs [BOS/dummy, tok_0, ..., tok_{n*tpf-2}] of a window
    of n_frames starting at frame `start` (start == 0: the first input is BOS)."""
    n = n_frames * tokens_per_frame
    j = torch.arange(n)
    target_pos = start * tokens_per_frame + j
    content_frame = torch.where(j == 0, torch.tensor(start - 1), start + (j - 1) // tokens_per_frame)
    return target_pos, content_frame
