"""Built-in video generator: decoding speed with and without the KV cache, training time, quality.

    .venv/bin/python bench/generator.py [--frames 16] [--nocache-frames 4] [--eval] [--json OUT]

* tokens/s and frames/s of sampling with the KV cache (a --frames clip) and without it, re-encoding
  the prompt and the two context frames for every refinement step (--nocache-frames, and the cached
  figure over the same short clip for a like-for-like ratio); end-to-end generate() of a 4 s clip
  (sampling + tokenizer decode + upscale) and MP4 writing;
* training time, tokenizer PSNR and sizes from provchain/generator/weights/train_meta.json (written
  by `python -m provchain.generator.train`);
* prompt adherence and motion over the 48 held-out prompts from weights/eval_heldout.json
  (`python -m provchain.generator.score --out ...`), or recomputed here with --eval.
All on one CPU thread.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

from provchain.generator import score as S  # noqa: E402
from provchain.generator.model import tokenize_prompt  # noqa: E402
from provchain.generator.sample import WEIGHTS_DIR, load_model, sample_tokens  # noqa: E402
from provchain.generator.video import write_mp4  # noqa: E402

PROMPT = "a red circle bouncing left to right over a striped green background"


def timed(fn, repeat=1):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--nocache-frames", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--eval", action="store_true", help="re-run the held-out evaluation (minutes)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = load_model(args.weights)
    m = gen.model
    ids = tokenize_prompt(PROMPT)
    tpf = m.cfg.tokens_per_frame
    res: dict = {"model_name": gen.model_name, "weights_sha256": gen.weights_sha256.hex(),
                 "torch": torch.__version__, "threads": 1}

    t, _ = timed(lambda: sample_tokens(m, ids, args.frames, seed=0), args.repeat)
    res["kv_cache"] = {"frames": args.frames, "seconds": round(t, 3),
                       "tokens_per_s": round(args.frames * tpf / t, 1), "frames_per_s": round(args.frames / t, 3)}
    nf = args.nocache_frames
    t_c, a = timed(lambda: sample_tokens(m, ids, nf, seed=0), args.repeat)
    t_n, b = timed(lambda: sample_tokens(m, ids, nf, seed=0, use_cache=False), 1)
    res["short_clip_cached"] = {"frames": nf, "seconds": round(t_c, 3),
                                "tokens_per_s": round(nf * tpf / t_c, 1), "frames_per_s": round(nf / t_c, 3)}
    res["no_cache"] = {"frames": nf, "seconds": round(t_n, 3),
                       "tokens_per_s": round(nf * tpf / t_n, 1), "frames_per_s": round(nf / t_n, 3),
                       "same_tokens_as_cached": bool((a == b).all())}
    res["cache_speedup_same_clip"] = round(t_n / t_c, 1)

    t_gen, frames = timed(lambda: gen.generate(PROMPT, seed=0, seconds=4.0), 1)
    with tempfile.TemporaryDirectory() as d:
        t_mp4, _ = timed(lambda: write_mp4(frames, os.path.join(d, "c.mp4"), fps=gen.fps), 1)
        size = os.path.getsize(os.path.join(d, "c.mp4"))
    res["generate_4s"] = {"frames": int(frames.shape[0]), "shape": list(frames.shape[1:]),
                          "seconds": round(t_gen, 2), "write_mp4_seconds": round(t_mp4, 3), "mp4_bytes": size}

    wdir = os.path.dirname(args.weights) if args.weights else WEIGHTS_DIR
    meta_path = os.path.join(wdir, "train_meta.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        res["training"] = {k: meta.get(k) for k in (
            "total_seconds", "tokenizer_seconds", "dataset_seconds", "transformer_seconds",
            "tokenizer_eval", "tokenizer_params", "transformer_params", "weights_bytes", "cpu_threads")}
    eval_path = os.path.join(wdir, "eval_heldout.json")
    if args.eval:
        from provchain.generator import data as D

        ev = S.evaluate(gen, D.heldout_prompts(), [0])
        res["heldout"] = {k: v for k, v in ev.items() if k != "per_clip"}
    elif os.path.exists(eval_path):
        with open(eval_path) as f:
            ev = json.load(f)
        res["heldout"] = {k: v for k, v in ev.items() if k != "per_clip"}

    print(json.dumps(res, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
