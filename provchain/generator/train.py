"""Reproduce the shipped generator weights from scratch on CPU.

    python -m provchain.generator.train --out provchain/generator/weights

Stages (all seeded, fixed step counts, single thread => deterministic on a given machine):
  1. tokenizer: FSQ autoencoder on random rendered frames;
  2. dataset: render training clips (held-out triples excluded) and tokenise them once;
  3. transformer: next-token prediction with the loss weighted toward tokens that change from the
     previous frame (the copy-the-last-frame pitfall).
Writes <out>/generator.safetensors (tokenizer + transformer + config in the header metadata) and
<out>/train_meta.json (timings, losses, PSNR) which bench/generator.py reads.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D
from .tokenizer import FrameTokenizer, TOKENS_PER_FRAME, psnr, to_tensor, to_uint8


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def train_tokenizer(steps: int, seed: int, batch: int = 16, lr: float = 2e-3, ch: int = 32):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tok = FrameTokenizer(ch)
    opt = torch.optim.Adam(tok.parameters(), lr=lr)
    t0 = time.time()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, steps, lr, 50)
        frames, masks = D.random_frames(rng, batch)
        x = to_tensor(frames)
        w = 1.0 + 4.0 * torch.from_numpy(masks)[:, None]
        y = tok(x)
        loss = (((y - x) ** 2) * w).mean() + 0.5 * ((y - x).abs() * w).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"tok step {step}/{steps} loss {loss.item():.4f} ({time.time() - t0:.0f}s)")
    tok.eval()
    return tok


def eval_tokenizer(tok: FrameTokenizer, n: int = 512, seed: int = 12345) -> dict:
    rng = np.random.default_rng(seed)
    frames, masks = D.random_frames(rng, n)
    rec = tok.decode(tok.encode(frames))
    obj = masks > 0.5
    diff = (frames.astype(np.float64) - rec.astype(np.float64)) ** 2
    obj_mse = float(diff[obj].mean())
    return {
        "psnr_db": round(float(psnr(frames, rec)), 2),
        "object_psnr_db": round(float(10 * np.log10(255.0**2 / obj_mse)), 2),
        "eval_frames": n,
    }


def build_dataset(tok: FrameTokenizer, n_clips: int, seg_frames: int, seed: int) -> dict:
    """Render + tokenise training clips once. Returns numpy arrays:
    tokens (n, seg, 64) int16, obj (n, seg, 64) bool (object covers the patch), prompts (n, P) int64,
    starts (n,) int64."""
    from .model import pad_prompt, tokenize_prompt

    n_tok = np.empty((n_clips, seg_frames, TOKENS_PER_FRAME), np.int16)
    n_obj = np.empty((n_clips, seg_frames, TOKENS_PER_FRAME), bool)
    prompts = np.empty((n_clips, D.MAX_PROMPT_WORDS), np.int64)
    starts = np.empty(n_clips, np.int64)
    t0 = time.time()
    chunk_frames, chunk_idx = [], []
    rng = np.random.default_rng(seed)

    def flush():
        if not chunk_frames:
            return
        frames = np.concatenate(chunk_frames)
        toks = tok.encode(frames).reshape(len(chunk_idx), seg_frames, TOKENS_PER_FRAME)
        for k, i in enumerate(chunk_idx):
            n_tok[i] = toks[k]
        chunk_frames.clear()
        chunk_idx.clear()

    for i in range(n_clips):
        scene = D.sample_scene(rng, "train", caption_dropout=0.1)
        start = 0 if rng.random() < 0.4 else int(rng.integers(0, D.MAX_FRAMES - seg_frames + 1))
        frames, masks = D.render(scene, seg_frames, start, with_masks=True)
        patches = masks.reshape(seg_frames, 8, 8, 8, 8).max(axis=(2, 4)).reshape(seg_frames, -1)
        n_obj[i] = patches > 0.05
        prompts[i] = pad_prompt(tokenize_prompt(scene.caption))
        starts[i] = start
        chunk_frames.append(frames)
        chunk_idx.append(i)
        if len(chunk_idx) * seg_frames >= 512:
            flush()
        if i % 500 == 0:
            log(f"dataset {i}/{n_clips} ({time.time() - t0:.0f}s)")
    flush()
    return {"tokens": n_tok, "obj": n_obj, "prompts": prompts, "starts": starts}


def make_batch(ds: dict, rng: np.random.Generator, batch: int, window: int, w_change: float,
               w_object: float, p_first: float = 0.5):
    """Sample training windows. Returns tensors (prompt, inp, target, target_pos, content_frame, w)."""
    from .model import BOS, sequence_layout

    n, seg, tpf = ds["tokens"].shape
    idx = rng.integers(0, n, size=batch)
    P = ds["prompts"].shape[1]
    prompt = torch.from_numpy(ds["prompts"][idx])
    N = window * tpf
    inp = torch.empty(batch, N, dtype=torch.int64)
    tgt = torch.empty(batch, N, dtype=torch.int64)
    tpos = torch.empty(batch, N, dtype=torch.int64)
    cfr = torch.empty(batch, N, dtype=torch.int64)
    w = torch.empty(batch, N, dtype=torch.float32)
    for b, i in enumerate(idx):
        if ds["starts"][i] == 0 and rng.random() < p_first:
            o = 0
        else:
            o = int(rng.integers(0, seg - window + 1))
        s = int(ds["starts"][i]) + o
        toks = torch.from_numpy(ds["tokens"][i, o:o + window].astype(np.int64)).reshape(-1)
        obj = torch.from_numpy(ds["obj"][i, o:o + window]).reshape(-1)
        if o > 0:
            prev = torch.from_numpy(ds["tokens"][i, o - 1:o + window - 1].astype(np.int64)).reshape(-1)
            changed = toks != prev
        else:
            prev = torch.from_numpy(ds["tokens"][i, o:o + window - 1].astype(np.int64)).reshape(-1)
            changed = torch.cat([torch.zeros(tpf, dtype=torch.bool), toks[tpf:] != prev])
        inp[b, 0] = BOS
        inp[b, 1:] = toks[:-1]
        tgt[b] = toks
        tp, cf = sequence_layout(window, tpf, start=s)
        tpos[b], cfr[b] = tp, cf
        wb = 1.0 + (w_change - 1.0) * changed.float() + (w_object - 1.0) * obj.float()
        if s > 0:  # targets without their full two-frame context in this window carry no loss
            wb[: 2 * tpf] = 0.0
        w[b] = wb
    return prompt, inp, tgt, tpos, cfr, w


def train_transformer(ds: dict, cfg, steps: int, seed: int, batch: int, window: int, lr: float,
                      w_change: float, w_object: float, log_every: int = 25):
    from .model import VideoTransformer

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 1)
    model = VideoTransformer(cfg)
    decay = [p for n_, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n_]
    no_decay = [p for n_, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n_)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98))
    t0 = time.time()
    hist = []
    ema = None
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, steps, lr, 100)
        prompt, inp, tgt, tpos, cfr, w = make_batch(ds, rng, batch, window, w_change, w_object)
        logits = model(prompt, inp, tpos, cfr)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none")
        loss = (ce * w.reshape(-1)).sum() / w.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            pred = logits.argmax(-1)
            hot = w > 1.5  # changed or object tokens that carry loss
            acc_hot = float((pred[hot] == tgt[hot]).float().mean()) if hot.any() else float("nan")
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % log_every == 0 or step == steps - 1:
            el = time.time() - t0
            log(f"model step {step}/{steps} loss {loss.item():.3f} ema {ema:.3f} "
                f"acc_changed/object {acc_hot:.3f} ({el:.0f}s, {el / (step + 1):.2f}s/step)")
            hist.append({"step": step, "loss": round(loss.item(), 4), "ema": round(ema, 4),
                         "acc_hot": round(acc_hot, 4), "elapsed_s": round(el, 1)})
    model.eval()
    return model, hist


def main(argv=None) -> int:
    from .model import GenConfig
    from .sample import MODEL_NAME, save_weights, sha256_file

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (generator.safetensors, train_meta.json)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tok-steps", type=int, default=1000)
    ap.add_argument("--clips", type=int, default=3000)
    ap.add_argument("--seg-frames", type=int, default=16)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--w-change", type=float, default=5.0)
    ap.add_argument("--w-object", type=float, default=3.0)
    ap.add_argument("--d-model", type=int, default=GenConfig.d_model)
    ap.add_argument("--layers", type=int, default=GenConfig.n_layer)
    ap.add_argument("--heads", type=int, default=GenConfig.n_head)
    ap.add_argument("--tokenizer", help="reuse a tokenizer.pt instead of training one (experiments)")
    ap.add_argument("--stage", choices=["tokenizer", "all"], default="all")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    meta: dict = {"args": vars(args), "torch": torch.__version__}
    t_start = time.time()

    t0 = time.time()
    if args.tokenizer:
        tok = FrameTokenizer()
        tok.load_state_dict(torch.load(args.tokenizer, weights_only=True))
        tok.eval()
    else:
        tok = train_tokenizer(args.tok_steps, args.seed)
    meta["tokenizer_seconds"] = round(time.time() - t0, 1)
    meta["tokenizer_eval"] = eval_tokenizer(tok)
    meta["tokenizer_params"] = sum(p.numel() for p in tok.parameters())
    log(f"tokenizer done in {meta['tokenizer_seconds']}s: {meta['tokenizer_eval']}")
    torch.save(tok.state_dict(), os.path.join(args.out, "tokenizer.pt"))
    if args.stage == "tokenizer":
        return 0

    t0 = time.time()
    ds = build_dataset(tok, args.clips, args.seg_frames, args.seed + 2)
    meta["dataset_seconds"] = round(time.time() - t0, 1)
    changed = (ds["tokens"][:, 1:] != ds["tokens"][:, :-1]).mean()
    meta["dataset"] = {"clips": args.clips, "seg_frames": args.seg_frames,
                       "frac_tokens_changed": round(float(changed), 4),
                       "codes_used": int(len(np.unique(ds["tokens"])))}
    log(f"dataset done in {meta['dataset_seconds']}s: {meta['dataset']}")

    cfg = GenConfig(d_model=args.d_model, n_layer=args.layers, n_head=args.heads)
    t0 = time.time()
    model, hist = train_transformer(ds, cfg, args.steps, args.seed + 3, args.batch, args.window,
                                    args.lr, args.w_change, args.w_object)
    meta["transformer_seconds"] = round(time.time() - t0, 1)
    meta["transformer_params"] = sum(p.numel() for p in model.parameters())
    meta["loss_history"] = hist
    meta["total_seconds"] = round(time.time() - t_start, 1)
    meta["cpu_threads"] = args.threads
    path = os.path.join(args.out, "generator.safetensors")
    save_weights(path, tok, model, {k: meta[k] for k in ("tokenizer_eval", "total_seconds", "args")})
    meta["weights_file"] = os.path.basename(path)
    meta["weights_sha256"] = sha256_file(path).hex()
    meta["weights_bytes"] = os.path.getsize(path)
    meta["model_name"] = MODEL_NAME
    with open(os.path.join(args.out, "train_meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    log(f"done in {meta['total_seconds']}s -> {path} ({meta['weights_bytes']} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
