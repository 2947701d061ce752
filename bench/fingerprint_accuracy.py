"""Fingerprint + match accuracy per transformation family, on real footage and on the synthetic corpus.

REAL: the corpus of bench/real_corpus.py (built first if --real-dir has no cases.json): every
family applied to every real clip with seeded parameters; clips split into dev (tuned on) and
held-out (reported separately).  Each query runs the real flow (PerceptualIndex candidates ->
match()) with all sources registered, and again with its own source left out (leave-one-out
negatives: it must then read `unregistered`, except splices and picture-in-picture, which carry
another registered clip).
SYNTHETIC: tests/corpus.py (8 procedural sources x 14 transformations + 8 unrelated clips).

Rules: core families must read `match` naming their source; overlays (subtitles, logo) `match`, or
`altered` with a region on every altered segment; a face-sized swap `altered` with a region that
overlaps the swapped rectangle; splices `altered` naming the source; stretch goals (9:16 centre
crop, rotation + zoom, picture-in-picture) must name the source, and are reported, not counted.
Prints one row per family (right/total, similarity range) and exits 1 on any wrong non-stretch case.

    .venv/bin/python bench/fingerprint_accuracy.py [--real-dir DIR] [--src ../shared/realfootage]
        [--seed 11] [--synthetic-dir DIR] [--no-synthetic] [--no-real] [-v]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from provchain.provenance.fingerprint import analyze_file  # noqa: E402
from provchain.provenance.match import match  # noqa: E402
from provchain.provenance.pindex import PerceptualIndex  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def run_flow(queries: dict, recs: dict, exclude: str | None = None):
    ix = PerceptualIndex()
    keys = {}
    for i, (rid, fp) in enumerate(recs.items()):
        if rid != exclude:
            ix.add(i, fp)
            keys[i] = rid
    out = {}
    for name, fp in queries.items():
        cand = {keys[k]: recs[keys[k]] for k, _ in ix.query(fp)}
        out[name] = match(fp, cand)
    return out


def _iou(a, b) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter + 1e-9)


def judge_real(c, r) -> tuple[bool, float | None, str]:
    """(right?, similarity of the source, note)."""
    ids = [m.record_id for m in r.matches]
    src = next((m for m in r.matches if m.record_id == c.source), None)
    sim = src.similarity if src else None
    if c.expected == "match":
        return r.verdict == "match" and ids == [c.source], sim, ""
    if c.expected == "overlay":
        if r.verdict == "match" and ids == [c.source]:
            return True, sim, ""
        ok = r.verdict == "altered" and src is not None and src.altered_segments and all(
            a.region for a in src.altered_segments)
        return bool(ok), sim, "altered+region" if ok else ""
    if c.expected == "stretch":
        return r.verdict in ("match", "altered") and src is not None, sim, ""
    if c.family == "swap":
        regs = [a.region for a in (src.altered_segments if src else ()) if a.region]
        best = max((_iou(g, c.region) for g in regs), default=0.0)
        return r.verdict == "altered" and src is not None and best > 0.2, sim, f"IoU {best:.2f}"
    return r.verdict == "altered" and src is not None, sim, ""


def fmt_range(xs) -> str:
    xs = [x for x in xs if x is not None]
    return f"{min(xs):.2f}-{max(xs):.2f}" if xs else "-"


def real_part(a) -> int:
    from bench import real_corpus

    d = a.real_dir
    if not os.path.exists(os.path.join(d, "cases.json")):
        t = time.perf_counter()
        real_corpus.build(d, a.src, a.seed, log=(print if a.verbose else (lambda *_: None)))
        print(f"built the real corpus in {d} in {time.perf_counter() - t:.0f} s")
    sources, cases = real_corpus.load(d)
    t = time.perf_counter()
    recs = {rid: analyze_file(p).fingerprint.record_form() for rid, p in sources.items()}
    queries = {c.name: analyze_file(c.query).fingerprint for c in cases}
    print(f"REAL: {len(recs)} sources, {len(cases)} queries (fingerprinted in {time.perf_counter() - t:.0f} s)")
    res = run_flow(queries, recs)
    loo = {}
    for rid in recs:
        sub = {c.name: queries[c.name] for c in cases if c.source == rid and c.family not in ("splice", "pip40")}
        loo.update(run_flow(sub, recs, exclude=rid))
    rows = defaultdict(lambda: {"dev": [0, 0, []], "heldout": [0, 0, []], "neg": [0, 0]})
    wrong = 0
    for c in cases:
        ok, sim, note = judge_real(c, res[c.name])
        row = rows[c.family][c.split]
        row[0] += ok
        row[1] += 1
        row[2].append(sim)
        if not ok and c.expected != "stretch":
            wrong += 1
        if c.name in loo:
            nok = loo[c.name].verdict == "unregistered"
            rows[c.family]["neg"][0] += nok
            rows[c.family]["neg"][1] += 1
            if not nok:
                wrong += 1
                print(f"  FALSE MATCH: {c.name} with its source left out -> {loo[c.name].verdict} "
                      f"{[(m.record_id, m.similarity) for m in loo[c.name].matches]}")
        if a.verbose or (not ok):
            m = res[c.name]
            desc = "; ".join(f"{x.record_id} {x.similarity:.2f} alt={[(s.query_start_ms, s.query_end_ms, s.region) for s in x.altered_segments][:3]}"
                             for x in m.matches)
            print(f"  {'ok   ' if ok else ('stretch-miss' if c.expected == 'stretch' else 'WRONG')} {c.name:34s} "
                  f"{c.expected:8s} -> {m.verdict:12s} {desc} {note} {c.params if not ok else ''}")
    print(f"\n{'family (REAL)':22s} {'dev':>7s} {'sim':>10s} {'held-out':>9s} {'sim':>10s} {'source left out -> unregistered':>32s}")
    from bench.real_corpus import ALTERED, CORE, OVERLAY, STRETCH
    order = ["remux", *CORE, *OVERLAY, *ALTERED, *STRETCH]
    tot = defaultdict(lambda: [0, 0])
    for fam in order:
        if fam not in rows:
            continue
        r = rows[fam]
        kind = "stretch" if fam in STRETCH else "core"
        for s in ("dev", "heldout"):
            tot[(kind, s)][0] += r[s][0]
            tot[(kind, s)][1] += r[s][1]
        tot[("neg", "")][0] += r["neg"][0]
        tot[("neg", "")][1] += r["neg"][1]
        neg = f"{r['neg'][0]}/{r['neg'][1]}" if r["neg"][1] else "-"
        print(f"{fam + (' (stretch)' if kind == 'stretch' else ''):22s} {r['dev'][0]:>3d}/{r['dev'][1]:<3d} "
              f"{fmt_range(r['dev'][2]):>10s} {r['heldout'][0]:>4d}/{r['heldout'][1]:<4d} "
              f"{fmt_range(r['heldout'][2]):>10s} {neg:>32s}")
    for kind in ("core", "stretch"):
        d, h = tot[(kind, "dev")], tot[(kind, "heldout")]
        print(f"{'TOTAL ' + kind:22s} {d[0]:>3d}/{d[1]:<3d} {'':>10s} {h[0]:>4d}/{h[1]:<4d}")
    n = tot[("neg", "")]
    print(f"{'unrelated real clips':22s} {n[0]}/{n[1]} read unregistered")
    return wrong


def synthetic_part(a) -> int:
    from tests.corpus import build_corpus

    tmp = tempfile.TemporaryDirectory()
    d = a.synthetic_dir or tmp.name
    t = time.perf_counter()
    sources, cases = build_corpus(d)
    recs = {rid: analyze_file(p).fingerprint.record_form() for rid, p in sources.items()}
    queries = {c.name: analyze_file(c.query).fingerprint for c in cases}
    print(f"\nSYNTHETIC: {len(recs)} sources, {len(cases)} queries ({time.perf_counter() - t:.0f} s)")
    res = run_flow(queries, recs)
    rows = defaultdict(lambda: [0, 0, []])
    wrong = 0
    for c in cases:
        r = res[c.name]
        ids = [m.record_id for m in r.matches]
        ok = r.verdict == c.expected and set(c.records) <= set(ids)
        if c.expected == "match":
            ok = ok and ids == [c.records[0]]
        if c.name.endswith(" logo") and not ok:  # an overlay may read altered with its region
            src = next((m for m in r.matches if m.record_id == c.records[0]), None)
            ok = r.verdict == "altered" and src is not None and all(s.region for s in src.altered_segments)
        fam = "unrelated" if c.expected == "unregistered" else c.name.split(" ", 1)[1]
        fam = "splice +registered" if fam.startswith("splice +src") else fam
        src = next((m for m in r.matches if c.records and m.record_id == c.records[0]), None)
        rows[fam][0] += ok
        rows[fam][1] += 1
        rows[fam][2].append(src.similarity if src else None)
        wrong += not ok
        if a.verbose or not ok:
            print(f"  {'ok   ' if ok else 'WRONG'} {c.name:40s} {c.expected:12s} -> {r.verdict:12s} "
                  f"{[(m.record_id, m.similarity, [(s.query_start_ms, s.region) for s in m.altered_segments][:3]) for m in r.matches]}")
    print(f"\n{'family (SYNTHETIC)':22s} {'right':>7s} {'sim':>10s}")
    for fam, (k, n, sims) in rows.items():
        print(f"{fam:22s} {k:>3d}/{n:<3d} {fmt_range(sims):>10s}")
    return wrong


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real-dir", default=os.path.join(tempfile.gettempdir(), "provchain-real-corpus"))
    ap.add_argument("--src", default=os.path.join(HERE, "..", "..", "shared", "realfootage"))
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--synthetic-dir")
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    wrong = 0
    if not a.no_real:
        wrong += real_part(a)
    if not a.no_synthetic:
        wrong += synthetic_part(a)
    print(f"\n{wrong} wrong (non-stretch) case(s)")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
