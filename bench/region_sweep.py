"""Face-sized swaps on real footage: how many `verify` finds, with their region, and how many
regions it reports on unedited copies.

For every real clip in --src (at most --seconds long, at most 640 px wide): --swaps random swaps
(a rectangle of 4-9% of the frame, aspect 0.75-1.33, anywhere, replaced for 1-2 s by the same
rectangle of another real clip) and one unedited re-encode, each through the real flow
(fingerprint -> PerceptualIndex candidates -> match()) with every clip registered.  A swap is
found when the verdict is `altered`, the source is named and a reported region overlaps the
swapped rectangle (IoU > 0.2); an unedited copy must read `match` with no region.

    .venv/bin/python bench/region_sweep.py [--src ../shared/realfootage] [--swaps 8] [--seed 5]
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from bench.fingerprint_accuracy import _iou, run_flow  # noqa: E402
from bench.real_corpus import draw_swap, load_source  # noqa: E402
from provchain.provenance.fingerprint import analyze_file  # noqa: E402
from tests import corpus as C  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=os.path.join(HERE, "..", "..", "shared", "realfootage"))
    ap.add_argument("--swaps", type=int, default=8)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    paths = sorted(p for p in glob.glob(os.path.join(a.src, "*"))
                   if p.lower().endswith((".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg")))
    tmp = tempfile.mkdtemp(prefix="region-sweep-")
    clips = {}
    for p in paths:
        frames, fps = load_source(p, a.seconds, max_w=640)
        if len(frames) / fps >= 2.0:
            clips[os.path.splitext(os.path.basename(p))[0]] = (frames, fps)
    names = sorted(clips)
    t = time.perf_counter()
    recs = {n: analyze_file(C.write_video(os.path.join(tmp, f"src-{n}.mp4"), *clips[n], crf=18)).fingerprint.record_form()
            for n in names}
    found = total = clean_ok = 0
    rows = []
    for ci, n in enumerate(names):
        frames, fps = clips[n]
        h, w = frames[0].shape[:2]
        rng = np.random.default_rng([a.seed, ci])
        queries, truth = {}, {}
        queries[f"{n} unedited"] = analyze_file(C.write_video(os.path.join(tmp, f"{n}.plain.mp4"), frames, fps=fps,
                                                             crf=26)).fingerprint
        for k in range(a.swaps):
            (x0, y0, rw, rh), start, cnt = draw_swap(rng, w, h, len(frames), fps)
            others = [m for m in names if m != n]
            other = clips[others[k % len(others)]][0] if others else frames[::-1]
            out = C.replace_region(frames, other, (x0, y0, rw, rh), start, cnt)
            name = f"{n} swap{k}"
            queries[name] = analyze_file(C.write_video(os.path.join(tmp, f"{n}.swap{k}.mp4"), out, fps=fps,
                                                       crf=26)).fingerprint
            truth[name] = (x0 / w, y0 / h, rw / w, rh / h)
        res = run_flow(queries, recs)
        nf = 0
        for name, r in res.items():
            src = next((m for m in r.matches if m.record_id == n), None)
            if name in truth:
                regs = [s.region for s in (src.altered_segments if src else ()) if s.region]
                iou = max((_iou(g, truth[name]) for g in regs), default=0.0)
                ok = r.verdict == "altered" and src is not None and iou > 0.2
                nf += ok
                if a.verbose or not ok:
                    print(f"  {'ok  ' if ok else 'MISS'} {name:22s} -> {r.verdict:12s} IoU {iou:.2f} truth "
                          f"{tuple(round(v, 3) for v in truth[name])} regions {regs}")
            else:
                ok = r.verdict == "match" and src is not None and not src.altered_segments
                clean_ok += ok
                if not ok:
                    print(f"  FALSE {name:21s} -> {r.verdict} {[(m.record_id, m.altered_segments) for m in r.matches]}")
        found += nf
        total += a.swaps
        rows.append((n, nf, a.swaps, f"{w}x{h}", fps))
    print(f"\n{'clip':24s} {'size':>9s} {'fps':>6s} {'swaps found':>12s}")
    for n, nf, ns, size, fps in rows:
        print(f"{n:24s} {size:>9s} {fps:6.2f} {nf:>6d}/{ns:<5d}")
    print(f"{'TOTAL':24s} {'':>9s} {'':>6s} {found:>6d}/{total:<5d}   unedited copies read match, no region: "
          f"{clean_ok}/{len(names)}   ({time.perf_counter() - t:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
