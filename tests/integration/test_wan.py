"""Four validator processes whose every p2p link runs through a userspace relay that acts like a slow,
lossy wide-area network (provchain/devnet/wan.py: 30-120 ms one way, 2% of chunks held a retransmission
timeout longer) and that cuts a random link every 3 s. Under that, with txs sent to every node, the chain
must keep committing (the links re-dial), commit every tx it acknowledged, not fork, and log no ERROR."""

from __future__ import annotations

import random
import time

import pytest

from provchain.chain import crypto
from provchain.chain.tx import SignedTx
from provchain.devnet.cluster import Cluster
from provchain.devnet.wan import WanProxies, route_cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SEED = 1
CHAIN = "provchain-devnet"
SECONDS = 30


def test_four_validators_over_a_slow_lossy_network_that_drops_links(tmp_path):
    rng = random.Random(SEED)
    cluster = Cluster(tmp_path / "net", n=4, app="note")
    net = WanProxies(SEED)
    try:
        route_cluster(cluster, net)
        cluster.start_all()
        cluster.wait_height(0, 2, timeout=60)
        start, t0 = cluster.height(0), time.monotonic()
        acked: list[str] = []
        i = 0
        while time.monotonic() - t0 < SECONDS:
            if i % 3 == 2:
                net.cut()
            tx = SignedTx.create(crypto.PrivateKey.from_seed((b"wan-%d" % i).ljust(32, b".")), CHAIN, "note", 0, b"over the wan %d" % i)
            st, body = cluster.rpc(i % 4, "/broadcast_tx?wait=commit&timeout=30", tx.encode(),
                                   content_type="application/octet-stream", timeout=40)
            res = body.get("result") or {} if isinstance(body, dict) else {}
            if st == 200 and res.get("code") == 0 and "height" in res:
                acked.append(res["hash"])
            i += 1
            time.sleep(rng.uniform(0.5, 1.0))
        elapsed, top = time.monotonic() - t0, cluster.height(0)
        print(f"WAN: {top - start} blocks in {elapsed:.0f} s, {len(acked)}/{i} txs acknowledged, "
              f"{net.accepted} links made, {net.cuts} cut")
        assert top - start >= 10, f"{top - start} blocks in {elapsed:.0f} s (seed {SEED})"
        assert len(acked) >= i - 2, f"{len(acked)} of {i} txs acknowledged (seed {SEED})"
        assert net.cuts >= 5 and net.accepted > 12  # links were cut and dialled again
        for j in range(4):
            cluster.wait_height(j, top, timeout=60)
        forks = cluster.fork_heights(range(4), top)
        assert not forks, f"fork at heights {forks} (seed {SEED})"
        for tx in acked:
            for j in range(4):
                st, body = cluster.rpc(j, f"/tx?hash={tx}")
                assert st == 200 and "result" in body, (j, tx, body)
    finally:
        cluster.stop_all()
        net.close()
    for j in range(4):
        assert not cluster.error_lines(j), (j, cluster.error_lines(j)[:5])
