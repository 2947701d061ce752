"""What C2PA adds, on real camera clips: signing a manifest into the file (the hook) and reading +
validating it (`verify`), each as a ratio to decoding the same clip with PyAV in the same run (the
limit: the fingerprint has to decode it anyway). Also checks, per clip, that the signed file validates
as Trusted against the CA and that embedding changed no decoded frame (frames_sha256 and fingerprint
equal before and after). Needs the `c2pa` extra.

    .venv/bin/python bench/c2pa_overhead.py [--dir /work/shared/realfootage] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import av

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from provchain.chain.crypto import PrivateKey  # noqa: E402
from provchain.devnet import ca  # noqa: E402
from provchain.provenance import c2pa_read, c2pa_sign  # noqa: E402
from provchain.provenance.fingerprint import analyze_file  # noqa: E402


def decode_all(path: str) -> int:
    n = 0
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for _ in c.decode(s):
            n += 1
    return n


def best(fn, runs: int) -> float:
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/work/shared/realfootage")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    clips = sorted(p for p in Path(a.dir).iterdir() if c2pa_sign.mime_type(p))
    key = PrivateKey.generate()
    print("| clip | size | decode | sign | sign / decode | read + validate | read / decode | state | frames unchanged |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        ca.create_ca(Path(tmp) / "ca", "bench CA")
        chain = ca.issue(Path(tmp) / "ca", key.pubkey, "bench creator")
        anchors = (Path(tmp) / "ca" / ca.CA_CERT).read_text()
        for src in clips:
            work = Path(tmp) / src.name
            shutil.copy(src, work)
            t_dec = best(lambda: decode_all(str(work)), a.runs)
            before = analyze_file(str(work))
            manifest = c2pa_sign.manifest_definition(before, key.pubkey, "bench", None, src.name)

            def sign():
                shutil.copy(src, work)
                c2pa_sign.sign_in_place(work, key, chain, manifest)
            t_copy = best(lambda: shutil.copy(src, work), a.runs)
            t_sign = max(0.0, best(sign, a.runs) - t_copy)
            rep = c2pa_read.read_manifest(str(work), anchors)
            t_read = best(lambda: c2pa_read.read_manifest(str(work), anchors), a.runs)
            after = analyze_file(str(work))
            same = after.frames_sha256 == before.frames_sha256 and after.fingerprint == before.fingerprint
            print(f"| {src.name} | {src.stat().st_size / 1e6:.1f} MB | {t_dec:.3f} s | {t_sign:.3f} s | "
                  f"{t_sign / t_dec:.2f} | {t_read:.3f} s | {t_read / t_dec:.2f} | {rep['validation_state']} | "
                  f"{'yes' if same else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
