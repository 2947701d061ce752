"""A 4-validator devnet of real OS processes on 127.0.0.1, with faults."""

import base64
import signal
import socket
import time

import pytest

from provchain.chain import crypto, light
from provchain.chain import jsonfmt as jf
from provchain.chain.tx import SignedTx
from provchain.devnet.testnet import ports

pytestmark = pytest.mark.slow

CHAIN = "provchain-devnet"


def note(key, nonce, body=b"hello"):
    return SignedTx.create(key, CHAIN, "note", nonce, body).encode()


def assert_same_chain(cluster, nodes, upto):
    forks = cluster.fork_heights(nodes, upto)
    assert not forks, f"fork at heights {forks}"


def test_four_validators_commit_the_same_blocks(cluster):
    for i in range(4):
        cluster.wait_height(i, 5)
    assert_same_chain(cluster, range(4), 5)
    _, commit = cluster.rpc(0, "/commit?height=3")
    sigs = commit["result"]["signed_header"]["commit"]["signatures"]
    assert len(sigs) == 4  # one entry per validator, as CometBFT
    assert sum(s["block_id_flag"] == 2 for s in sigs) >= 3  # > 2/3 of 4 equal-power validators signed


def test_tx_committed_with_a_proof_that_checks_against_the_commit(cluster):
    key = crypto.PrivateKey.generate()
    tx = note(key, 0)
    status, body = cluster.rpc(1, "/broadcast_tx?wait=commit", tx, content_type="application/octet-stream")
    assert status == 200, body
    assert body["result"]["code"] == 0
    height = int(body["result"]["height"])
    tx_hash = body["result"]["hash"]
    cluster.wait_height(2, height)  # committed through node1; the others may be a few ms behind
    cluster.wait_height(3, height)
    _, txr = cluster.rpc(2, f"/tx?hash={tx_hash}&prove=true")
    _, cm = cluster.rpc(3, f"/commit?height={height}")
    _, gen = cluster.rpc(0, "/genesis")
    genesis = jf.genesis_from_json(gen["result"]["genesis"])
    header = jf.header_from_json(cm["result"]["signed_header"]["header"])
    commit = jf.commit_from_json(cm["result"]["signed_header"]["commit"])
    proof = jf.proof_from_json(txr["result"]["proof"])
    checks = light.check_tx_inclusion(base64.b64decode(txr["result"]["tx"]), proof, header, commit, CHAIN,
                                      genesis.validators)
    assert all(c.ok for c in checks), checks
    # the same proof must fail for another tx or a tampered commit
    other = light.check_tx_inclusion(note(key, 1), proof, header, commit, CHAIN, genesis.validators)
    assert not other[0].ok
    forged = commit.__class__(commit.height, commit.round, commit.block_hash, commit.signatures[:2])
    assert not light.check_tx_inclusion(base64.b64decode(txr["result"]["tx"]), proof, header, forged, CHAIN,
                                        genesis.validators)[-1].ok


