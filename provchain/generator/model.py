"""Frame-by-frame autoregressive video transformer, with parallel (masked) decoding inside a frame.

A clip is tokenised as layers (tokenizer.py): a static background layer, then one object layer per
frame. The transformer predicts the background layer first (time BACKGROUND = -1), from the prompt
alone; then frame t's object layer from the prompt and the object layers of the two frames before
it. Inside a layer the 16x16 tokens are decided over a few parallel refinement steps, most confident
first (MaskGIT, Chang et al. 2022, in the frame-causal layout of Phenaki / MAGVIT-v2).

Inputs of one prediction:
    prompt words (P slots, padded) | context frames t-2, t-1 (absent ones masked out) | frame t (or
    the background), whose undecided tokens are MASK.
  * prompt slots attend to the non-pad prompt slots (bidirectional; learned word positions, so
    "left to right" is not "right to left");
  * the target's tokens attend to the prompt, the present context frames and all of the target;
    a learned type vector marks a background target;
  * context frames are memory: every layer reads them through its own key/value projection of their
    token embeddings. A frame's keys/values therefore do not depend on which later frame it serves:
    they are computed once, when the frame is decided, and cached (`encode_frame`); decoding cost per
    frame is bounded whatever the clip length, and no frame can see a later one.
Frame tokens carry a 3-D rotary embedding (time, row, col) on queries and keys, so attention scores
depend on displacement: "the same place one frame ago" and "one patch to the left" are the same
pattern everywhere, which is what moving an object needs.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data as D
from .prompt import understand
from .tokenizer import CODEBOOK_SIZE, GRID

MASK = CODEBOOK_SIZE  # input-only id: "not decided yet"
PAD_WORD = 0
BACKGROUND = -1  # the frame index of the background layer


@dataclass(frozen=True)
class GenConfig:
    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    mlp_mult: int = 4
    codebook: int = CODEBOOK_SIZE
    words: int = len(D.VOCAB) + len(D.LATENT_VOCAB)
    max_prompt: int = D.MAX_PROMPT_WORDS + 3  # + the latent words
    max_frames: int = D.MAX_FRAMES
    grid: int = GRID
    context_frames: int = 2

    @property
    def tokens_per_frame(self) -> int:
        return self.grid * self.grid

    def to_dict(self) -> dict:
        return asdict(self)


class PromptWarning(UserWarning):
    """Words of a prompt that the model can't use (the CLI shows these as one plain line)."""


def tokenize_prompt(prompt: str, max_words: int = D.MAX_PROMPT_WORDS) -> list[int]:
    """Word ids of a prompt in plain words (prompt.py maps synonyms and word order onto the model's
    captions). Words it can't use are dropped with one PromptWarning (never an error)."""
    understood = understand(prompt)
    if understood.ignored:
        warnings.warn(f"ignored words the model does not know: {', '.join(understood.ignored)}",
                      PromptWarning, stacklevel=2)
    index = {w: i for i, w in enumerate(D.VOCAB)}
    ids = [index[w] for w in understood.caption.split()]
    if len(ids) > max_words:
        warnings.warn(f"prompt truncated to {max_words} known words", PromptWarning, stacklevel=2)
        ids = ids[:max_words]
    return ids


def latent_ids(latent: tuple[int, int, int]) -> list[int]:
    return [len(D.VOCAB) + D.LATENT_VOCAB.index(w) for w in D.latent_words(latent)]


def conditioning(prompt: str, seed: int) -> list[int]:
    """What the model is conditioned on: the prompt's word ids, then the latent words drawn from the
    seed (background layout, speed, start offset)."""
    return tokenize_prompt(prompt) + latent_ids(D.latent_for_seed(seed))


def pad_prompt(ids: list[int], max_words: int = GenConfig.max_prompt) -> list[int]:
    return ids + [PAD_WORD] * (max_words - len(ids))


