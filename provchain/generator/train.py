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
import hashlib
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


def train_tokenizer(steps: int, seed: int, batch: int = 16, lr: float = 1e-3, ch: int = 32):
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
        w = 1.0 + 9.0 * torch.from_numpy(masks)[:, None]
        y = tok(x)
        loss = (((y - x) ** 2) * w).mean() + 0.5 * ((y - x).abs() * w).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tok.parameters(), 1.0)
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
                      w_change: float, w_object: float, log_every: int = 25, checkpoint=None,
                      ckpt_every: int = 0, model=None, tag: str = "model"):
    from .model import VideoTransformer

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 1)
    if model is None:
        model = VideoTransformer(cfg)
    model.train()
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
            log(f"{tag} step {step}/{steps} loss {loss.item():.3f} ema {ema:.3f} "
                f"acc_changed/object {acc_hot:.3f} ({el:.0f}s, {el / (step + 1):.2f}s/step)")
            hist.append({"step": step, "loss": round(loss.item(), 4), "ema": round(ema, 4),
                         "acc_hot": round(acc_hot, 4), "elapsed_s": round(el, 1)})
        if checkpoint is not None and ckpt_every and (step + 1) % ckpt_every == 0 and step + 1 < steps:
            model.eval()
            checkpoint(model, f"{tag}-{step + 1}")
            model.train()
    model.eval()
    return model, hist


def hyperparameters(args) -> dict:
    """What determines the weights (no paths, no timings: the file's hash must be reproducible)."""
    skip = {"out", "tokenizer", "dataset_cache", "ckpt_every", "stage", "threads", "resume_phase2"}
    return {k: v for k, v in sorted(vars(args).items()) if k not in skip}


