"""Several hosts, really: every node in its own network namespace with its own address on a bridge the
test made (tests/netns.py), so no link can take the loopback shortcut. 4 validators; 2 full nodes that
join later through a seed (peer exchange finds the rest) and catch up; a peer whose key does not match
the id it is dialled under is refused; a partition halts the minority and heals without a fork."""

from __future__ import annotations

import time

import pytest

from provchain.chain import crypto
from provchain.chain.tx import SignedTx
from tests import netns
from tests.netns import P2P_PORT, ChainLab, Lab

pytestmark = [pytest.mark.slow, pytest.mark.netns, pytest.mark.timeout(300)]

VALIDATORS = [f"v{i}" for i in range(4)]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    reason = netns.available()
    if reason:
        pytest.skip(reason)
    lab = Lab("n")
    try:
        c = ChainLab(lab, tmp_path_factory.mktemp("netns"), validators=4)
        for v in VALIDATORS:
            c.start(v)
        yield c
    finally:
        lab.close()


def same_chain(chain, names, upto):
    for h in range(1, upto + 1):
        hashes = {n: chain.block_hash(n, h) for n in names}
        assert len(set(hashes.values())) == 1, f"fork at height {h}: {hashes}"


def test_validators_on_four_hosts_commit_over_authenticated_links(chain):
    for v in VALIDATORS:
        chain.wait_height(v, 3)
    same_chain(chain, VALIDATORS, 3)
    _, info = chain.rpc("v0", "/net_info")
    peers = {p["node_info"]["id"]: p["remote_ip"] for p in info["result"]["peers"]}
    assert peers == {chain.ids[v]: chain.hosts[v].ip for v in VALIDATORS[1:]}  # each one once, by its key


def test_full_nodes_join_through_a_seed_catch_up_and_refuse_an_impostor(chain):
    key = crypto.PrivateKey.generate()
    hashes = []
    for i in range(5):  # records the full nodes must replay
        tx = SignedTx.create(key, chain.chain_id, "note", i, b"netns %d" % i).encode()
        status, body = chain.rpc("v2", "/broadcast_tx?wait=commit", tx, timeout=30)
        assert status == 200 and body["result"]["code"] == 0, body
        hashes.append(body["result"]["hash"])
    # mallory runs a node of its own; f1 was told (wrongly) that v1 lives at mallory's address
    chain.init_full_node("mallory", seeds=[chain.address("v0")])
    chain.start("mallory")
    impostor = f"{chain.ids['v1']}@{chain.hosts['mallory'].ip}:{P2P_PORT}"
    chain.init_full_node("f1", seeds=[chain.address("v0")], peers=[impostor])
    chain.init_full_node("f2", seeds=[chain.address("v0")])
    chain.start("f1")
    chain.start("f2")
    target = chain.height("v0") + 2
    for f in ("f1", "f2"):
        chain.wait_height(f, target, timeout=90)
    same_chain(chain, ["v0", "v3", "f1", "f2"], target)
    for f in ("f1", "f2"):
        for h in hashes:
            status, body = chain.rpc(f, f"/tx?hash={h}")
            assert status == 200 and body["result"]["tx_result"]["code"] == 0, body
        # peer exchange: a full node knows more than its seed
        _, info = chain.rpc(f, "/net_info")
        ids = {p["node_info"]["id"] for p in info["result"]["peers"]}
        assert len(ids & {chain.ids[v] for v in VALIDATORS}) >= 2, ids
    assert (f"its key is node {chain.ids['mallory']}, not {chain.ids['v1']}") in chain.log("f1")
    _, info = chain.rpc("f1", "/net_info")
    assert all(p["remote_ip"] != chain.hosts["mallory"].ip or p["node_info"]["id"] == chain.ids["mallory"]
               for p in info["result"]["peers"])
    status, body = chain.rpc("f1", "/status")
    assert body["result"]["validator_info"]["voting_power"] == "0"  # a full node, not a validator


def test_partition_halts_the_minority_and_heals_without_a_fork(chain):
    cut = chain.hosts["v3"]
    chain.lab.link_down(cut)
    try:
        time.sleep(2.0)  # let the block in flight finish
        stuck = chain.height("v3")
        start = chain.height("v0")
        chain.wait_height("v0", start + 3, timeout=60)  # 3 of 4 validators still have > 2/3 of the power
        assert chain.height("v3") <= stuck + 1  # alone, v3 cannot commit
    finally:
        chain.lab.link_up(cut)
    healed = chain.height("v0") + 2
    for n in [*VALIDATORS, "f1", "f2"]:
        chain.wait_height(n, healed, timeout=60)
    same_chain(chain, [*VALIDATORS, "f1", "f2"], healed)
