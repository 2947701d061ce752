"""What the tx/block event index (tx_search, block_search) costs a node, against the Ed25519 verification
every validator does for every tx anyway.

    .venv/bin/python bench/event_index.py [--blocks 10] [--txs 1000]

Commits --blocks blocks of --txs RegisterClip txs (real-sized fingerprints, 100 creators) through the
provenance app on LevelDB, then indexes them (what the node does after each commit) and times it per
tx; the limit, measured in the same run, is one Ed25519 verification. Then times tx_search by creator
and block_search by height over what was indexed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from provchain.chain import crypto  # noqa: E402
from provchain.chain.eventindex import EventIndex  # noqa: E402
from provchain.chain.query import parse  # noqa: E402
from provchain.chain.store import BlockStore, LevelDBKV  # noqa: E402
from provchain.chain.types import Block, Commit, ConsensusParams  # noqa: E402
from provchain.provenance.app import ProvenanceApp  # noqa: E402
from provchain.provenance.fingerprint import ALG, HASH_BYTES, Fingerprint  # noqa: E402
from provchain.provenance.record import MediaInfo, RegisterClip  # noqa: E402

CHAIN = "bench"


def record(rng: random.Random, samples: int = 40) -> RegisterClip:
    fp = Fingerprint(ALG, tuple(200 * i for i in range(samples)), tuple(rng.randbytes(HASH_BYTES) for _ in range(samples)))
    return RegisterClip(rng.randbytes(32), rng.randbytes(32), fp, MediaInfo(8000, 24000, 256, 256, "h264", "mp4"),
                        1_700_000_000_000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--txs", type=int, default=1000)
    args = ap.parse_args()
    rng = random.Random(1)
    keys = [crypto.PrivateKey.generate() for _ in range(100)]
    nonces = [0] * len(keys)
    with tempfile.TemporaryDirectory() as d:
        kv = LevelDBKV(os.path.join(d, "db"))
        app = ProvenanceApp(kv, CHAIN, ConsensusParams().max_tx_bytes)
        store, index = BlockStore(kv), EventIndex(kv, app)
        index_s, n_txs, blocks = 0.0, 0, []
        for h in range(1, args.blocks + 1):
            txs = []
            for i in range(args.txs):
                k = i % len(keys)
                txs.append(record(rng).sign(keys[k], CHAIN, nonces[k]).encode())
                nonces[k] += 1
            block = Block.make(dict(chain_id=CHAIN, height=h, time_ms=1000 * h, last_block_hash=b"",
                                    validators_hash=b"\0" * 32, app_hash=app.info()[1], proposer_address=b"\0" * 20), txs)
            results, app_hash = app.finalize_block(block)  # verifies the signatures (then cached, as in a node)
            batch = store.batch_for(block, Commit(h, 0, block.hash, ()), results, app_hash)
            batch.update(app.pending_writes())
            kv.write(batch)
            app.commit()
            t0 = time.perf_counter()
            index.index_block(block)
            index_s += time.perf_counter() - t0
            n_txs += len(txs)
            blocks.append(block)
        msg = os.urandom(1700)
        sig = keys[0].sign(msg)
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 2.0:
            crypto.verify(keys[0].pubkey, msg, sig)
            n += 1
        verify_us = 1e6 * (time.perf_counter() - t0) / n
        index_us = 1e6 * index_s / n_txs
        creator = keys[7].pubkey.hex().upper()
        t0 = time.perf_counter()
        hits = index.search_txs(parse(f"register_clip.creator='{creator}'"))
        search_ms = 1e3 * (time.perf_counter() - t0)
        t0 = time.perf_counter()
        bhits = index.search_blocks(parse(f"block.height >= {args.blocks // 2} AND provenance.new_records > 0"))
        bsearch_ms = 1e3 * (time.perf_counter() - t0)
        entries = sum(1 for _ in kv.iterate(b"ix/"))
        kv.close()
    print(f"indexed {n_txs} register_clip txs in {args.blocks} blocks: {index_us:.1f} us/tx "
          f"({entries / n_txs:.1f} index entries per tx)")
    print(f"Ed25519 verification of a 1,700-byte tx, same run: {verify_us:.1f} us -> index = "
          f"{100 * index_us / verify_us:.1f}% of one verification")
    print(f"tx_search by creator: {len(hits)} txs in {search_ms:.1f} ms; block_search by height range and "
          f"event: {len(bhits)} blocks in {bsearch_ms:.1f} ms")


if __name__ == "__main__":
    main()