def rope_tables(time: torch.Tensor, head_dim: int, grid: int):
    """cos/sin (B, 1, grid*grid, head_dim/2) of the 3-D rotary embedding of every slot of frame
    `time` (B,): a quarter of the rotation pairs turn with time, the rest half with row, half col."""
    pairs = head_dim // 2
    n_s = (3 * pairs // 4) // 2
    n_t = pairs - 2 * n_s
    inv_s = 1.0 / (100.0 ** (torch.arange(n_s, dtype=torch.float32) / n_s))
    inv_t = 1.0 / (100.0 ** (torch.arange(n_t, dtype=torch.float32) / max(1, n_t)))
    idx = torch.arange(grid * grid)
    row, col = (idx // grid).to(torch.float32), (idx % grid).to(torch.float32)
    spatial = torch.cat([row[:, None] * inv_s, col[:, None] * inv_s], dim=-1)  # (N, 2 n_s)
    B, N = time.shape[0], grid * grid
    temporal = (time.to(torch.float32)[:, None] * inv_t[None]).unsqueeze(1).expand(B, N, n_t)
    ang = torch.cat([temporal, spatial[None].expand(B, N, 2 * n_s)], dim=-1)
    return torch.cos(ang)[:, None], torch.sin(ang)[:, None]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, H, N, hd); cos/sin (B, 1, N, hd/2)."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, cfg: GenConfig):
        super().__init__()
        d = cfg.d_model
        self.h, self.hd = cfg.n_head, d // cfg.n_head
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, cfg.mlp_mult * d), nn.GELU(), nn.Linear(cfg.mlp_mult * d, d))

    def heads(self, t: torch.Tensor) -> torch.Tensor:
        B, L, _ = t.shape
        return t.view(B, L, self.h, self.hd).transpose(1, 2)

    def kv(self, x: torch.Tensor):
        """Keys and values only (memory frames need no queries)."""
        d = self.h * self.hd
        k, v = F.linear(self.ln1(x), self.qkv.weight[d:], self.qkv.bias[d:]).split(d, dim=-1)
        return self.heads(k), self.heads(v)

    def attend(self, x, keys, values, mask, rope=None):
        """x (B, L, d) attends to [keys, its own keys]; returns (new x, its own k, v)."""
        q, k, v = (self.heads(t) for t in self.qkv(self.ln1(x)).chunk(3, dim=-1))
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        K = torch.cat(keys + [k], dim=2) if keys else k
        V = torch.cat(values + [v], dim=2) if values else v
        y = F.scaled_dot_product_attention(q, K, V, attn_mask=mask)
        B, H, L, hd = y.shape
        x = x + self.proj(y.transpose(1, 2).reshape(B, L, H * hd))
        return x + self.mlp(self.ln2(x)), k, v


class VideoTransformer(nn.Module):
    def __init__(self, cfg: GenConfig = GenConfig()):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.tok_emb = nn.Embedding(cfg.codebook + 1, d)  # + MASK
        self.word_emb = nn.Embedding(cfg.words, d)
        self.prompt_pos = nn.Embedding(cfg.max_prompt, d)
        self.spatial_emb = nn.Embedding(cfg.tokens_per_frame, d)
        self.context_type = nn.Parameter(torch.zeros(d))
        self.background_type = nn.Parameter(torch.zeros(d))
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

    def _rope(self, time: torch.Tensor):
        return rope_tables(time, self.cfg.d_model // self.cfg.n_head, self.cfg.grid)

    def encode_prompt(self, prompt_ids: torch.Tensor):
        """Per-layer prompt keys/values and the pad mask: (list[(k, v)], valid (B, P) bool)."""
        B, P = prompt_ids.shape
        valid = prompt_ids != PAD_WORD
        mask = ((valid[:, None, :] & valid[:, :, None]) | torch.eye(P, dtype=torch.bool))[:, None]
        x = self.word_emb(prompt_ids) + self.prompt_pos.weight[:P][None]
        kvs = []
        for blk in self.blocks:
            x, k, v = blk.attend(x, [], [], mask)
            kvs.append((k, v))
        return kvs, valid

    def encode_frame(self, ids: torch.Tensor, time: torch.Tensor):
        """Per-layer keys/values of a decided frame (B, N) at frame index `time` (B,), as context."""
        x = self.tok_emb(ids) + self.spatial_emb.weight[None] + self.context_type
        cos, sin = self._rope(time)
        out = []
        for blk in self.blocks:
            k, v = blk.kv(x)
            out.append((apply_rope(k, cos, sin), v))
        return out

    def predict(self, prompt, contexts, ids: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        """Logits (B, N, codebook) for every slot of frame `time` (B,); time BACKGROUND (-1) asks
        for the background layer.

        prompt: encode_prompt's result; contexts: one (encode_frame result, present (B,) bool) per
        context frame, oldest first (an absent frame's keys are masked out); ids (B, N): decided
        codes and MASK.
        """
        prompt_kv, prompt_valid = prompt
        B, N = ids.shape
        present = [p.to(torch.bool)[:, None].expand(B, N) for _, p in contexts]
        visible = torch.cat([prompt_valid] + present + [torch.ones(B, N, dtype=torch.bool)], dim=1)
        mask = visible[:, None, None, :]
        x = self.tok_emb(ids) + self.spatial_emb.weight[None]
        x = x + (time == BACKGROUND).to(x.dtype)[:, None, None] * self.background_type
        rope = self._rope(time)
        for li, blk in enumerate(self.blocks):
            keys = [prompt_kv[li][0]] + [c[li][0] for c, _ in contexts]
            values = [prompt_kv[li][1]] + [c[li][1] for c, _ in contexts]
            x, _, _ = blk.attend(x, keys, values, mask, rope)
        return self.head(self.ln_f(x))

    def forward(self, prompt_ids, context_ids, present, ids, time) -> torch.Tensor:
        """Training / reference pass from scratch: prompt_ids (B, P); context_ids (B, C, N) oldest
        first; present (B, C) bool; ids (B, N); time (B,) -> logits (B, N, codebook)."""
        C = context_ids.shape[1]
        contexts = [(self.encode_frame(context_ids[:, c], time - (C - c)), present[:, c]) for c in range(C)]
        return self.predict(self.encode_prompt(prompt_ids), contexts, ids, time)
