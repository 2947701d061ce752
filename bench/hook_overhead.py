"""What registration adds to generation: fingerprint + sign + submit, as a fraction of generation time,
and the wait for commit reported separately. Needs the `generator` extra (torch).

    .venv/bin/python bench/hook_overhead.py [--seconds 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from provchain.chain.crypto import PrivateKey  # noqa: E402
from provchain.devnet.cluster import Cluster  # noqa: E402
from provchain.generator.sample import load_model  # noqa: E402
from provchain.generator.video import write_mp4  # noqa: E402
from provchain.provenance.client import NodeClient  # noqa: E402
from provchain.provenance.fingerprint import analyze_file  # noqa: E402
from provchain.provenance.record import GeneratorInfo  # noqa: E402
from provchain.provenance.register import build_record  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    gen = load_model()
    key = PrivateKey.generate()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(os.path.join(tmp, "net"), n=4, app="provenance")
        cluster.start_all()
        try:
            client = NodeClient(cluster.url(0))
            chain_id = client.status()["node_info"]["network"]
            for run in range(a.runs):
                path = os.path.join(tmp, f"clip{run}.mp4")
                t0 = time.perf_counter()
                frames = gen.generate("a red circle moving left to right over a striped green background", seed=run,
                                      seconds=a.seconds)
                write_mp4(frames, path, fps=gen.fps)
                t_gen = time.perf_counter() - t0
                t1 = time.perf_counter()
                info = GeneratorInfo(gen.model_name, gen.weights_sha256, b"\0" * 32, run,
                                     tuple(sorted(gen.sampling_settings.items())))
                record = build_record(analyze_file(path), info)
                tx = record.sign(key, chain_id, client.next_nonce(key.pubkey)).encode()
                client.broadcast(tx, wait=False)
                t_hook = time.perf_counter() - t1
                t2 = time.perf_counter()
                while client.record_by_content(record.file_sha256) is None:
                    time.sleep(0.02)
                t_commit = time.perf_counter() - t2
                rows.append((t_gen, t_hook, t_commit))
                print(f"run {run}: generate+write {t_gen:.2f}s, hook (fingerprint+sign+submit) {t_hook * 1000:.0f} ms "
                      f"= {t_hook / t_gen:.1%}, commit wait {t_commit:.2f}s")
        finally:
            cluster.stop_all()
    g, h, c = (sorted(x)[len(x) // 2] for x in zip(*rows))
    print(f"median: generation {g:.2f}s, hook {h * 1000:.0f} ms = {h / g:.1%} of generation (target <= 2%), "
          f"commit wait {c:.2f}s")


if __name__ == "__main__":
    main()