def test_bad_input_gets_clear_errors_and_nothing_breaks(cluster):
    key = crypto.PrivateKey.generate()
    cases = [
        (b"\xc1garbage", "malformed"),
        (SignedTx.create(key, "another-chain", "note", 0, b"x").encode(), "bad signature"),
        (SignedTx.create(key, CHAIN, "note", 5, b"x").encode(), "nonce"),
        (note(key, 0, b"x" * 300_000), "exceeds"),
    ]
    for tx, words in cases:
        status, body = cluster.rpc(0, "/broadcast_tx", tx, content_type="application/octet-stream")
        assert status == 400 and words in body["error"]["message"], body
    status, body = cluster.rpc(0, "/broadcast_tx?wait=commit", note(key, 0), content_type="application/octet-stream")
    assert status == 200 and body["result"]["code"] == 0
    status, body = cluster.rpc(0, "/broadcast_tx", note(key, 0), content_type="application/octet-stream")
    assert status == 200 and body["result"]["height"]  # a replay is answered with where it already is
    for path, code in [("/block?height=abc", 400), ("/block?height=999999", 404), ("/tx?hash=zz", 400),
                       ("/tx?hash=" + "00" * 32, 404), ("/nope", 404), ("/block_by_hash?hash=" + "AB" * 32, 404)]:
        status, body = cluster.rpc(0, path)
        assert status == code and body["error"]["message"], (path, body)
        assert "Traceback" not in str(body)
    status, body = cluster.rpc(0, "/broadcast_tx", b'{"tx": 5}', content_type="application/json")
    assert status == 400
    from provchain.chain.encoding import encode
    for bad in (b"\xc1", encode([1, 2]), encode([b""])):
        status, body = cluster.rpc(0, "/broadcast_tx_batch", bad, content_type="application/x-msgpack")
        assert status == 400 and "msgpack array" in body["error"]["message"], body
    status, body = cluster.rpc(0, "/broadcast_tx_batch", encode([note(key, 1), b"junk"]),
                               content_type="application/x-msgpack")
    assert status == 200 and [r["code"] for r in body["result"]["results"]][0] == 0
    assert body["result"]["results"][1]["code"] != 0 and body["result"]["results"][1]["log"]
    # garbage on the p2p port: raw bytes, then a websocket speaking nonsense
    p2p_port = ports(0, cluster.base_port)[0]
    with socket.create_connection(("127.0.0.1", p2p_port)) as s:
        s.sendall(b"\x00\xff" * 1000 + b"\r\n\r\n")
    h = cluster.height(0)
    for i in range(4):
        cluster.wait_height(i, h + 2)
    assert "Traceback" not in cluster.log(0)


def test_killed_validator_rejoins_and_catches_up(cluster):
    cluster.wait_height(0, 3)
    cluster.signal(3, signal.SIGKILL)
    h = cluster.height(0)
    for i in range(3):
        cluster.wait_height(i, h + 5)  # 3 of 4 still have > 2/3 of the power
    cluster.start(3)
    tip = cluster.height(0)
    cluster.wait_height(3, tip, timeout=40)
    assert_same_chain(cluster, range(4), tip)


def test_two_paused_validators_halt_commits_without_fork_then_resume(cluster):
    cluster.wait_height(0, 3)
    cluster.signal(2, signal.SIGSTOP)
    cluster.signal(3, signal.SIGSTOP)
    time.sleep(2)  # let anything in flight finish
    h0 = cluster.height(0)
    time.sleep(4)
    assert cluster.height(0) == h0 and cluster.height(1) == h0, "committed without > 2/3 of the power"
    cluster.signal(2, signal.SIGCONT)
    cluster.signal(3, signal.SIGCONT)
    for i in range(4):
        cluster.wait_height(i, h0 + 3, timeout=60)
    assert_same_chain(cluster, range(4), h0 + 3)


def test_wiped_node_block_syncs_to_the_tip(cluster):
    cluster.wait_height(0, 8)
    cluster.signal(1, signal.SIGTERM)
    cluster.wipe(1)
    cluster.start(1)
    tip = cluster.height(0)
    cluster.wait_height(1, tip, timeout=60)
    assert_same_chain(cluster, range(4), tip)


def test_validator_killed_again_and_again_never_double_signs(cluster):
    """SIGKILL at arbitrary points (mid-round, mid-write): on restart the WAL and the double-sign guard
    must keep it from signing anything conflicting; the others would turn that into evidence on chain."""
    import random
    rng = random.Random(7)
    cluster.wait_height(0, 2)
    for _ in range(5):
        time.sleep(rng.uniform(0.3, 1.5))
        cluster.signal(0, signal.SIGKILL)
        cluster.start(0)
    tip = cluster.height(1)
    cluster.wait_height(0, tip + 2, timeout=60)
    top = cluster.height(0)
    assert_same_chain(cluster, range(4), top)
    for h in range(1, top + 1):
        _, b = cluster.rpc(1, f"/block?height={h}")
        assert b["result"]["block"]["evidence"]["evidence"] == [], f"double signing found at height {h}"
    assert "double signing" not in "".join(cluster.log(i) for i in range(1, 4))