def main(argv=None) -> int:
    from .model import GenConfig
    from .sample import MODEL_NAME, save_weights, sha256_file

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (generator.safetensors, train_meta.json)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tok-steps", type=int, default=800)
    ap.add_argument("--clips", type=int, default=2000)
    ap.add_argument("--seg-frames", type=int, default=16)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--w-change", type=float, default=5.0)
    ap.add_argument("--w-object", type=float, default=4.0)
    ap.add_argument("--d-model", type=int, default=GenConfig.d_model)
    ap.add_argument("--layers", type=int, default=GenConfig.n_layer)
    ap.add_argument("--heads", type=int, default=GenConfig.n_head)
    ap.add_argument("--tokenizer", help="reuse a tokenizer.pt instead of training one (experiments)")
    ap.add_argument("--stage", choices=["tokenizer", "all"], default="all")
    ap.add_argument("--dataset-cache", default=None, help="folder to cache the tokenised dataset in")
    ap.add_argument("--ckpt-every", type=int, default=0, help="also save checkpoint-STEP files")
    ap.add_argument("--phase2-steps", type=int, default=800)
    ap.add_argument("--phase2-w-object", type=float, default=5.0)
    ap.add_argument("--resume-phase2", default=None,
                    help="skip phase 1: load its weights file (phase2-steps 0 run) and run phase 2")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    meta: dict = {"args": vars(args), "torch": torch.__version__}
    t_start = time.time()

    t0 = time.time()
    if args.tokenizer:  # resume: reuse a tokenizer.pt from an earlier run with the same seed/steps
        tok = FrameTokenizer()
        tok.load_state_dict(torch.load(args.tokenizer, weights_only=True))
        tok.eval()
        side = os.path.splitext(args.tokenizer)[0] + ".json"
        prev = json.load(open(side)) if os.path.exists(side) else {}
        meta["tokenizer_seconds"] = prev.get("tokenizer_seconds")
        meta["tokenizer_reused_from"] = args.tokenizer
    else:
        tok = train_tokenizer(args.tok_steps, args.seed)
        meta["tokenizer_seconds"] = round(time.time() - t0, 1)
    meta["tokenizer_eval"] = eval_tokenizer(tok)
    meta["tokenizer_params"] = sum(p.numel() for p in tok.parameters())
    log(f"tokenizer done in {meta['tokenizer_seconds']}s: {meta['tokenizer_eval']}")
    if not args.tokenizer:
        torch.save(tok.state_dict(), os.path.join(args.out, "tokenizer.pt"))
        with open(os.path.join(args.out, "tokenizer.json"), "w") as f:
            json.dump({"tokenizer_seconds": meta["tokenizer_seconds"], "tok_steps": args.tok_steps,
                       "seed": args.seed, **meta["tokenizer_eval"]}, f)
    if args.stage == "tokenizer":
        return 0

    t0 = time.time()
    tok_digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in tok.state_dict().values())).hexdigest()
    cache = (os.path.join(args.dataset_cache, f"ds-{tok_digest[:16]}-{args.clips}-{args.seg_frames}-{args.seed}.npz")
             if args.dataset_cache else None)
    if cache and os.path.exists(cache):
        with np.load(cache) as z:
            ds = {k: z[k] for k in z.files}
        log(f"dataset loaded from {cache}")
    else:
        ds = build_dataset(tok, args.clips, args.seg_frames, args.seed + 2)
        if cache:
            os.makedirs(args.dataset_cache, exist_ok=True)
            np.savez(cache, **ds)
    meta["dataset_seconds"] = round(time.time() - t0, 1)
    changed = (ds["tokens"][:, 1:] != ds["tokens"][:, :-1]).mean()
    meta["dataset"] = {"clips": args.clips, "seg_frames": args.seg_frames,
                       "frac_tokens_changed": round(float(changed), 4),
                       "codes_used": int(len(np.unique(ds["tokens"])))}
    log(f"dataset done in {meta['dataset_seconds']}s: {meta['dataset']}")

    cfg = GenConfig(d_model=args.d_model, n_layer=args.layers, n_head=args.heads)
    t0 = time.time()
    path = os.path.join(args.out, "generator.safetensors")

    def checkpoint(model, step):
        save_weights(os.path.join(args.out, f"checkpoint-{step}.safetensors"), tok, model,
                     {"partial_step": step, "hyperparameters": hyperparameters(args)})
        log(f"checkpoint at step {step}")

    if args.resume_phase2:  # phase 1 already run (its fp16 weights file): load and go on
        from .model import VideoTransformer
        from .sample import load_model

        model = VideoTransformer(cfg)
        model.load_state_dict(load_model(args.resume_phase2).model.state_dict())
        prev = json.load(open(os.path.join(os.path.dirname(args.resume_phase2), "train_meta.json")))
        hist = prev.get("loss_history", [])
        phase1_seconds = prev["transformer_seconds"]
        meta["dataset_seconds"] = prev.get("dataset_seconds", meta["dataset_seconds"])
        meta["phase1_resumed_from"] = args.resume_phase2
    else:
        model, hist = train_transformer(ds, cfg, args.steps, args.seed + 3, args.batch, args.window,
                                        args.lr, args.w_change, args.w_object, checkpoint=checkpoint,
                                        ckpt_every=args.ckpt_every)
        phase1_seconds = time.time() - t0
        # round through fp16 exactly as a shipped phase-1 file would be, so resuming is equivalent
        model.load_state_dict({k: v.to(torch.float16).to(torch.float32) if v.is_floating_point() else v
                               for k, v in model.state_dict().items()})
    t1 = time.time()
    if args.phase2_steps:
        # phase 2: a warm restart (fresh AdamW, new cosine cycle), object tokens weighted higher
        model, hist2 = train_transformer(ds, cfg, args.phase2_steps, args.seed + 10, args.batch, args.window,
                                         args.lr, args.w_change, args.phase2_w_object, checkpoint=checkpoint,
                                         ckpt_every=args.ckpt_every, model=model, tag="phase2")
        hist = hist + [dict(h, phase=2) for h in hist2]
    meta["phase1_seconds"] = round(phase1_seconds, 1)
    meta["phase2_seconds"] = round(time.time() - t1, 1)
    meta["transformer_seconds"] = round(meta["phase1_seconds"] + meta["phase2_seconds"], 1)
    meta["transformer_params"] = sum(p.numel() for p in model.parameters())
    meta["loss_history"] = hist
    meta["total_seconds"] = round((meta["tokenizer_seconds"] or 0) + meta["dataset_seconds"]
                                  + meta["transformer_seconds"], 1)
    meta["wall_seconds_this_run"] = round(time.time() - t_start, 1)
    meta["cpu_threads"] = args.threads
    save_weights(path, tok, model, {"hyperparameters": hyperparameters(args), "tokenizer_eval": meta["tokenizer_eval"]})
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
