"""Committed tx/s and commit latency of a 4-validator devnet on this machine, against the Ed25519 ceiling.

    .venv/bin/python bench/throughput.py [--validators 4] [--seconds 20] [--rate 100]

Phase 1 offers as much load as it can (pre-signed note txs, round-robin over the validators' RPC) and
counts what gets committed per second. Phase 2 offers a steady --rate tx/s and measures each tx's commit
latency (submit -> first sight of its block on a node, polled every 20 ms). The ceiling, measured in the
same run: single-core Ed25519 verifications/s x cores / validators (each validator checks every tx once).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time

import aiohttp

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from provchain.chain import crypto  # noqa: E402
from provchain.chain.tx import SignedTx  # noqa: E402
from provchain.chain.types import tx_hash  # noqa: E402
from provchain.devnet.cluster import Cluster  # noqa: E402

CHAIN = "provchain-devnet"


def ed25519_ceiling(n_validators: int, seconds: float = 2.0) -> tuple[float, float]:
    key = crypto.PrivateKey.generate()
    msgs = [os.urandom(200) for _ in range(256)]
    sigs = [key.sign(m) for m in msgs]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for m, s in zip(msgs, sigs):
            crypto.verify(key.pubkey, m, s)
        n += len(msgs)
    per_core = n / (time.perf_counter() - t0)
    return per_core, per_core * (os.cpu_count() or 1) / n_validators


def make_txs(count: int, senders: int = 200) -> list[bytes]:
    keys = [crypto.PrivateKey.generate() for _ in range(senders)]
    return [SignedTx.create(keys[i % senders], CHAIN, "note", i // senders, os.urandom(100)).encode()
            for i in range(count)]


async def submit_all(urls, txs, rate: float | None, sent_at: dict, concurrency: int = 64, batch: int = 0):
    """Submit txs round-robin over the validators: one POST /broadcast_tx each, at most `rate` per second
    when given; or, with `batch`, POST /broadcast_tx_batch of that many (the chain's capacity, not the
    client's, is then the limit). Returns the number rejected."""
    from provchain.chain.encoding import decode, encode
    # each sender always goes to the same validator, so its nonces arrive in order
    node_of = [int.from_bytes(decode(tx)[1][:4], "big") % len(urls) for tx in txs]
    if batch:
        units = []
        for node in range(len(urls)):
            mine = [tx for tx, n in zip(txs, node_of) if n == node]
            units += [(node, i, mine[i:i + batch]) for i in range(0, len(mine), batch)]
        units.sort(key=lambda u: u[1])  # interleave the validators
    else:
        units = [(node_of[i], i, [tx]) for i, tx in enumerate(txs)]
    # batches: one worker per validator, in order (a sender's nonces must not overtake each other)
    queues = [asyncio.Queue() for _ in range(len(urls) if batch else 1)]
    for u in units:
        queues[u[0] if batch else 0].put_nowait(u)
    rejected = 0
    t0 = time.perf_counter()

    async def worker(session, q):
        nonlocal rejected
        while not q.empty():
            node, i, group = q.get_nowait()
            if rate:
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            now = time.perf_counter()
            for tx in group:
                sent_at[tx_hash(tx)] = now
            url = urls[node]
            try:
                if batch:
                    async with session.post(url + "/broadcast_tx_batch", data=encode(group),
                                            headers={"Content-Type": "application/x-msgpack"}) as r:
                        body = await r.json()
                        rejected += sum(1 for x in body["result"]["results"] if x["code"] != 0)
                else:
                    async with session.post(url + "/broadcast_tx", data=group[0],
                                            headers={"Content-Type": "application/octet-stream"}) as r:
                        if r.status != 200:
                            rejected += 1
                        await r.read()
            except aiohttp.ClientError:
                rejected += len(group)

    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:
        if batch:
            await asyncio.gather(*(worker(session, q) for q in queues))
        else:
            await asyncio.gather(*(worker(session, queues[0]) for _ in range(16 if rate else concurrency)))
    return rejected


async def watch_commits(url: str, committed_at: dict, stop: asyncio.Event, start_height: int):
    """Poll the node; record when each tx's block is first seen."""
    import base64
    h = start_height
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            async with session.get(f"{url}/status") as r:
                tip = int((await r.json())["result"]["sync_info"]["latest_block_height"])
            while h < tip:
                h += 1
                async with session.get(f"{url}/block?height={h}") as r:
                    block = (await r.json())["result"]["block"]
                now = time.perf_counter()
                for t in block["data"]["txs"]:
                    committed_at[tx_hash(base64.b64decode(t))] = now
            await asyncio.sleep(0.02)


async def phase(cluster, txs, rate, batch=0):
    sent_at, committed_at = {}, {}
    stop = asyncio.Event()
    start_height = cluster.height(0)
    watcher = asyncio.create_task(watch_commits(cluster.url(0), committed_at, stop, start_height))
    t0 = time.perf_counter()
    rejected = await submit_all([cluster.url(i) for i in range(cluster.n)], txs, rate, sent_at, batch=batch)
    t_sent = time.perf_counter()
    deadline = t_sent + 30
    while len(committed_at) < len(txs) - rejected and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await watcher
    t_end = max(committed_at.values()) if committed_at else time.perf_counter()
    lat = sorted(committed_at[h] - sent_at[h] for h in committed_at if h in sent_at)
    return {"offered": len(txs), "rejected": rejected, "committed": len(committed_at),
            "send_s": t_sent - t0, "tps": len(committed_at) / (t_end - t0),
            "p50": statistics.median(lat) if lat else float("nan"),
            "p99": lat[int(0.99 * (len(lat) - 1))] if lat else float("nan")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--validators", type=int, default=4)
    ap.add_argument("--load-txs", type=int, default=30000)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--batch", type=int, default=200, help="txs per /broadcast_tx_batch in the saturation phase")
    ap.add_argument("--rate-seconds", type=float, default=15.0)
    ap.add_argument("--profile", metavar="DIR", help="run node0 under cProfile, write DIR/node0.prof")
    args = ap.parse_args()
    if args.profile:
        import provchain.devnet.cluster as cl
        out = os.path.abspath(os.path.join(args.profile, "node0.prof"))
        os.makedirs(args.profile, exist_ok=True)
        plain = cl.node_command
        cl.node_command = lambda home: ([sys.executable, "-m", "cProfile", "-o", out, "-m", "provchain", "node",
                                         "--home", str(home)] if str(home).endswith("node0") else plain(home))
    per_core, ceiling = ed25519_ceiling(args.validators)
    print(f"ed25519 verify: {per_core:,.0f}/s per core, {os.cpu_count()} cores -> ceiling "
          f"{ceiling:,.0f} tx/s for {args.validators} validators")
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(tmp, n=args.validators, app="note")
        cluster.start_all()
        try:
            cluster.wait_height(0, 2)
            txs = make_txs(args.load_txs + int(args.rate * args.rate_seconds))
            per_tx = asyncio.run(phase(cluster, txs[:args.load_txs // 3], None))
            print(f"one tx per request: offered {per_tx['offered']} in {per_tx['send_s']:.1f}s, committed "
                  f"{per_tx['committed']}: {per_tx['tps']:,.0f} committed tx/s (client-bound when committed "
                  f"~ offered rate {per_tx['offered'] / per_tx['send_s']:,.0f}/s)")
            sat = asyncio.run(phase(cluster, txs[args.load_txs // 3:args.load_txs], None, batch=args.batch))
            print(f"saturation (batches of {args.batch}): offered {sat['offered']} in {sat['send_s']:.1f}s, committed {sat['committed']} "
                  f"({sat['rejected']} rejected): {sat['tps']:,.0f} committed tx/s = "
                  f"{sat['tps'] / ceiling:.0%} of the ceiling; latency p50 {sat['p50']:.2f}s p99 {sat['p99']:.2f}s")
            steady = asyncio.run(phase(cluster, txs[args.load_txs:], args.rate))
            print(f"steady {args.rate:.0f} tx/s: committed {steady['committed']}/{steady['offered']}, "
                  f"commit latency p50 {steady['p50']:.3f}s p99 {steady['p99']:.3f}s")
        finally:
            cluster.stop_all()


if __name__ == "__main__":
    main()
