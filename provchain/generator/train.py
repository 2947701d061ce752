"""Reproduce the shipped generator weights from scratch on CPU.

    python -m provchain.generator.train --out provchain/generator/weights

Stages (all seeded, fixed step counts, fixed thread count => the same file on a given machine):
  1. tokenizer: FSQ autoencoder on the layers of random rendered frames (background, object);
  2. dataset: render training clips (held-out triples excluded) and tokenise their layers once;
  3. transformer: masked prediction of the background layer from the prompt, and of frame t's
     object layer from the prompt and frames t-2, t-1; the loss weighted toward tokens that change
     from the previous frame (the copy-the-last-frame pitfall) and toward the object.
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
from .tokenizer import GRID, FrameTokenizer, background_layer, composite, object_layer, psnr


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def train_tokenizer(steps: int, seed: int, batch: int = 16, lr: float = 1e-3, ch: int = 32):
    """Each step: batch/2 random frames, as their background and object layers (batch layers)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tok = FrameTokenizer(ch)
    opt = torch.optim.Adam(tok.parameters(), lr=lr)
    t0 = time.time()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, steps, lr, 50)
        bgs, cols, covs = D.random_layers(rng, batch // 2)
        x = torch.cat([background_layer(bgs), object_layer(cols, covs)])
        cov = torch.from_numpy(covs)[:, None]
        w = torch.cat([torch.ones_like(cov), 1.0 + 9.0 * (cov > 0).float()])  # the object's pixels count most
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
    """PSNR of frames rebuilt from their tokenised layers, against the frames as rendered."""
    rng = np.random.default_rng(seed)
    bgs, cols, covs = D.random_layers(rng, n)
    frames = D.composite(bgs.astype(np.float32), cols, covs)
    rec = composite(tok.decode(tok.encode_background(bgs)), tok.decode(tok.encode_objects(cols, covs)))
    obj = covs > 0.5
    diff = (frames.astype(np.float64) - rec.astype(np.float64)) ** 2
    obj_mse = float(diff[obj].mean())
    return {
        "psnr_db": round(float(psnr(frames, rec)), 2),
        "object_psnr_db": round(float(10 * np.log10(255.0**2 / obj_mse)), 2),
        "eval_frames": n,
    }


def build_dataset(tok: FrameTokenizer, n_clips: int, seed: int) -> dict:
    """Render + tokenise the layers of whole training clips (MAX_FRAMES frames) once. Returns numpy
    arrays: tokens (n, T, N) int16 (object layers), background (n, N) int16, obj (n, T, N) bool (the
    object touches the patch), prompts (n, P), empty () int16 (the id of an empty object patch)."""
    from .model import latent_ids, pad_prompt, tokenize_prompt

    T, g = D.MAX_FRAMES, GRID
    p = D.SIZE // g
    n_tok = np.empty((n_clips, T, g * g), np.int16)
    n_obj = np.empty((n_clips, T, g * g), bool)
    n_bg = np.empty((n_clips, g * g), np.int16)
    prompts = np.empty((n_clips, len(pad_prompt([]))), np.int64)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    for i in range(n_clips):
        scene = D.sample_scene(rng, "train", caption_dropout=0.1)
        cov = D.object_coverage(scene, T)
        n_obj[i] = cov.reshape(T, g, p, g, p).max(axis=(2, 4)).reshape(T, -1) > 0.05
        n_tok[i] = tok.encode_objects(scene.rgb, cov).reshape(T, -1)
        n_bg[i] = tok.encode_background(D.background_uint8(scene)[None]).reshape(-1)
        prompts[i] = pad_prompt(tokenize_prompt(scene.caption) + latent_ids(scene.latent))
        if i % 250 == 0:
            log(f"dataset {i}/{n_clips} ({time.time() - t0:.0f}s)")
    empty = tok.encode_objects((0, 0, 0), np.zeros((1, D.SIZE, D.SIZE), np.float32))
    return {"tokens": n_tok, "background": n_bg, "obj": n_obj, "prompts": prompts,
            "empty": np.int16(empty[0, 0, 0])}


def make_batch(ds: dict, rng: np.random.Generator, batch: int, context: int, w_change: float,
               w_object: float):
    """Random (clip, frame t) targets with a MaskGIT mask: a cosine-distributed share of the target's
    slots is hidden and only those carry loss, weighted toward the slots that differ from frame t-1
    (from an empty layer for frame 0) and the slots the object touches (copying the last frame is
    the easy, wrong answer). t = -1 is the background layer (no context frames). The background,
    frame 0 and frame 1 are oversampled: they decide the clip."""
    from .model import BACKGROUND, MASK

    n, T, N = ds["tokens"].shape
    idx = rng.integers(0, n, size=batch)
    u = rng.random(batch)
    t = np.where(u < 0.1, BACKGROUND, np.where(u < 0.3, 0, np.where(u < 0.4, 1, rng.integers(2, T, size=batch))))
    is_bg = t == BACKGROUND
    target = np.where(is_bg[:, None], ds["background"][idx], ds["tokens"][idx, np.maximum(t, 0)])
    target = torch.from_numpy(target.astype(np.int64))
    ctx = np.stack([ds["tokens"][idx, np.maximum(t - c, 0)] for c in range(context, 0, -1)], 1).astype(np.int64)
    prev = torch.from_numpy(np.where((t >= 1)[:, None], ctx[:, -1], int(ds["empty"])))  # before corruption
    # the model's own frames carry small errors; teach it to mend them rather than copy and grow them:
    # in half the examples ~3% of context slots take a code from elsewhere in the same frame
    corrupt = (rng.random(ctx.shape) < 0.03) & (rng.random((batch, 1, 1)) < 0.5)
    donors = np.take_along_axis(ctx, rng.integers(0, N, size=ctx.shape), axis=2)
    ctx = np.where(corrupt, donors, ctx)
    present = torch.from_numpy(np.stack([t - c >= 0 for c in range(context, 0, -1)], 1))
    ratio = np.cos(np.pi / 2 * rng.random(batch))
    # half the frames fully hidden: the first decoding step of a frame sees no slot of it
    ratio = np.where(rng.random(batch) < 0.5, 1.0, ratio)
    n_mask = np.maximum(1, np.ceil(ratio * N)).astype(np.int64)
    rank = np.argsort(np.argsort(rng.random((batch, N)), axis=1), axis=1)
    hidden = torch.from_numpy(rank < n_mask[:, None])
    inp = torch.where(hidden, torch.full_like(target, MASK), target)
    changed = (target != prev) & torch.from_numpy(~is_bg)[:, None]
    obj = torch.from_numpy(ds["obj"][idx, np.maximum(t, 0)] & ~is_bg[:, None])
    w = (1.0 + (w_change - 1.0) * changed.float() + (w_object - 1.0) * obj.float()) * hidden.float()
    return (torch.from_numpy(ds["prompts"][idx]), torch.from_numpy(ctx), present, inp,
            torch.from_numpy(t.astype(np.int64)), target, w)


def train_transformer(ds: dict, cfg, steps: int, seed: int, batch: int, lr: float, w_change: float,
                      w_object: float, log_every: int = 25, checkpoint=None, ckpt_every: int = 0):
    from .model import VideoTransformer

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 1)
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
        prompt, ctx, present, inp, t, tgt, w = make_batch(ds, rng, batch, cfg.context_frames, w_change, w_object)
        logits = model(prompt, ctx, present, inp, t)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none")
        loss = (ce * w.reshape(-1)).sum() / w.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            hot = w > 1.5  # hidden slots that changed or that the object touches
            acc_hot = float((logits.argmax(-1)[hot] == tgt[hot]).float().mean()) if hot.any() else float("nan")
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % log_every == 0 or step == steps - 1:
            el = time.time() - t0
            log(f"step {step}/{steps} loss {loss.item():.3f} ema {ema:.3f} "
                f"acc_changed/object {acc_hot:.3f} ({el:.0f}s, {el / (step + 1):.2f}s/step)")
            hist.append({"step": step, "loss": round(loss.item(), 4), "ema": round(ema, 4),
                         "acc_hot": round(acc_hot, 4), "elapsed_s": round(el, 1)})
        if checkpoint is not None and ckpt_every and (step + 1) % ckpt_every == 0 and step + 1 < steps:
            model.eval()
            checkpoint(model, step + 1)
            model.train()
    model.eval()
    return model, hist


