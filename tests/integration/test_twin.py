"""A validator's key run twice (the operator error behind most real double signing: a fail-over machine
started while the first one still runs), as real OS processes on 127.0.0.1: validator 3 and a "twin"
node with a copy of its key but its own node key, WAL and double-sign guard state.

Two of the four honest-key holders are paused again and again (SIGSTOP): the chain halts, rounds go by
on timeouts, and the two copies of key 3 sign different things in the same round. The honest nodes must
agree on every block, go on committing once the pause ends, turn the conflicting votes into duplicate-vote
evidence that a block commits, and log no ERROR or traceback; the explorer names key 3 and the heights."""

from __future__ import annotations

import random
import shutil
import signal
import time

import pytest

from provchain.chain import crypto
from provchain.devnet.cluster import Cluster
from tests.integration.test_explorer_api import fetch, getj, start_explorer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SEED = 1
HONEST = (0, 1, 2)


def committed_evidence(cluster: Cluster, node: int, upto: int, start: int = 1) -> list[tuple[int, dict]]:
    out = []
    for h in range(start, upto + 1):
        _, b = cluster.rpc(node, f"/block?height={h}")
        out += [(h, e["value"]) for e in b["result"]["block"]["evidence"]["evidence"]]
    return out


def test_a_validator_key_run_twice_is_caught_as_evidence_and_the_chain_does_not_fork(tmp_path):
    rng = random.Random(SEED)
    cluster = Cluster(tmp_path / "net", n=5, genesis_validators=4)
    twin = cluster.homes[4]
    shutil.copy(cluster.homes[3] / "config" / "priv_validator_key.pem", twin / "config" / "priv_validator_key.pem")
    cfg = twin / "config" / "config.toml"
    cfg.write_text(cfg.read_text().replace("validator = false", "validator = true"))
    key3 = crypto.PrivateKey.load(cluster.homes[3] / "config" / "priv_validator_key.pem")
    v3 = key3.address.hex().upper()
    cluster.start_all()
    try:
        cluster.wait_height(0, 2)
        evidence: list = []
        for _ in range(8):  # bounded: stops at the first committed evidence
            for i in (0, 1):
                cluster.signal(i, signal.SIGSTOP)
            time.sleep(rng.uniform(2, 4))
            for i in (0, 1):
                cluster.signal(i, signal.SIGCONT)
            time.sleep(rng.uniform(1, 2))
            evidence = committed_evidence(cluster, 2, cluster.height(2))
            if evidence:
                break
        assert evidence, f"no evidence after 8 pauses (seed {SEED})"
        tip = max(cluster.height(i) for i in HONEST)
        for i in HONEST:  # the chain goes on after the pauses
            cluster.wait_height(i, tip + 2, timeout=60)
        top = min(cluster.height(i) for i in HONEST)
        forks = cluster.fork_heights(HONEST, top)
        assert not forks, f"fork at heights {forks} (seed {SEED})"
        for h, ev in evidence:
            a, b = ev["vote_a"], ev["vote_b"]
            assert a["validator_address"] == b["validator_address"] == v3, ev  # only key 3 double-signed
            assert (a["height"], a["round"], a["type"]) == (b["height"], b["round"], b["type"]), ev
            assert a["block_id"]["hash"] != b["block_id"]["hash"], ev
            assert int(a["height"]) < h, ev
        assert committed_evidence(cluster, 0, evidence[-1][0]) == evidence  # every node holds the same

        # the explorer, a separate process, shows who double-signed and where
        explorer, base = start_explorer(cluster.url(2), tmp_path / "explorer.log")
        try:
            st, v = getj(f"{base}/api/validators?window={top + 60}")  # a window back to height 1
            assert st == 200 and v["window"]["from"] == 1, v
            shown = committed_evidence(cluster, 2, v["window"]["to"], v["window"]["from"])  # more may have come
            double = {x["address"]: x["double_sign_evidence_heights"] for x in v["validators"]}
            assert sorted(double[v3]) == sorted(int(ev["vote_a"]["height"]) for _, ev in shown), double
            assert all(not hs for a, hs in double.items() if a != v3), double
            assert sorted(e["included_at"] for e in v["evidence"]) == sorted(h for h, _ in shown)
            assert {h for h, _ in evidence} <= {e["included_at"] for e in v["evidence"]}
            st, _, page = fetch(f"{base}/validators")
            assert st == 200 and b"double-signed at" in page
        finally:
            explorer.terminate()
            explorer.wait(15)
    finally:
        cluster.stop_all()
    for i in HONEST:
        assert not cluster.error_lines(i), (i, cluster.error_lines(i)[:5])
        assert f"double signing by validator {v3.lower()}" in cluster.log(i)
