"""Are the built-in generator's clips told apart by the perceptual fingerprint? Clips of the same
prompt with different seeds (and of similar prompts) are the hardest different-content case the
matcher will see, since they share object, colours and background.

    .venv/bin/python bench/generator_distinct.py [--prompts 6] [--seeds 3] [--seconds 4]

Generates prompts x seeds clips with the shipped model, writes each as H.264 MP4, fingerprints it
(`analyze_file`, what `verify` does), and runs the real look-up flow (PerceptualIndex candidates ->
`match()`) for every clip against all the others: any verdict but `unregistered` is a false match.
Also checks each clip against its own record (must be `match`) and reports the smallest
different-content window distance next to the matcher's threshold. Exits 1 on any wrong verdict.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from provchain.generator import data as D  # noqa: E402
from provchain.generator.sample import load_model  # noqa: E402
from provchain.generator.video import write_mp4  # noqa: E402
from provchain.provenance.fingerprint import analyze_file  # noqa: E402
from provchain.provenance.match import WINDOW_DIST, WINDOW_SAMPLES, match  # noqa: E402
from provchain.provenance.pindex import PerceptualIndex  # noqa: E402


def min_window_distance(q, r) -> float:
    """Smallest mean Hamming distance over WINDOW_SAMPLES consecutive aligned samples, any offset,
    any crop variant of the query (weak samples included: an upper bound on what match() sees)."""
    hs, _ = q.variant_arrays()
    R = r.dct_array()
    best = np.inf
    for h in hs:
        d = np.bitwise_count(h[:, None, :] ^ R[None, :, :]).sum(-1).astype(float)
        n, m = d.shape
        for off in range(-n + 1, m):
            diag = np.diagonal(d, off)
            if len(diag) >= WINDOW_SAMPLES:
                best = min(best, float(np.convolve(diag, np.ones(WINDOW_SAMPLES) / WINDOW_SAMPLES, "valid").min()))
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=6)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    a = ap.parse_args()
    gen = load_model()
    rng = np.random.default_rng(7)
    prompts = [D.sample_scene(rng, "any").caption for _ in range(a.prompts)]
    clips = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        for i, p in enumerate(prompts):
            for seed in range(a.seeds):
                path = os.path.join(d, f"p{i}-s{seed}.mp4")
                write_mp4(gen.generate(p, seed=seed, seconds=a.seconds), path, fps=gen.fps)
                clips[f"p{i}-s{seed}"] = analyze_file(path).fingerprint
        print(f"{len(clips)} clips ({a.prompts} prompts x {a.seeds} seeds, {a.seconds:g} s) generated and "
              f"fingerprinted in {time.perf_counter() - t0:.0f} s")
    recs = {k: fp.record_form() for k, fp in clips.items()}
    names = list(recs)
    ix = PerceptualIndex()
    for i, k in enumerate(names):
        ix.add(i, recs[k])
    wrong = 0
    false_matches, self_ok = [], 0
    for k, q in clips.items():
        own = match(q, {k: recs[k]})
        self_ok += own.verdict == "match"
        wrong += own.verdict != "match"
        cand = {names[i]: recs[names[i]] for i, _ in ix.query(q) if names[i] != k}
        r = match(q, cand)
        if r.verdict != "unregistered":
            false_matches.append((k, r.verdict, [m.record_id for m in r.matches]))
            wrong += 1
    same_prompt, other_prompt = [], []
    for x in names:
        for y in names:
            if x != y:
                (same_prompt if x.split("-")[0] == y.split("-")[0] else other_prompt).append(
                    min_window_distance(clips[x], recs[y]))
    print(f"own record: {self_ok}/{len(clips)} match")
    print(f"other clips: {len(false_matches)} false match(es) of {len(clips)} queries"
          + "".join(f"\n  {k}: {v} {ids}" for k, v, ids in false_matches))
    print(f"smallest window distance (mean of {WINDOW_SAMPLES} samples, 256 bits; match needs <= {WINDOW_DIST}): "
          f"same prompt, other seed {min(same_prompt, default=np.nan):.1f}; "
          f"other prompt {min(other_prompt, default=np.nan):.1f}")
    for i, p in enumerate(prompts):
        print(f"  p{i}: {p}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