def hyperparameters(args) -> dict:
    """What determines the weights (no paths, no timings: the file's hash must be reproducible)."""
    skip = {"out", "tokenizer", "dataset_cache", "ckpt_every", "stage", "threads"}
    return {k: v for k, v in sorted(vars(args).items()) if k not in skip}


def main(argv=None) -> int:
    from .model import GenConfig
    from .sample import MODEL_NAME, save_weights, sha256_file

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (generator.safetensors, train_meta.json)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tok-steps", type=int, default=1500)
    ap.add_argument("--clips", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=3500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--w-change", type=float, default=5.0)
    ap.add_argument("--w-object", type=float, default=3.0)
    ap.add_argument("--d-model", type=int, default=GenConfig.d_model)
    ap.add_argument("--layers", type=int, default=GenConfig.n_layer)
    ap.add_argument("--heads", type=int, default=GenConfig.n_head)
    ap.add_argument("--tokenizer", help="reuse a tokenizer.pt instead of training one (experiments)")
    ap.add_argument("--stage", choices=["tokenizer", "all"], default="all")
    ap.add_argument("--dataset-cache", default=None, help="folder to cache the tokenised dataset in")
    ap.add_argument("--ckpt-every", type=int, default=0, help="also save checkpoint-STEP files")
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
    cache = (os.path.join(args.dataset_cache, f"ds3-{tok_digest[:16]}-{args.clips}-{args.seed}.npz")
             if args.dataset_cache else None)
    if cache and os.path.exists(cache):
        with np.load(cache) as z:
            ds = {k: z[k] for k in z.files}
        log(f"dataset loaded from {cache}")
    else:
        ds = build_dataset(tok, args.clips, args.seed + 2)
        if cache:
            os.makedirs(args.dataset_cache, exist_ok=True)
            np.savez(cache, **ds)
    meta["dataset_seconds"] = round(time.time() - t0, 1)
    changed = (ds["tokens"][:, 1:] != ds["tokens"][:, :-1]).mean()
    meta["dataset"] = {"clips": args.clips, "frames_per_clip": int(ds["tokens"].shape[1]),
                       "frac_tokens_changed": round(float(changed), 4),
                       "codes_used": int(len(np.unique(ds["tokens"])))}
    log(f"dataset done in {meta['dataset_seconds']}s: {meta['dataset']}")

    cfg = GenConfig(d_model=args.d_model, n_layer=args.layers, n_head=args.heads)
    path = os.path.join(args.out, "generator.safetensors")

    def checkpoint(model, step):
        save_weights(os.path.join(args.out, f"checkpoint-{step}.safetensors"), tok, model,
                     {"partial_step": step, "hyperparameters": hyperparameters(args)})
        log(f"checkpoint at step {step}")

    t0 = time.time()
    model, hist = train_transformer(ds, cfg, args.steps, args.seed + 3, args.batch, args.lr, args.w_change,
                                    args.w_object, checkpoint=checkpoint, ckpt_every=args.ckpt_every)
    meta["transformer_seconds"] = round(time.time() - t0, 1)
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
