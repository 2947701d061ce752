"""Catch-up speed of a full node joining a long chain: blocks/s and registrations/s it block-syncs.

    .venv/bin/python bench/catchup.py [--blocks 10000] [--records 10000]

1. A 4-validator provenance chain of --blocks blocks carrying --records RegisterClip txs (real-sized
   fingerprints, as bench/registrations.py) is built directly into node0's LevelDB: each block made,
   executed by the app and committed with precommits signed by all four validator keys, exactly what
   consensus would have stored. The database is copied to the other three validators.
2. The four validators start (as OS processes on 127.0.0.1, consensus resumes above the chain), then a
   full node made by `provchain init` with the four as persistent peers. Catch-up time: from the full
   node's first synced block to its height reaching the chain's (its process start-up is reported apart).
3. Limits measured in the same run: the Ed25519 ceiling (single-core verifications/s divided by the
   signatures a syncing node checks per block: 4 precommits + 1 per registration) and local replay (the
   same blocks executed and written by a fresh app in this process, no network, no signature checks of
   commits: what block sync costs on top of the app).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench.registrations import make_records  # noqa: E402
from bench.throughput import ed25519_ceiling  # noqa: E402
from provchain.chain import crypto  # noqa: E402
from provchain.chain.store import BlockStore, LevelDBKV  # noqa: E402
from provchain.chain.types import PRECOMMIT, Block, Commit, Vote  # noqa: E402
from provchain.consensus.config import NodeConfig  # noqa: E402
from provchain.consensus.node import Home  # noqa: E402
from provchain.consensus.nodekey import node_id  # noqa: E402
from provchain.consensus.proposer import proposer  # noqa: E402
from provchain.devnet.cluster import free_base_port, http_json  # noqa: E402
from provchain.devnet.launcher import node_command, wait_healthy  # noqa: E402
from provchain.devnet.testnet import ports, write_testnet  # noqa: E402
from provchain.provenance.app import ProvenanceApp  # noqa: E402


def build_chain(home: Home, keys: list[crypto.PrivateKey], blocks: int, txs: list[bytes]) -> None:
    genesis = home.load_genesis()
    valset = genesis.validators
    by_addr = {k.address: k for k in keys}
    kv = LevelDBKV(home.db)
    store = BlockStore(kv)
    app = ProvenanceApp(kv, genesis.chain_id, genesis.params.max_tx_bytes, valset)
    per_block = [len(txs) * (h + 1) // blocks - len(txs) * h // blocks for h in range(blocks)]
    it = iter(txs)
    last_commit = None
    t0 = time.perf_counter()
    for h in range(1, blocks + 1):
        _, app_hash, last_hash, _ = store.chain_state()
        time_ms = genesis.genesis_time_ms if h == 1 else last_commit.median_time(valset)
        block = Block.make(dict(chain_id=genesis.chain_id, height=h, time_ms=time_ms, last_block_hash=last_hash,
                                validators_hash=valset.hash(), next_validators_hash=valset.hash(),
                                app_hash=app_hash, proposer_address=proposer(valset, h, 0)),
                           [next(it) for _ in range(per_block[h - 1])], (), last_commit)
        results, new_hash = app.finalize_block(block)
        votes = [Vote(PRECOMMIT, h, 0, block.hash, time_ms + 1000 + i, v.address).signed(by_addr[v.address],
                                                                                      genesis.chain_id)
                 for i, v in enumerate(valset.validators)]
        commit = Commit.from_votes(votes)
        batch = store.batch_for(block, commit, results, new_hash)
        batch.update(app.pending_writes())
        kv.write(batch, sync=False)
        app.commit()
        last_commit = commit
        if h % 2000 == 0:
            print(f"  built {h} blocks ({time.perf_counter() - t0:.0f} s)", flush=True)
    kv.close()


def local_replay(home: Home, out: Path, blocks: int) -> float:
    """Seconds for a fresh app to execute and durably write `blocks` stored blocks (no network)."""
    genesis = home.load_genesis()
    src = LevelDBKV(home.db)
    store = BlockStore(src)
    kv = LevelDBKV(out)
    dst = BlockStore(kv)
    app = ProvenanceApp(kv, genesis.chain_id, genesis.params.max_tx_bytes, genesis.validators)
    items = [(store.block(h), store.commit(h)) for h in range(1, blocks + 1)]
    src.close()
    t0 = time.perf_counter()
    for block, commit in items:
        results, app_hash = app.finalize_block(block)
        batch = dst.batch_for(block, commit, results, app_hash)
        batch.update(app.pending_writes())
        kv.write(batch, sync=True)
        app.commit()
    dt = time.perf_counter() - t0
    kv.close()
    return dt


def height(url: str) -> int:
    try:
        return int(http_json(url + "/status", timeout=3)[1]["result"]["sync_info"]["latest_block_height"])
    except (OSError, KeyError, ValueError, TypeError):
        return -1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=10_000)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--replay-blocks", type=int, default=2_000, help="blocks replayed locally for that limit")
    a = ap.parse_args()
    per_core, _ = ed25519_ceiling(1)
    sigs_per_block = 4 + a.records / a.blocks
    ed_ceiling = per_core / sigs_per_block
    print(f"ed25519: {per_core:,.0f} verifications/s on one core -> {ed_ceiling:,.0f} blocks/s at "
          f"{sigs_per_block:.1f} signatures per block")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = free_base_port(5)
        homes = [Home(h) for h in write_testnet(tmp / "net", 4, base_port=base, app_name="provenance")]
        keys = [crypto.PrivateKey.load(h.key) for h in homes]
        txs = make_records(a.records, 8.0)
        print(f"building {a.blocks} blocks with {len(txs)} RegisterClip txs "
              f"({sum(map(len, txs)) / max(1, len(txs)):.0f} bytes each)", flush=True)
        build_chain(homes[0], keys, a.blocks, txs)
        for h in homes[1:]:
            shutil.copytree(homes[0].db, h.db)
        replay_s = local_replay(homes[0], tmp / "replay.db", a.replay_blocks)
        replay_bps = a.replay_blocks / replay_s
        print(f"local replay: {a.replay_blocks} blocks in {replay_s:.1f} s = {replay_bps:,.0f} blocks/s")

        procs = []
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        try:
            for h in homes:
                procs.append(subprocess.Popen(node_command(h.root), stdout=open(h.root / "node.log", "ab"),
                                              stderr=subprocess.STDOUT, env=env, start_new_session=True))
            for i in range(4):
                assert wait_healthy(f"http://127.0.0.1:{ports(i, base)[1]}", 120, procs[i]), "validator down"
            full = Home(tmp / "full")
            p2p, rpc = ports(4, base)
            peers = [f"{node_id(crypto.PrivateKey.load(h.node_key).pubkey)}@127.0.0.1:{ports(i, base)[0]}"
                     for i, h in enumerate(homes)]
            r = subprocess.run([sys.executable, "-m", "provchain", "init", "--home", str(full.root), "--genesis",
                                str(homes[0].genesis), "--persistent-peers", ",".join(peers), "--moniker", "full",
                                "--p2p-laddr", f"127.0.0.1:{p2p}", "--rpc-laddr", f"127.0.0.1:{rpc}",
                                "--prometheus-laddr", f"127.0.0.1:{base + 44}"], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            url = f"http://127.0.0.1:{rpc}"
            t_start = time.perf_counter()
            procs.append(subprocess.Popen(node_command(full.root), stdout=open(full.root / "node.log", "ab"),
                                          stderr=subprocess.STDOUT, env=env, start_new_session=True))
            t_first = None
            h = -1
            deadline = time.perf_counter() + 3600
            while h < a.blocks and time.perf_counter() < deadline:
                time.sleep(0.25)
                h = height(url)
                if t_first is None and h >= 1:
                    t_first, h_first = time.perf_counter(), h
                assert procs[-1].poll() is None, (full.root / "node.log").read_text()[-3000:]
            t_end = time.perf_counter()
            synced = h - h_first
            bps = synced / (t_end - t_first)
            rps = bps * a.records / a.blocks
            print(f"full node: first block {t_first - t_start:.1f} s after start, then {synced} blocks in "
                  f"{t_end - t_first:.1f} s = {bps:,.0f} blocks/s, {rps:,.0f} registrations/s")
            print(f"= {bps / ed_ceiling:.1%} of the Ed25519 ceiling, {bps / replay_bps:.0%} of local replay")
            same = http_json(f"http://127.0.0.1:{ports(0, base)[1]}/block?height={a.blocks}")[1]["result"]["block_id"]
            mine = http_json(url + f"/block?height={a.blocks}")[1]["result"]["block_id"]
            print("block", a.blocks, "hash equal on the full node and node0:", same == mine)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    main()
